#!/usr/bin/env python3
"""The boto3 side of the transport suite (suites/transport.sh): one subcommand per step.

Runs under whichever python3 starts it: Debian's /usr/bin/python3 (boto3 1.26) or a newer
one (boto3 1.43, which sends STREAMING-UNSIGNED-PAYLOAD-TRAILER over https). Every
subcommand prints one JSON object on its last line and exits 0 when the step did what it
should, 1 with {"error": reason} when it did not, 2 on a usage error.

    rgw-sha BUCKET KEY                      size and sha256 of an object read directly from
                                            the RGW (RGW_* env), streamed
    put-file EP BUCKET KEY FILE             put_object with the open file as body (one PUT)
    get-file EP BUCKET KEY OUT              get_object streamed into OUT; size and sha256
    vhost EP BUCKET PREFIX SMALL BIG        virtual-hosted-style client (EP's host is resolved
                                            to 127.0.0.1 inside this process): put with ACL,
                                            multipart upload_file, get, head, list, delete
    rgw-vhost BUCKET KEY                    the RGW itself answers virtual-hosted style
                                            (Host BUCKET.localhost) with the RGW's key
    put-expect-error EP BUCKET KEY FILE|-   a PUT that must fail with an HTTP error (file body:
                                            with Expect: 100-continue; "-": 100 bytes, without)
    get-cut EP BUCKET KEY LENGTH            a GET whose upstream is cut off: the client must not
                                            receive a complete 2xx response of LENGTH bytes
    audit-find FILE SKIP FIELD=VALUE...     waits for an audit line after the first SKIP lines
                                            whose fields all print as VALUE (null for None)
    audit-modes FILE SKIP                   the payload modes of successful PutObject and
                                            UploadPart lines after the first SKIP lines

Env: S3_ACCESS_KEY / S3_SECRET_KEY (the client's key for EP), S3_CA_BUNDLE (CA file for an
https EP), RGW_ENDPOINT / RGW_ACCESS_KEY / RGW_SECRET_KEY (the RGW, for rgw-*).
"""
import hashlib
import json
import os
import socket
import sys
import time
import urllib.parse

import boto3
import botocore.config
import botocore.exceptions
from boto3.s3.transfer import TransferConfig

MIB = 1024 * 1024
# Bodies are read and written in pieces so a large object never sits whole in memory.
PIECE = MIB
# Below the 12 MiB test file, so upload_file really splits it into parts.
MULTIPART_THRESHOLD = 5 * MIB
# The RGW answers every request here within a second; a 1 GiB body moves at well over
# 50 MiB/s. A longer silence than this is a stall, not slowness.
READ_TIMEOUT_S = 60
ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"
# Host names this process resolves to loopback itself, as `curl --resolve` would: the test
# clients address buckets as BUCKET.s3.local (the proxy's server.domains) and the RGW as
# BUCKET.localhost, names no resolver on a test machine knows.
LOOPBACK_SUFFIXES = (".s3.local", ".localhost")
LOOPBACK_NAMES = ("s3.local", "localhost")


class StepFailed(Exception):
    pass


def resolve_test_names_to_loopback():
    real = socket.getaddrinfo

    def getaddrinfo(host, *args, **kwargs):
        name = host.decode() if isinstance(host, bytes) else host
        if isinstance(name, str) and (name in LOOPBACK_NAMES or name.endswith(LOOPBACK_SUFFIXES)):
            host = "127.0.0.1"
        return real(host, *args, **kwargs)

    socket.getaddrinfo = getaddrinfo


def client(endpoint, key_id, secret, addressing="path"):
    return boto3.client(
        "s3", endpoint_url=endpoint, region_name="us-east-1",
        aws_access_key_id=key_id, aws_secret_access_key=secret,
        verify=os.environ.get("S3_CA_BUNDLE") or None,
        config=botocore.config.Config(signature_version="s3v4", s3={"addressing_style": addressing},
                                      retries={"total_max_attempts": 1},
                                      connect_timeout=10, read_timeout=READ_TIMEOUT_S))


def proxy_client(endpoint, addressing="path"):
    return client(endpoint, os.environ["S3_ACCESS_KEY"], os.environ["S3_SECRET_KEY"], addressing)


def rgw_client(addressing="path", endpoint=None):
    return client(endpoint or os.environ["RGW_ENDPOINT"], os.environ["RGW_ACCESS_KEY"],
                  os.environ["RGW_SECRET_KEY"], addressing)


