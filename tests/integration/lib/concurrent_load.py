#!/usr/bin/python3
"""Concurrent uploads and downloads through the proxy, for a bounded time.

    concurrent_load.py --endpoint URL --admin URL --bucket B --key-id ID --seconds S --clients N

Env: LOAD_SECRET (the client's secret: kept off the command line).

N client threads (each with its own boto3 session and connections) loop until S seconds have
passed over a mix that takes every payload path of the proxy: PutObject signed with the body's
hash (with x-amz-acl, stripped by the proxy), signed aws-chunked and unsigned-trailer uploads
(raw, via s3raw), GetObject compared byte for byte, a presigned GET, HeadObject, ListObjectsV2,
DeleteObject; and once per thread a two-part multipart upload. One more thread reads /metrics,
/readyz and /healthz on the admin port meanwhile. Every answer is checked; prints one JSON
summary line (operations, failures, bytes, rate) and exits 1 on any failure.
"""
import argparse
import base64
import json
import os
import random
import sys
import threading
import time
import urllib.request
import zlib

import boto3
import botocore.config

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import s3raw  # noqa: E402

# Object sizes: up to a few upstream chunks (64 KiB), so bodies cross chunk boundaries.
MAX_OBJECT = 300 * 1024
CHUNK = 8192          # the client's aws-chunked chunk size
PART = 5 * 1024 * 1024  # S3's smallest part that is not the last
ADMIN_POLL = 0.05     # seconds between admin requests
MAX_REASONS = 5       # failure reasons kept for the summary


class Tally:
    def __init__(self):
        self.lock = threading.Lock()
        self.ops, self.failures, self.up, self.down, self.reasons = 0, 0, 0, 0, []

    def ok(self, up=0, down=0):
        with self.lock:
            self.ops += 1
            self.up += up
            self.down += down

    def fail(self, what):
        with self.lock:
            self.ops += 1
            self.failures += 1
            if len(self.reasons) < MAX_REASONS:
                self.reasons.append(what)


def client(args, secret):
    return boto3.session.Session().client(
        "s3", endpoint_url=args.endpoint, region_name="us-east-1",
        aws_access_key_id=args.key_id, aws_secret_access_key=secret,
        config=botocore.config.Config(signature_version="s3v4", s3={"addressing_style": "path"},
                                      retries={"total_max_attempts": 1}, max_pool_connections=2,
                                      connect_timeout=5, read_timeout=60))


def raw_put(args, secret, key, data, mode):
    url = f"{args.endpoint}/{args.bucket}/{key}"
    host = s3raw.host_of(url)
    when = s3raw.utcnow()
    if mode == "signed":
        length = len(s3raw.signed_chunked_body(data, CHUNK, "0" * 64, b"k", "d", "s"))
        headers = {"Host": host, "Content-Length": str(length), "Content-Encoding": "aws-chunked",
                   "x-amz-decoded-content-length": str(len(data))}
        signed, seed = s3raw.sign("PUT", url, headers, s3raw.STREAMING_SIGNED, args.key_id, secret, when)
        body = s3raw.signed_chunked_body(data, CHUNK, seed, s3raw.signing_key(secret, when),
                                         s3raw.amz_date(when), s3raw.scope(when))
    else:
        crc = base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()
        body = s3raw.unsigned_trailer_body(data, CHUNK, "x-amz-checksum-crc32", crc)
        headers = {"Host": host, "Content-Length": str(len(body)), "Content-Encoding": "aws-chunked",
                   "x-amz-decoded-content-length": str(len(data)), "x-amz-trailer": "x-amz-checksum-crc32"}
        signed, _ = s3raw.sign("PUT", url, headers, s3raw.STREAMING_UNSIGNED_TRAILER, args.key_id, secret, when)
    return s3raw.send(url, "PUT", signed, body)


