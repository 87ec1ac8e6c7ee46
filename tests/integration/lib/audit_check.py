#!/usr/bin/python3
"""Checks the proxy's audit log after the client tests have gone through it.

    audit_check.py AUDIT.jsonl SECRET...

Every line must be one JSON object; every request line must carry the fields that
INTERFACE.md promises; no secret given on the command line may appear anywhere in the file;
and the log must show the clients' traffic: successful PutObject lines, including some
whose x-amz-acl was seen (and stripped or kept, per the ACL mode).
Env: IT_ACL_MODE (strip or audit) decides which ACL action the PutObject lines must show.
"""
import json
import os
import sys

REQUEST_FIELDS = ("ts", "level", "event", "op", "bucket", "key", "status", "upstream_status",
                  "s3_code", "s3_message", "acl", "access_key_id", "request_id",
                  "bytes_in", "bytes_out", "duration_ms")
REQUEST_EVENTS = ("request", "write_denied", "write_failed", "auth_failed")


def main(argv):
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    path, secrets = argv[1], [s for s in argv[2:] if s]
    try:
        text = open(path, encoding="utf-8").read()
    except OSError as err:
        print(f"not ok - cannot read the audit log: {err}")
        return 1
    problems = []
    for secret in secrets:
        if secret in text:
            problems.append("a secret key appears in the audit log")
    records = []
    for n, line in enumerate(text.splitlines(), 1):
        try:
            rec = json.loads(line)
        except ValueError:
            problems.append(f"line {n} is not JSON: {line[:80]!r}")
            continue
        if not isinstance(rec, dict):
            problems.append(f"line {n} is not a JSON object")
            continue
        records.append(rec)
    requests = [r for r in records if r.get("event") in REQUEST_EVENTS]
    for r in requests:
        missing = [f for f in REQUEST_FIELDS if f not in r]
        if missing:
            problems.append(f"{r.get('op')} line lacks {', '.join(missing)}")
            break
    puts = [r for r in requests if r.get("op") == "PutObject" and r.get("status") == 200]
    want_action = "kept" if os.environ.get("IT_ACL_MODE") == "audit" else "stripped"
    with_acl = [r for r in puts if isinstance(r.get("acl"), dict) and
                r["acl"].get("headers", {}).get("x-amz-acl") == "public-read"]
    if not puts:
        problems.append("no successful PutObject line")
    elif not with_acl:
        problems.append("no PutObject line records x-amz-acl: public-read")
    elif any(r["acl"].get("action") != want_action for r in with_acl):
        problems.append(f"a PutObject with x-amz-acl has acl.action other than {want_action!r}")
    print(f"audit log: {len(records)} lines, {len(requests)} request lines, {len(puts)} successful PutObject")
    for p in problems:
        print(f"not ok - {p}")
    if problems:
        return 1
    print("all steps passed")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
