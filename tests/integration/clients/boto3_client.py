#!/usr/bin/env python3
"""boto3 against S3_ENDPOINT: the calls Python apps and tools make, plus presigned URLs.

Runs under whichever python3 starts it: Debian's (boto3 1.26: hex payload hashes over
http) or a newer one (boto3 1.43: CRC32 checksums, aws-chunked trailers over https).
Every object written is checked byte for byte directly on the RGW (lib/rgw_check.py).
Env: see tests/integration/README.md; S3_CA_BUNDLE (optional) = CA file for an https endpoint.
"""
import json
import os
import ssl
import subprocess
import sys
import urllib.error
import urllib.request

import boto3
import botocore
import botocore.config
from boto3.s3.transfer import TransferConfig

MIB = 1024 * 1024
# Well below the 12 MiB test file, so upload_file really splits it into parts.
MULTIPART_THRESHOLD = 5 * MIB
PRESIGN_SECONDS = 300
# Waiting longer than this for an answer is a fault, not slowness: the RGW answers every
# request here in well under a second. (botocore's default of 60 s would turn a stalled
# connection into a slow pass.)
HTTP_TIMEOUT = 20
RGW_CHECK = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib", "rgw_check.py")
CHECK_PYTHON = "/usr/bin/python3"


def env(name):
    value = os.environ.get(name, "")
    if not value:
        sys.exit(f"missing environment variable {name}")
    return value


class Steps:
    def __init__(self):
        self.failures = []

    def run(self, name, fn):
        try:
            if fn() is False:
                raise AssertionError("step returned False")
            print(f"ok - {name}", flush=True)
        except Exception as err:  # a step's failure is reported, the next step still runs
            reason = f"{type(err).__name__}: {err}".splitlines()[0] if str(err) else type(err).__name__
            self.failures.append(f"{name}: {reason}")
            print(f"not ok - {name}: {reason}", flush=True)

    def verify_on_rgw(self, name, specs):
        def check():
            out = subprocess.run([CHECK_PYTHON, RGW_CHECK, "verify", "-"], input=json.dumps(specs),
                                 capture_output=True, text=True, check=False)
            for line in (out.stdout + out.stderr).splitlines():
                print(f"  {line}")
            if out.returncode != 0:
                raise AssertionError((out.stdout + out.stderr).strip().splitlines()[0])
        self.run(name, check)

    def finish(self):
        if not self.failures:
            print("all steps passed")
            return 0
        print(f"{len(self.failures)} step(s) failed; first: {self.failures[0]}")
        return 1


def read(path):
    with open(path, "rb") as f:
        return f.read()


def expect_equal(got, want, what):
    if got != want:
        raise AssertionError(f"{what}: got {len(got)} bytes, expected {len(want)} (content differs)"
                             if isinstance(got, bytes) else f"{what}: got {got!r}, expected {want!r}")


