/*
 * recalld plugin ABI, version 1.1 -- the C view of plugin-api/src/abi.rs.
 *
 * A plugin exports one function, recalld_plugin_entry, returning a pointer to
 * a static recalld_plugin_table. The first four fields (magic, abi_major,
 * abi_minor, size) are frozen in every version; functions are only appended.
 *
 * Every call takes UTF-8 JSON input as (ptr, len), borrowed for the call, and
 * writes UTF-8 JSON output into *out, allocated by the plugin and released by
 * the host through the table's own free function. Payload shapes are the JSON
 * forms of the types in plugin-api/src/types/ (PrepareInput -> HttpRequest,
 * InterpretInput -> Outcome, TokenInput -> HttpRequest or null,
 * TokenParseInput -> TokenReply; errors are {"code": "...", "message": "..."}).
 * Read payloads leniently: a newer minor version may add optional fields.
 *
 * Versions: 1.0 the initial one. 1.1 adds the optional InterpretInput field
 * "attempt" (integer, which attempt at the operation the response answers,
 * counting from 1); a plugin must also work without it (1.0 hosts).
 *
 * A C plugin must never longjmp or abort across these functions.
 */
#ifndef RECALLD_PLUGIN_H
#define RECALLD_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* "RECALLD1" read as a little-endian 64-bit integer. */
#define RECALLD_ABI_MAGIC 0x31444C4C41434552ULL
#define RECALLD_ABI_MAJOR 1u
#define RECALLD_ABI_MINOR 1u
#define RECALLD_ENTRY_SYMBOL "recalld_plugin_entry"

#define RECALLD_STATUS_OK 0
#define RECALLD_STATUS_ERROR 1
#define RECALLD_STATUS_PANIC 2
#define RECALLD_STATUS_BAD_INPUT 3

typedef struct recalld_buffer {
    uint8_t *ptr;
    size_t len;
} recalld_buffer;

typedef int32_t (*recalld_describe_fn)(recalld_buffer *out);
typedef int32_t (*recalld_call_fn)(const uint8_t *input, size_t input_len, recalld_buffer *out);
typedef void (*recalld_free_fn)(uint8_t *ptr, size_t len);

typedef struct recalld_table_header {
    uint64_t magic;
    uint32_t abi_major;
    uint32_t abi_minor;
    size_t size; /* sizeof(recalld_plugin_table) as the plugin was compiled */
} recalld_table_header;

typedef struct recalld_plugin_table {
    recalld_table_header header;
    recalld_describe_fn describe;      /* -> Manifest */
    recalld_call_fn prepare;           /* PrepareInput -> HttpRequest */
    recalld_call_fn interpret;         /* InterpretInput -> Outcome */
    recalld_call_fn token_request;     /* TokenInput -> HttpRequest | null */
    recalld_call_fn token_parse;       /* TokenParseInput -> TokenReply */
    recalld_free_fn free;              /* releases a buffer returned above */
} recalld_plugin_table;

const recalld_plugin_table *recalld_plugin_entry(void);

#ifdef __cplusplus
}
#endif

#endif /* RECALLD_PLUGIN_H */
