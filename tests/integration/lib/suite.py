"""Shared by the Python suite scripts (tests/integration/suites/*): the result lines run.sh
counts, S3 clients for the RGW and for a proxy, and the proxy's audit log.

A suite prints `PASS name`, `FAIL name: reason` or `SKIP name: reason`, one line per check
(see tests/integration/README.md, "Suites"). Run with Debian's /usr/bin/python3 (boto3 1.26).
"""
import json
import os
import sys
import time
import traceback

import boto3
import botocore.config
import botocore.exceptions

ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"
# The audit log is written through an asynchronous queue: a line may appear a little after
# the response. These bound the wait; a line normally appears within milliseconds.
AUDIT_WAIT_S = 5.0
# After the first matching line, how long to keep watching for a second one that must not come.
AUDIT_SETTLE_S = 0.3
AUDIT_POLL_S = 0.05


class Failed(Exception):
    """A check's expectation did not hold; the message is the FAIL reason."""


def expect(condition, reason):
    if not condition:
        raise Failed(reason)


class Results:
    def __init__(self):
        self.failed = 0

    def check(self, name, fn, *args):
        """Runs fn(*args) as one check: PASS unless it raises. Returns fn's result or None."""
        try:
            result = fn(*args)
        except Failed as err:
            self.fail(name, str(err))
            return None
        except Exception as err:  # a crash in a check is that check's failure, not the suite's
            where = traceback.extract_tb(err.__traceback__)[-1]
            self.fail(name, f"{type(err).__name__}: {err} (line {where.lineno})")
            return None
        print(f"PASS {name}", flush=True)
        return result

    def fail(self, name, reason):
        self.failed += 1
        print(f"FAIL {name}: {' '.join(str(reason).split())}", flush=True)

    def skip(self, name, reason):
        print(f"SKIP {name}: {reason}", flush=True)

    @staticmethod
    def note(text):
        print(f"# {text}", flush=True)


def s3_client(endpoint, key_id, secret):
    return boto3.client(
        "s3", endpoint_url=endpoint, region_name="us-east-1",
        aws_access_key_id=key_id, aws_secret_access_key=secret,
        config=botocore.config.Config(signature_version="s3v4", s3={"addressing_style": "path"},
                                      retries={"total_max_attempts": 1},
                                      connect_timeout=5, read_timeout=30))


def rgw():
    """The RGW itself with the tester's key: the judge of what really landed."""
    return s3_client(os.environ["RGW_ENDPOINT"], os.environ["RGW_ACCESS_KEY"], os.environ["RGW_SECRET_KEY"])


def error_of(err):
    """(HTTP status, S3 code) of a botocore ClientError."""
    return err.response["ResponseMetadata"]["HTTPStatusCode"], err.response["Error"].get("Code")


def call(fn, **kwargs):
    """(status, code, response): status 200/code None on success, else the S3 error."""
    try:
        resp = fn(**kwargs)
        return resp["ResponseMetadata"]["HTTPStatusCode"], None, resp
    except botocore.exceptions.ClientError as err:
        status, code = error_of(err)
        return status, code, err.response


def object_exists(s3, bucket, key):
    try:
        s3.head_object(Bucket=bucket, Key=key)
        return True
    except botocore.exceptions.ClientError as err:
        if error_of(err)[0] == 404:
            return False
        raise


def expect_absent(bucket, key):
    expect(not object_exists(rgw(), bucket, key), f"{bucket}/{key} exists on the RGW")


def object_bytes(s3, bucket, key):
    return s3.get_object(Bucket=bucket, Key=key)["Body"].read()


def expect_bytes(bucket, key, want):
    try:
        got = object_bytes(rgw(), bucket, key)
    except botocore.exceptions.ClientError as err:
        raise Failed(f"{bucket}/{key} not on the RGW: {error_of(err)}") from None
    expect(got == want, f"{bucket}/{key} on the RGW is {len(got)} bytes, not the {len(want)} sent")


def is_public(s3, bucket, key):
    grants = s3.get_object_acl(Bucket=bucket, Key=key)["Grants"]
    return any(g["Grantee"].get("URI") == ALL_USERS and g["Permission"] in ("READ", "FULL_CONTROL")
               for g in grants)


def expect_acl(bucket, key, public):
    got = is_public(rgw(), bucket, key)
    expect(got == public, f"{bucket}/{key} is {'public-read' if got else 'private'} on the RGW, "
                          f"expected {'public-read' if public else 'private'}")


class AuditLog:
    def __init__(self, path):
        self.path = path

    def text(self):
        try:
            with open(self.path, encoding="utf-8") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def records(self):
        out = []
        for line in self.text().splitlines():
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            if isinstance(rec, dict):
                out.append(rec)
        return out

    def for_key(self, bucket, key, wait=True):
        """The request lines about bucket/key; waits (bounded) for the first, then a moment
        longer so that a second line, which must not exist, would be seen."""
        match = lambda r: r.get("bucket") == bucket and r.get("key") == key  # noqa: E731
        deadline = time.monotonic() + (AUDIT_WAIT_S if wait else 0)
        while True:
            found = [r for r in self.records() if match(r)]
            if found or time.monotonic() >= deadline:
                break
            time.sleep(AUDIT_POLL_S)
        if found and wait:
            time.sleep(AUDIT_SETTLE_S)
            found = [r for r in self.records() if match(r)]
        return found

    def one_line(self, bucket, key):
        """The single audit line for the single request made on bucket/key."""
        lines = self.for_key(bucket, key)
        expect(len(lines) == 1, f"{len(lines)} audit lines for {bucket}/{key} (events "
                                f"{[r.get('event') for r in lines]}), expected exactly one")
        return lines[0]


def expect_fields(rec, **want):
    """Each keyword names a field (acl_action and acl_header_<name> reach into acl)."""
    for field, value in want.items():
        if field == "acl_action":
            got = (rec.get("acl") or {}).get("action")
        elif field.startswith("acl_header_"):
            name = field[len("acl_header_"):].replace("_", "-")
            got = ((rec.get("acl") or {}).get("headers") or {}).get(name)
        else:
            got = rec.get(field)
        expect(got == value, f"audit line has {field}={got!r}, expected {value!r} "
                             f"(event={rec.get('event')}, status={rec.get('status')})")


def main_guard(fn):
    """Runs a suite's main; a crash outside any check is one FAIL line, and the exit is 0."""
    try:
        fn()
    except Exception as err:  # noqa: BLE001
        print(f"FAIL {os.path.basename(sys.argv[0])}: crashed: {type(err).__name__}: {err}", flush=True)
        traceback.print_exc()
    sys.exit(0)