def main():
    endpoint = env("S3_ENDPOINT")
    bucket = env("S3_BUCKET")
    data = env("IT_DATA")
    tmp = env("IT_TMP")
    run = os.environ.get("RUN_ID", str(os.getpid()))
    ca_bundle = os.environ.get("S3_CA_BUNDLE") or None
    object_acl = os.environ.get("EXPECT_OBJECT_ACL") or None
    small, big = os.path.join(data, "small.bin"), os.path.join(data, "big.bin")
    print(f"python {sys.version.split()[0]} ({sys.executable}), boto3 {boto3.__version__}, "
          f"botocore {botocore.__version__}, endpoint {endpoint}")

    s3 = boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=env("S3_ACCESS_KEY"),
        aws_secret_access_key=env("S3_SECRET_KEY"),
        region_name="us-east-1",
        verify=ca_bundle,
        config=botocore.config.Config(
            signature_version="s3v4",
            s3={"addressing_style": "path"},
            retries={"total_max_attempts": 1},
            connect_timeout=HTTP_TIMEOUT,
            read_timeout=HTTP_TIMEOUT,
        ),
    )
    https = ssl.create_default_context(cafile=ca_bundle) if ca_bundle else None

    def http(method, url, body=None, headers=None):
        req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=HTTP_TIMEOUT, context=https) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as err:
            return err.code, err.read()

    p = f"boto3/{run}/"
    k_small, k_big, k_empty = p + "small.png", p + "big.bin", p + "empty"
    # Characters SigV4 canonicalisation must encode: space, plus, tilde, equals, ampersand, UTF-8.
    k_odd = p + "dir/space name+plus~tilde=eq&amp \u00fc.txt"
    k_copy, k_pre, k_pre_acl = p + "copy.png", p + "presigned-put", p + "presigned-put-acl"
    k_meta = p + "metadata"
    written = [k_small, k_big, k_empty, k_odd, k_copy, k_pre, k_pre_acl, k_meta]
    acl = {"acl": object_acl} if object_acl else {}
    t = Steps()

    t.run("put_object with ACL public-read", lambda: s3.put_object(
        Bucket=bucket, Key=k_small, Body=read(small), ACL="public-read", ContentType="image/png",
        CacheControl="public, max-age=315576000, immutable"))
    t.run("put_object with an empty body", lambda: s3.put_object(Bucket=bucket, Key=k_empty, Body=b""))
    t.run("put_object to a key that needs URI encoding", lambda: s3.put_object(
        Bucket=bucket, Key=k_odd, Body=read(small)))
    t.run("upload_file multipart with ACL public-read", lambda: s3.upload_file(
        big, bucket, k_big, ExtraArgs={"ACL": "public-read", "ContentType": "application/octet-stream"},
        Config=TransferConfig(multipart_threshold=MULTIPART_THRESHOLD, multipart_chunksize=MULTIPART_THRESHOLD)))
    # Python users name metadata as they name variables: boto3 sends x-amz-meta-my_key.
    t.run("put_object with a metadata name holding an underscore", lambda: s3.put_object(
        Bucket=bucket, Key=k_meta, Body=read(small), Metadata={"my_key": "kept"}))
    t.run("copy_object with ACL public-read", lambda: s3.copy_object(
        Bucket=bucket, Key=k_copy, CopySource={"Bucket": bucket, "Key": k_small}, ACL="public-read"))

    def presigned_put_plain():
        url = s3.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": k_pre},
                                        ExpiresIn=PRESIGN_SECONDS)
        status, body = http("PUT", url, read(small))
        expect_equal(status, 200, f"presigned PUT answered {body[:200]!r}")

    def presigned_put_acl():
        url = s3.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": k_pre_acl,
                                                               "ACL": "public-read"}, ExpiresIn=PRESIGN_SECONDS)
        if "x-amz-acl" not in url.split("X-Amz-SignedHeaders=", 1)[-1].split("&", 1)[0]:
            raise AssertionError("x-amz-acl is not among the presigned URL's signed headers")
        status, body = http("PUT", url, read(small), {"x-amz-acl": "public-read"})
        expect_equal(status, 200, f"presigned PUT answered {body[:200]!r}")

    t.run("presigned PUT without ACL", presigned_put_plain)
    t.run("presigned PUT with ACL public-read", presigned_put_acl)

    t.verify_on_rgw("objects landed on rgw byte for byte", [
        {"bucket": bucket, "key": k_small, "file": small, "content_type": "image/png",
         "cache_control": "public, max-age=315576000, immutable", **acl},
        {"bucket": bucket, "key": k_empty, "file": os.devnull},
        {"bucket": bucket, "key": k_odd, "file": small},
        {"bucket": bucket, "key": k_big, "file": big, "multipart": True, **acl},
        {"bucket": bucket, "key": k_copy, "file": small, **acl},
        {"bucket": bucket, "key": k_pre, "file": small, "acl": "private"},
        {"bucket": bucket, "key": k_pre_acl, "file": small, **acl},
        {"bucket": bucket, "key": k_meta, "file": small},
    ])

    def metadata_back():
        # The RGW's front end reads '_' in a header name as '-', with or without the proxy.
        meta = s3.head_object(Bucket=bucket, Key=k_meta)["Metadata"]
        expect_equal(meta.get("my_key", meta.get("my-key")), "kept", f"metadata {meta!r}")
    t.run("head_object gives the metadata back", metadata_back)

    t.run("get_object back through the endpoint", lambda: expect_equal(
        s3.get_object(Bucket=bucket, Key=k_small)["Body"].read(), read(small), "small"))
    t.run("get_object of the encoded key", lambda: expect_equal(
        s3.get_object(Bucket=bucket, Key=k_odd)["Body"].read(), read(small), "odd key"))

    def download_big():
        dest = os.path.join(tmp, "big.download")
        # Ranged GETs in parallel above the threshold.
        s3.download_file(bucket, k_big, dest, Config=TransferConfig(multipart_threshold=MULTIPART_THRESHOLD,
                                                                    multipart_chunksize=MULTIPART_THRESHOLD))
        expect_equal(read(dest), read(big), "big")
    t.run("download_file (ranged GETs)", download_big)
    t.run("head_object", lambda: expect_equal(
        s3.head_object(Bucket=bucket, Key=k_big)["ContentLength"], os.path.getsize(big), "ContentLength"))

    def list_prefix():
        resp = s3.list_objects_v2(Bucket=bucket, Prefix=p)
        expect_equal(sorted(o["Key"] for o in resp.get("Contents", [])), sorted(written), "listed keys")
    t.run("list_objects_v2", list_prefix)

    def presigned_get():
        url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": k_small},
                                        ExpiresIn=PRESIGN_SECONDS)
        status, body = http("GET", url)
        expect_equal(status, 200, "presigned GET status")
        expect_equal(body, read(small), "presigned GET body")
    t.run("presigned GET", presigned_get)

    def delete_all():
        resp = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in written]})
        if resp.get("Errors"):
            raise AssertionError(f"errors: {resp['Errors'][:3]}")
        expect_equal(sorted(d["Key"] for d in resp.get("Deleted", [])), sorted(written), "deleted keys")
    t.run("delete_objects", delete_all)
    t.verify_on_rgw("deleted objects are gone from rgw",
                    [{"bucket": bucket, "key": k, "absent": True} for k in written])
    return t.finish()


if __name__ == "__main__":
    sys.exit(main())
