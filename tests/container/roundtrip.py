#!/usr/bin/env python3
"""Uploads through the proxy the way Mastodon does (x-amz-acl: public-read) with boto3, then
reads every object back directly from the storage with the storage's own key and compares
the bytes. Used by scripts/container-check.sh against the proxy in its container.

Prints one JSON object: the keys written and their sizes. Exits 1 on any mismatch or error.

Env: CLIENT_ACCESS_KEY_ID / CLIENT_SECRET_ACCESS_KEY (the application's key, known to the
proxy), RGW_ACCESS_KEY / RGW_SECRET_KEY (the storage's key, never given to the client).
"""
import argparse
import hashlib
import io
import json
import os
import sys

import boto3
import boto3.s3.transfer
import botocore.config

# One part more than the 5 MiB minimum, so the multipart path (CreateMultipartUpload,
# UploadPart x2, CompleteMultipartUpload) runs.
MULTIPART_SIZE = 6 * 1024 * 1024
PART_SIZE = 5 * 1024 * 1024
SMALL_SIZE = 256 * 1024


def client(endpoint, key, secret):
    return boto3.client(
        "s3", endpoint_url=endpoint, region_name="us-east-1",
        aws_access_key_id=key, aws_secret_access_key=secret,
        config=botocore.config.Config(signature_version="s3v4", s3={"addressing_style": "path"},
                                      retries={"max_attempts": 1}))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--proxy", required=True, help="http://127.0.0.1:PORT of the proxy")
    ap.add_argument("--storage", required=True, help="http://127.0.0.1:PORT of the storage")
    ap.add_argument("--bucket", required=True)
    ap.add_argument("--prefix", required=True)
    a = ap.parse_args()

    storage = client(a.storage, os.environ["RGW_ACCESS_KEY"], os.environ["RGW_SECRET_KEY"])
    app = client(a.proxy, os.environ["CLIENT_ACCESS_KEY_ID"], os.environ["CLIENT_SECRET_ACCESS_KEY"])
    try:
        storage.create_bucket(Bucket=a.bucket)
    except storage.exceptions.BucketAlreadyOwnedByYou:
        pass

    written = {}
    small = os.urandom(SMALL_SIZE)
    key = a.prefix + "small.png"
    app.put_object(Bucket=a.bucket, Key=key, Body=small, ACL="public-read", ContentType="image/png")
    written[key] = small

    large = os.urandom(MULTIPART_SIZE)
    key = a.prefix + "large.mp4"
    cfg = boto3.s3.transfer.TransferConfig(multipart_threshold=PART_SIZE, multipart_chunksize=PART_SIZE,
                                           use_threads=False)
    app.upload_fileobj(io.BytesIO(large), a.bucket, key, ExtraArgs={"ACL": "public-read"}, Config=cfg)
    written[key] = large

    bad = []
    for key, body in written.items():
        got = storage.get_object(Bucket=a.bucket, Key=key)["Body"].read()
        if hashlib.sha256(got).digest() != hashlib.sha256(body).digest():
            bad.append(f"{key}: {len(got)} bytes on the storage, {len(body)} sent")
    print(json.dumps({"bucket": a.bucket, "objects": {k: len(v) for k, v in written.items()}, "mismatches": bad}))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
