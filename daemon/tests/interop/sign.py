#!/usr/bin/env python3
"""Interop check against the official Standard Webhooks library (PyPI:
standardwebhooks). Used by recalld's Rust tests (src/api/tests/interop.rs).

  sign.py sign SECRET MSG_ID TIMESTAMP < body     prints the webhook-signature value
  sign.py verify SECRET MSG_ID TIMESTAMP SIGNATURE < body
                                                  exits 0 when the library accepts it

The body is read from stdin as bytes and must be UTF-8 (the library signs text).
"""
import sys
from datetime import datetime, timezone

from standardwebhooks.webhooks import Webhook, WebhookVerificationError


def main(argv):
    if len(argv) < 5 or argv[1] not in ("sign", "verify"):
        print(__doc__, file=sys.stderr)
        return 2
    mode, secret, msg_id, timestamp = argv[1:5]
    body = sys.stdin.buffer.read().decode("utf-8")
    hook = Webhook(secret)
    if mode == "sign":
        when = datetime.fromtimestamp(int(timestamp), tz=timezone.utc)
        print(hook.sign(msg_id, when, body))
        return 0
    headers = {"webhook-id": msg_id, "webhook-timestamp": timestamp, "webhook-signature": argv[5]}
    try:
        hook.verify(body, headers, json_parse=False)
    except WebhookVerificationError as e:
        print(f"rejected: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
