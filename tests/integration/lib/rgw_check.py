#!/usr/bin/python3
"""Looks at objects directly on the RGW, with the RGW's own key, never through the proxy.

The client tests use it to prove that what they wrote really landed, byte for byte, with
the metadata and ACL the configuration under test should leave on it. Run it with Debian's
python3 (boto3 1.26) so the check never depends on the client being tested.

    rgw_check.py mkbucket BUCKET...
    rgw_check.py verify SPEC.json     (a JSON list; "-" reads it from stdin)

A spec entry: {"bucket": B, "key": K, then any of
    "file": PATH             object body equals this file's bytes
    "absent": true           the object does not exist
    "content_type": V, "cache_control": V
    "acl": "public-read" | "private"   whether AllUsers may read it
    "multipart": true        the object was written by a multipart upload}
Env: RGW_ENDPOINT, RGW_ACCESS_KEY, RGW_SECRET_KEY.
Prints one line per failed check and exits 1 if any failed.
"""
import hashlib
import json
import os
import sys

import boto3
import botocore.config
import botocore.exceptions

ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"
# Bodies are hashed in pieces so a large object never sits whole in memory.
READ_PIECE = 1 << 20


def client():
    return boto3.client(
        "s3",
        endpoint_url=os.environ["RGW_ENDPOINT"],
        aws_access_key_id=os.environ["RGW_ACCESS_KEY"],
        aws_secret_access_key=os.environ["RGW_SECRET_KEY"],
        region_name="us-east-1",
        config=botocore.config.Config(
            s3={"addressing_style": "path"},
            retries={"total_max_attempts": 1},
        ),
    )


def digest_stream(stream):
    h, n = hashlib.sha256(), 0
    for piece in iter(lambda: stream.read(READ_PIECE), b""):
        h.update(piece)
        n += len(piece)
    return n, h.hexdigest()


def digest_file(path):
    with open(path, "rb") as f:
        return digest_stream(f)


def status_of(err):
    return err.response.get("ResponseMetadata", {}).get("HTTPStatusCode")


def check_one(s3, spec):
    """Returns the list of problems with one object (empty when it is as expected)."""
    bucket, key = spec["bucket"], spec["key"]
    if spec.get("absent"):
        try:
            s3.head_object(Bucket=bucket, Key=key)
        except botocore.exceptions.ClientError as err:
            if status_of(err) == 404:
                return []
            return [f"HEAD answered {status_of(err)} (expected 404)"]
        return ["object exists but should have been deleted"]

    problems = []
    try:
        obj = s3.get_object(Bucket=bucket, Key=key)
    except botocore.exceptions.ClientError as err:
        return [f"GET on RGW failed: {status_of(err)} {err.response['Error'].get('Code')}"]
    got_len, got_sha = digest_stream(obj["Body"])
    if "file" in spec:
        want_len, want_sha = digest_file(spec["file"])
        if (got_len, got_sha) != (want_len, want_sha):
            problems.append(f"body differs: {got_len} bytes sha256 {got_sha[:16]}, "
                            f"expected {want_len} bytes sha256 {want_sha[:16]}")
    for field, header in (("content_type", "ContentType"), ("cache_control", "CacheControl")):
        if field in spec and obj.get(header) != spec[field]:
            problems.append(f"{header} is {obj.get(header)!r}, expected {spec[field]!r}")
    if spec.get("multipart") and "-" not in obj.get("ETag", ""):
        problems.append(f"ETag {obj.get('ETag')} is not a multipart ETag")
    if spec.get("acl") in ("public-read", "private"):
        grants = s3.get_object_acl(Bucket=bucket, Key=key)["Grants"]
        public = any(g["Grantee"].get("URI") == ALL_USERS and g["Permission"] in ("READ", "FULL_CONTROL")
                     for g in grants)
        if public != (spec["acl"] == "public-read"):
            problems.append(f"ACL is {'public-read' if public else 'private'}, expected {spec['acl']}")
    return problems


def verify(specs):
    s3 = client()
    failed = 0
    for spec in specs:
        for problem in check_one(s3, spec):
            print(f"rgw: {spec['bucket']}/{spec['key']}: {problem}")
            failed += 1
    if failed == 0:
        print(f"rgw: {len(specs)} objects as expected")
    return 1 if failed else 0


def mkbucket(names):
    s3 = client()
    for name in names:
        s3.create_bucket(Bucket=name)
    return 0


def main(argv):
    if len(argv) >= 3 and argv[1] == "mkbucket":
        return mkbucket(argv[2:])
    if len(argv) == 3 and argv[1] == "verify":
        text = sys.stdin.read() if argv[2] == "-" else open(argv[2], encoding="utf-8").read()
        return verify(json.loads(text))
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
