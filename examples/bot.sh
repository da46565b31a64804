#!/usr/bin/env bash
# How a chat-ops bot calls recalld with curl and `recalld sign`.
#   RECALLD_SECRET=whsec_... ./bot.sh http://127.0.0.1:8787 incident-42
set -euo pipefail
server=${1:?usage: bot.sh SERVER TAG}
tag=${2:?usage: bot.sh SERVER TAG}
: "${RECALLD_SECRET:?set RECALLD_SECRET to the client's whsec_ secret}"
recalld=${RECALLD:-recalld}

body=$(printf '{"select":{"tags":["%s"]},"action":"recall","reason":"requested from chat"}' "$tag")
# recalld sign reads the body on stdin and prints one header per line.
mapfile -t headers < <(printf '%s' "$body" | "$recalld" sign)
args=()
for h in "${headers[@]}"; do args+=(-H "$h"); done
answer=$(curl -sS -X POST "$server/v1/recalls" "${args[@]}" -H 'content-type: application/json' --data-binary "$body")
echo "$answer"

job=$(printf '%s' "$answer" | python3 -c 'import json,sys; print(json.load(sys.stdin).get("job_id",""))')
[ -n "$job" ] || exit 1
# GET requests are signed too (the body is empty).
mapfile -t headers < <(printf '' | "$recalld" sign)
args=()
for h in "${headers[@]}"; do args+=(-H "$h"); done
curl -sS "$server/v1/jobs/$job" "${args[@]}"
echo
