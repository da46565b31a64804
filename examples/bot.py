"""How a chat-ops bot calls recalld with the official `standardwebhooks` package.

    pip install standardwebhooks requests
    RECALLD_SECRET=whsec_... python3 bot.py http://127.0.0.1:8787 incident-42
"""
import json
import os
import sys
import time
import uuid
from datetime import datetime, timezone

import requests
from standardwebhooks.webhooks import Webhook


def signed(wh: Webhook, body: str) -> dict:
    msg_id = f"msg_{uuid.uuid4().hex}"
    now = datetime.now(tz=timezone.utc)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": wh.sign(msg_id, now, body),
        "content-type": "application/json",
    }


def main() -> int:
    server, tag = sys.argv[1], sys.argv[2]
    wh = Webhook(os.environ["RECALLD_SECRET"])
    body = json.dumps({"select": {"tags": [tag]}, "action": "recall", "reason": "requested from chat"})
    answer = requests.post(f"{server}/v1/recalls", data=body, headers=signed(wh, body), timeout=10)
    print(answer.status_code, answer.text)
    if answer.status_code != 202:
        return 1
    job = answer.json()["job_id"]
    deadline = time.time() + 300
    while time.time() < deadline:
        progress = requests.get(f"{server}/v1/jobs/{job}", headers=signed(wh, ""), timeout=10).json()
        print(f"{progress['state']}: {progress['recalled']} recalled, {progress['pending']} pending")
        if progress["state"] == "done":
            return 0 if progress["failed"] == 0 else 2
        time.sleep(1)
    return 1


if __name__ == "__main__":
    sys.exit(main())