def digest_stream(stream, sink=None):
    h, n = hashlib.sha256(), 0
    for piece in iter(lambda: stream.read(PIECE), b""):
        h.update(piece)
        n += len(piece)
        if sink is not None:
            sink.write(piece)
    return n, h.hexdigest()


def digest_file(path):
    with open(path, "rb") as f:
        return digest_stream(f)


def error_of(err):
    meta = err.response.get("ResponseMetadata", {})
    return meta.get("HTTPStatusCode"), err.response.get("Error", {}).get("Code")


def rgw_sha(bucket, key):
    obj = rgw_client().get_object(Bucket=bucket, Key=key)
    size, sha = digest_stream(obj["Body"])
    return {"size": size, "sha256": sha}


def put_file(endpoint, bucket, key, path):
    s3 = proxy_client(endpoint)
    start = time.monotonic()
    with open(path, "rb") as body:
        resp = s3.put_object(Bucket=bucket, Key=key, Body=body)
    return {"seconds": round(time.monotonic() - start, 2), "etag": resp.get("ETag"),
            "boto3": boto3.__version__}


def get_file(endpoint, bucket, key, out):
    s3 = proxy_client(endpoint)
    start = time.monotonic()
    obj = s3.get_object(Bucket=bucket, Key=key)
    with open(out, "wb") as sink:
        digest_stream(obj["Body"], sink)
    seconds = time.monotonic() - start
    # The file as written, not the bytes as counted on the way: what a user would get.
    size, sha = digest_file(out)
    return {"seconds": round(seconds, 2), "size": size, "sha256": sha}


def vhost(endpoint, bucket, prefix, small, big):
    """A virtual-hosted-style client: every request must go to Host BUCKET.<endpoint host>."""
    resolve_test_names_to_loopback()
    s3 = proxy_client(endpoint, addressing="virtual")
    hosts = set()
    s3.meta.events.register("before-send", lambda request, **_: hosts.add(
        urllib.parse.urlsplit(request.url).hostname))
    want_host = f"{bucket}.{urllib.parse.urlsplit(endpoint).hostname}"
    k_small, k_big = f"{prefix}small.png", f"{prefix}big.bin"
    with open(small, "rb") as f:
        small_bytes = f.read()
    s3.put_object(Bucket=bucket, Key=k_small, Body=small_bytes, ACL="public-read", ContentType="image/png",
                  CacheControl="public, max-age=315576000, immutable")
    s3.upload_file(big, bucket, k_big, ExtraArgs={"ACL": "public-read"},
                   Config=TransferConfig(multipart_threshold=MULTIPART_THRESHOLD,
                                         multipart_chunksize=MULTIPART_THRESHOLD))
    got = s3.get_object(Bucket=bucket, Key=k_small)["Body"].read()
    if got != small_bytes:
        raise StepFailed(f"get_object of {k_small} returned {len(got)} bytes that differ from what was put")
    head = s3.head_object(Bucket=bucket, Key=k_big)
    if head["ContentLength"] != os.path.getsize(big):
        raise StepFailed(f"head_object of {k_big}: ContentLength {head['ContentLength']}")
    listed = {o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])}
    if listed != {k_small, k_big}:
        raise StepFailed(f"list_objects_v2 shows {sorted(listed)}")
    # A third object, deleted again: DeleteObject virtual-hosted too.
    s3.put_object(Bucket=bucket, Key=f"{prefix}gone", Body=b"x")
    s3.delete_object(Bucket=bucket, Key=f"{prefix}gone")
    if hosts != {want_host}:
        raise StepFailed(f"the client sent requests to {sorted(hosts)}, not only {want_host}")
    return {"host": want_host, "keys": [k_small, k_big], "deleted": [f"{prefix}gone"]}


def rgw_vhost(bucket, key):
    """Puts and reads back an object on the RGW addressed as BUCKET.localhost."""
    resolve_test_names_to_loopback()
    port = urllib.parse.urlsplit(os.environ["RGW_ENDPOINT"]).port
    s3 = rgw_client("virtual", f"http://localhost:{port}")
    body = b"virtual-hosted on the RGW itself\n"
    s3.put_object(Bucket=bucket, Key=key, Body=body)
    got = rgw_client().get_object(Bucket=bucket, Key=key)["Body"].read()
    rgw_client().delete_object(Bucket=bucket, Key=key)
    if got != body:
        raise StepFailed("an object put as Host BUCKET.localhost reads back different path-style")
    return {"host": f"{bucket}.localhost:{port}"}