def worker(n, args, secret, deadline, tally):
    s3 = client(args, secret)
    rng = random.Random(n)
    prefix = f"load/{n}/"
    written = {}

    def check(cond, what):
        if not cond:
            raise AssertionError(what)

    def step(name, fn):
        try:
            fn()
        except Exception as err:  # every failure counts, whatever raised it
            tally.fail(f"client {n} {name}: {type(err).__name__}: {str(err)[:160]}")

    def multipart():
        key = prefix + "multipart"
        parts = [os.urandom(PART), os.urandom(rng.randint(1, 4096))]
        up = s3.create_multipart_upload(Bucket=args.bucket, Key=key, ACL="public-read")
        etags = []
        for i, p in enumerate(parts, 1):
            etags.append(s3.upload_part(Bucket=args.bucket, Key=key, UploadId=up["UploadId"], PartNumber=i,
                                        Body=p)["ETag"])
        s3.complete_multipart_upload(Bucket=args.bucket, Key=key, UploadId=up["UploadId"],
                                     MultipartUpload={"Parts": [{"ETag": e, "PartNumber": i}
                                                                for i, e in enumerate(etags, 1)]})
        got = s3.get_object(Bucket=args.bucket, Key=key)["Body"].read()
        check(got == b"".join(parts), "multipart object differs")
        tally.ok(up=sum(map(len, parts)), down=len(got))

    step("multipart", multipart)
    i = 0
    while time.monotonic() < deadline:
        i += 1
        key = f"{prefix}{i % 8}"
        data = os.urandom(rng.randint(0, MAX_OBJECT))
        kind = i % 6

        def put_hashed():
            s3.put_object(Bucket=args.bucket, Key=key, Body=data, ACL="public-read")
            written[key] = data
            tally.ok(up=len(data))

        def put_raw(mode):
            def run():
                r = raw_put(args, secret, key, data, mode)
                check(r.status == 200, f"{mode} aws-chunked PUT answered {r}")
                written[key] = data
                tally.ok(up=len(data))
            return run

        def get_back():
            if key not in written:
                return
            got = s3.get_object(Bucket=args.bucket, Key=key)["Body"].read()
            check(got == written[key], f"{key}: {len(got)} bytes back, {len(written[key])} written")
            tally.ok(down=len(got))

        def presigned_get():
            if key not in written:
                return
            url = s3.generate_presigned_url("get_object", Params={"Bucket": args.bucket, "Key": key}, ExpiresIn=60)
            with urllib.request.urlopen(url, timeout=60) as resp:
                got = resp.read()
            check(got == written[key], f"{key}: presigned GET gave {len(got)} bytes")
            tally.ok(down=len(got))

        def head_list():
            s3.head_object(Bucket=args.bucket, Key=key) if key in written else None
            s3.list_objects_v2(Bucket=args.bucket, Prefix=prefix)
            tally.ok()

        def delete():
            s3.delete_object(Bucket=args.bucket, Key=key)
            written.pop(key, None)
            tally.ok()

        if kind == 0:
            step("put", put_hashed)
        elif kind == 1:
            step("put signed chunks", put_raw("signed"))
        elif kind == 2:
            step("put unsigned trailer", put_raw("trailer"))
        elif kind == 3:
            step("presigned get", presigned_get)
        elif kind == 4:
            step("head/list", head_list)
        else:
            step("delete", delete)
        step("get", get_back)


def admin(args, deadline, tally):
    while time.monotonic() < deadline:
        for path in ("/metrics", "/readyz", "/healthz"):
            try:
                with urllib.request.urlopen(args.admin + path, timeout=10) as resp:
                    resp.read()
                tally.ok()
            except urllib.error.HTTPError as err:
                # /readyz may be 503 before the first upstream answer; anything else is wrong.
                (tally.ok if path == "/readyz" and err.code == 503 else tally.fail)(f"admin {path}: {err}")
            except Exception as err:
                tally.fail(f"admin {path}: {type(err).__name__}: {err}")
        time.sleep(ADMIN_POLL)


def main():
    p = argparse.ArgumentParser()
    for name in ("endpoint", "admin", "bucket", "key-id"):
        p.add_argument("--" + name, required=True)
    p.add_argument("--seconds", type=float, default=30)
    p.add_argument("--clients", type=int, default=16)
    args = p.parse_args()
    secret = os.environ["LOAD_SECRET"]
    tally = Tally()
    start = time.monotonic()
    deadline = start + args.seconds
    threads = [threading.Thread(target=worker, args=(n, args, secret, deadline, tally)) for n in range(args.clients)]
    threads.append(threading.Thread(target=admin, args=(args, deadline, tally)))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    secs = time.monotonic() - start
    print(json.dumps({"clients": args.clients, "seconds": round(secs, 1), "operations": tally.ops,
                      "failures": tally.failures, "mib_up": round(tally.up / 2**20, 1),
                      "mib_down": round(tally.down / 2**20, 1), "ops_per_s": round(tally.ops / secs, 1),
                      "failure_reasons": tally.reasons}))
    return 1 if tally.failures else 0


if __name__ == "__main__":
    sys.exit(main())
