/*
 * A minimal recalld vendor plugin in C, for the imaginary "Acme Push" API:
 *   recall = DELETE {base_url}/v1/messages/{remote_id}
 *            Authorization: Bearer {credentials.api_key}
 *
 * Build:  cc -shared -fPIC -O2 -I ../../plugin-api/include acme.c -o libacme_c.so
 * Check:  recalld plugins inspect ./libacme_c.so
 *         recalld plugins conformance ./libacme_c.so
 *
 * The JSON handling here is deliberately tiny (it looks up a few keys in the
 * compact JSON the host sends). A real plugin should use a JSON library.
 *
 * The -D options PLUGIN_ABI_MAJOR, PLUGIN_MAGIC and PLUGIN_TABLE_SIZE exist
 * only so recalld's tests can build deliberately incompatible copies.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "recalld_plugin.h"

#ifndef PLUGIN_ABI_MAJOR
#define PLUGIN_ABI_MAJOR RECALLD_ABI_MAJOR
#endif
#ifndef PLUGIN_MAGIC
#define PLUGIN_MAGIC RECALLD_ABI_MAGIC
#endif
#ifndef PLUGIN_TABLE_SIZE
#define PLUGIN_TABLE_SIZE sizeof(recalld_plugin_table)
#endif

#define DEFAULT_BASE "https://api.acme.invalid"

static const char MANIFEST[] =
    "{\"name\":\"acme-c\",\"version\":\"0.1.0\",\"vendor\":\"Acme Push (C example)\","
    "\"description\":\"minimal C plugin\",\"operations\":[\"recall\"],"
    "\"recall_window_secs\":86400,"
    "\"rate_limits\":[{\"scope\":\"*\",\"requests\":100,\"per_ms\":1000}],"
    "\"regions\":[{\"name\":\"global\",\"base_url\":\"" DEFAULT_BASE "\"}],"
    "\"credentials\":{\"type\":\"object\",\"required\":[\"api_key\"],"
    "\"properties\":{\"api_key\":{\"type\":\"string\",\"description\":\"Acme API key\",\"writeOnly\":true}}},"
    "\"uses_token\":false}";

/* Hands a heap copy of `text` to the host. */
static int32_t emit(recalld_buffer *out, const char *text, int32_t status) {
    size_t len = strlen(text);
    uint8_t *copy = malloc(len ? len : 1);
    if (copy == NULL) {
        out->ptr = NULL;
        out->len = 0;
        return RECALLD_STATUS_ERROR;
    }
    memcpy(copy, text, len);
    out->ptr = copy;
    out->len = len;
    return status;
}

/* Copies the JSON string value of "key" (first occurrence) into dst. */
static int find_string(const uint8_t *in, size_t len, const char *key, char *dst, size_t cap) {
    char pattern[64];
    snprintf(pattern, sizeof pattern, "\"%s\":\"", key);
    size_t plen = strlen(pattern);
    for (size_t i = 0; i + plen <= len; i++) {
        if (memcmp(in + i, pattern, plen) != 0) continue;
        size_t j = i + plen, n = 0;
        while (j < len && in[j] != '"' && n + 1 < cap) {
            if (in[j] == '\\' || in[j] < 0x20) return 0; /* keep the example simple: no escapes */
            dst[n++] = (char)in[j++];
        }
        if (j >= len || in[j] != '"') return 0;
        dst[n] = '\0';
        return 1;
    }
    return 0;
}

/* The integer value of "key" (first occurrence), or -1. */
static long find_int(const uint8_t *in, size_t len, const char *key) {
    char pattern[64];
    snprintf(pattern, sizeof pattern, "\"%s\":", key);
    size_t plen = strlen(pattern);
    for (size_t i = 0; i + plen < len; i++) {
        if (memcmp(in + i, pattern, plen) != 0) continue;
        long value = 0;
        size_t j = i + plen;
        if (j >= len || in[j] < '0' || in[j] > '9') return -1;
        while (j < len && in[j] >= '0' && in[j] <= '9') value = value * 10 + (in[j++] - '0');
        return value;
    }
    return -1;
}

static int32_t describe(recalld_buffer *out) { return emit(out, MANIFEST, RECALLD_STATUS_OK); }

static int32_t prepare(const uint8_t *in, size_t len, recalld_buffer *out) {
    char base[512], id[256], key[512], json[2048];
    if (!find_string(in, len, "base_url", base, sizeof base)) strcpy(base, DEFAULT_BASE);
    if (!find_string(in, len, "remote_id", id, sizeof id))
        return emit(out, "{\"code\":\"bad_input\",\"message\":\"no usable remote_id\"}", RECALLD_STATUS_BAD_INPUT);
    if (!find_string(in, len, "api_key", key, sizeof key))
        return emit(out, "{\"code\":\"missing_credential\",\"message\":\"missing credentials.api_key\"}",
                    RECALLD_STATUS_ERROR);
    size_t blen = strlen(base);
    if (blen > 0 && base[blen - 1] == '/') base[blen - 1] = '\0';
    snprintf(json, sizeof json,
             "{\"method\":\"DELETE\",\"url\":\"%s/v1/messages/%s\","
             "\"headers\":[{\"name\":\"Authorization\",\"value\":\"Bearer %s\"}],\"body\":null}",
             base, id, key);
    return emit(out, json, RECALLD_STATUS_OK);
}

static int32_t interpret(const uint8_t *in, size_t len, recalld_buffer *out) {
    long status = find_int(in, len, "status");
    if (status >= 200 && status < 300) return emit(out, "{\"outcome\":\"done\"}", RECALLD_STATUS_OK);
    if (status == 429 || status >= 500)
        return emit(out, "{\"outcome\":\"retry\",\"after_ms\":null,\"code\":\"http\",\"message\":\"try later\"}",
                    RECALLD_STATUS_OK);
    if (status == 404)
        return emit(out, "{\"outcome\":\"failed\",\"code\":\"404\",\"message\":\"not found\",\"permanent\":true}",
                    RECALLD_STATUS_OK);
    return emit(out, "{\"outcome\":\"failed\",\"code\":\"http\",\"message\":\"unexpected answer\",\"permanent\":true}",
                RECALLD_STATUS_OK);
}

static int32_t token_request(const uint8_t *in, size_t len, recalld_buffer *out) {
    (void)in;
    (void)len;
    return emit(out, "null", RECALLD_STATUS_OK);
}

static int32_t token_parse(const uint8_t *in, size_t len, recalld_buffer *out) {
    (void)in;
    (void)len;
    return emit(out, "{\"code\":\"token_unsupported\",\"message\":\"acme uses no tokens\"}", RECALLD_STATUS_ERROR);
}

static void release(uint8_t *ptr, size_t len) {
    (void)len;
    free(ptr);
}

static const recalld_plugin_table TABLE = {
    {PLUGIN_MAGIC, PLUGIN_ABI_MAJOR, RECALLD_ABI_MINOR, PLUGIN_TABLE_SIZE},
    describe, prepare, interpret, token_request, token_parse, release,
};

const recalld_plugin_table *recalld_plugin_entry(void) { return &TABLE; }