def put_expect_error(endpoint, bucket, key, path):
    s3 = proxy_client(endpoint)
    try:
        if path == "-":
            s3.put_object(Bucket=bucket, Key=key, Body=b"b" * 100)
        else:
            with open(path, "rb") as body:
                s3.put_object(Bucket=bucket, Key=key, Body=body)
    except botocore.exceptions.ClientError as err:
        status, code = error_of(err)
        return {"status": status, "code": code, "message": err.response.get("Error", {}).get("Message")}
    raise StepFailed("the PUT succeeded")


def get_cut(endpoint, bucket, key, length):
    """Returns how the client saw the cut: an HTTP error, or a broken body; fails on a whole 2xx."""
    s3 = proxy_client(endpoint)
    try:
        obj = s3.get_object(Bucket=bucket, Key=key)
    except botocore.exceptions.ClientError as err:
        status, code = error_of(err)
        if status is not None and 200 <= status < 300:
            raise StepFailed(f"ClientError with a {status} status")
        return {"outcome": "http_error", "status": status, "code": code}
    status = obj["ResponseMetadata"]["HTTPStatusCode"]
    received = 0
    try:
        for piece in iter(lambda: obj["Body"].read(PIECE), b""):
            received += len(piece)
    except Exception as err:  # urllib3/botocore raise several kinds for a cut body
        return {"outcome": "body_cut", "status": status, "received": received,
                "error": f"{type(err).__name__}: {err}"[:200]}
    raise StepFailed(f"the client received a complete {status} response of {received} bytes "
                     f"(expected a cut-off of a body announced as {length} bytes)")


# The audit log is written through an asynchronous queue: a line may appear a little after
# the response. This bounds the wait; a line normally appears within milliseconds.
AUDIT_WAIT_S = 5.0
AUDIT_POLL_S = 0.05
DATA_OPS = ("PutObject", "UploadPart")


def audit_records(path, skip):
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()[int(skip):]
    except FileNotFoundError:
        return []
    return [json.loads(line) for line in lines if line.strip()]


def printed(value):
    return "null" if value is None else str(value)


def audit_find(path, skip, *conditions):
    want = dict(c.split("=", 1) for c in conditions)
    deadline = time.monotonic() + AUDIT_WAIT_S
    while True:
        records = audit_records(path, skip)
        for rec in records:
            if all(printed(rec.get(k)) == v for k, v in want.items()):
                return rec
        if time.monotonic() > deadline:
            break
        time.sleep(AUDIT_POLL_S)
    seen = [{k: rec.get(k) for k in ("op", "event", "level", "status", "s3_code")} for rec in records]
    raise StepFailed(f"no audit line with {want}; lines: {json.dumps(seen)[:400]}")


def audit_modes(path, skip):
    return {"modes": sorted({printed(r.get("payload_mode")) for r in audit_records(path, skip)
                             if r.get("op") in DATA_OPS and r.get("status") == 200})}


COMMANDS = {
    "rgw-sha": (rgw_sha, 2),
    "put-file": (put_file, 4),
    "get-file": (get_file, 4),
    "vhost": (vhost, 5),
    "rgw-vhost": (rgw_vhost, 2),
    "put-expect-error": (put_expect_error, 4),
    "get-cut": (get_cut, 4),
    "audit-modes": (audit_modes, 2),
}
VARIADIC = {"audit-find": (audit_find, 3)}


def main(argv):
    name = argv[1] if len(argv) > 1 else ""
    if name in VARIADIC and len(argv) - 2 >= VARIADIC[name][1]:
        fn = VARIADIC[name][0]
    elif name in COMMANDS and len(argv) - 2 == COMMANDS[name][1]:
        fn = COMMANDS[name][0]
    else:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        result = fn(*argv[2:])
    except StepFailed as err:
        print(json.dumps({"error": str(err)}))
        return 1
    except botocore.exceptions.ClientError as err:
        status, code = error_of(err)
        print(json.dumps({"error": f"{err.operation_name}: HTTP {status} {code}"}))
        return 1
    except Exception as err:  # any other failure of the step is its reason, on one line
        print(json.dumps({"error": " ".join(f"{type(err).__name__}: {err}".split())[:300]}))
        return 1
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
