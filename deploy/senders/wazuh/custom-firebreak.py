#!/usr/bin/env python3
"""Wazuh integration that sends an alert to Firebreak, signed.

Wazuh's integratord calls it as
    custom-firebreak ALERT_FILE API_KEY HOOK_URL [debug]
with the alert as JSON in ALERT_FILE. Wazuh cannot sign webhooks itself, so
this script does: it POSTs the alert's JSON to HOOK_URL with
    X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the exact body bytes>
keyed by API_KEY, which is the secret itself or file:/path to read it from.
Firebreak checks it with `auth: { type: hmac, secret_env: WAZUH_SECRET }`.

Exit status: 0 when Firebreak accepted the alert (2xx), 1 otherwise; the
secret is never printed. Standard library only (Wazuh's Python has no extras).
"""
import hashlib
import hmac
import json
import sys
import urllib.error
import urllib.request

TIMEOUT_SECONDS = 10


def read_secret(api_key):
    """Returns the HMAC key: api_key, or the file it names with file:."""
    if api_key.startswith("file:"):
        with open(api_key[len("file:"):], "rb") as f:
            return f.read().strip()
    return api_key.encode()


def sign(secret, body):
    """Returns the X-Hub-Signature-256 value for body."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def main(argv):
    if len(argv) < 4:
        print("usage: custom-firebreak ALERT_FILE API_KEY HOOK_URL [debug]", file=sys.stderr)
        return 2
    alert_file, api_key, hook_url = argv[1], argv[2], argv[3]
    debug = len(argv) > 4 and argv[4] == "debug"
    if not hook_url.startswith(("http://", "https://")):
        print("custom-firebreak: hook_url must be http(s)", file=sys.stderr)
        return 2
    with open(alert_file, "rb") as f:
        alert = json.load(f)
    # Re-encode compactly: the signature covers exactly the bytes sent.
    body = json.dumps(alert, separators=(",", ":"), ensure_ascii=False).encode()
    req = urllib.request.Request(hook_url, data=body, method="POST", headers={
        "Content-Type": "application/json",
        "User-Agent": "wazuh-custom-firebreak/1",
        "X-Hub-Signature-256": sign(read_secret(api_key), body),
    })
    try:
        with urllib.request.urlopen(req, timeout=TIMEOUT_SECONDS) as resp:
            answer = resp.read(4096).decode(errors="replace")
            if debug:
                print("custom-firebreak: %d %s" % (resp.status, answer))
            return 0
    except urllib.error.HTTPError as e:
        answer = e.read(4096).decode(errors="replace")
        print("custom-firebreak: %s answered %d: %s" % (hook_url, e.code, answer), file=sys.stderr)
    except (urllib.error.URLError, OSError) as e:
        print("custom-firebreak: %s: %s" % (hook_url, e), file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
