"""Suite "checksums": upstream.checksums = "strip" against storage that rejects checksum headers.

Run by suites/checksums.sh, which starts the fake (fakes/fake_checksum_rejecting_upstream.py,
answering Backblaze B2's exact 400 InvalidArgument "Unsupported header '...' received for this
API call." to any checksum header) and three proxies, passed here in CK_PROXIES:
  fake_strip    -> the fake, checksums = "strip"
  fake_forward  -> the fake, checksums = "forward" (today's behaviour)
  rgw_strip     -> the real RGW, checksums = "strip"

Clients: the newest AWS SDK for JavaScript v3 (clients/js/checksum_uploads.mjs, checksums on by
default: a CRC32 header on Buffer bodies, a CRC32 trailer on stream bodies, CRC32 on every
part, x-amz-checksum-mode on GET) and Debian's boto3 1.26 (which sends no checksum unless
asked: here ChecksumAlgorithm="CRC32" on PutObject, CreateMultipartUpload and UploadPart, and
ChecksumMode="ENABLED" on GetObject). Wrong checksums are sent raw (lib/s3raw.py).
"""
import base64
import hashlib
import json
import os
import subprocess
import zlib

import boto3

import s3raw
from suite import AuditLog, Failed, Results, call, expect, expect_absent, expect_fields, main_guard, rgw, s3_client

HERE = os.path.dirname(os.path.abspath(__file__))
JS_SCRIPT = os.path.join(HERE, "..", "clients", "js", "checksum_uploads.mjs")
# The JS SDK answers within a second or two here; this only bounds a hang.
JS_TIMEOUT_S = 120
CHECKSUM_HEADER_PREFIX = "x-amz-checksum-"
# S3's smallest part but the last (5 MiB), so the boto3 multipart really has two parts.
PART = 5 * 1024 * 1024
# The exact answer of the service the fake stands for.
REJECTED_CODE = "InvalidArgument"


def is_checksum_header(name):
    name = name.lower()
    return name.startswith(CHECKSUM_HEADER_PREFIX) or name in ("x-amz-sdk-checksum-algorithm", "x-amz-trailer")


def crc32_b64(data):
    return base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()


class FakeRecord:
    def __init__(self, path):
        self.path = path

    def lines(self):
        try:
            with open(self.path, encoding="utf-8") as f:
                return [json.loads(line) for line in f if line.strip()]
        except FileNotFoundError:
            return []

    def for_key(self, bucket, key):
        wanted = f"/{bucket}/{key}"
        return [r for r in self.lines() if r["target"].split("?")[0] == wanted]

    def checksum_headers_seen(self):
        return sorted({n for r in self.lines() for n in r["headers"] if is_checksum_header(n)})


class Env:
    def __init__(self):
        self.proxies = json.loads(os.environ["CK_PROXIES"])
        self.key_id = os.environ["CK_CLIENT_KEY"]
        self.secret = os.environ["CK_CLIENT_SECRET"]
        self.fake = FakeRecord(os.environ["CK_FAKE_RECORD"])
        self.data = os.environ["IT_DATA"]
        with open(os.path.join(self.data, "small.bin"), "rb") as f:
            self.small = f.read()
        with open(os.path.join(self.data, "big.bin"), "rb") as f:
            self.big = f.read()
        self.bucket = f"checksums-{os.getpid()}"
        self.run = str(os.getpid())

    def endpoint(self, name):
        return self.proxies[name]["endpoint"]

    def audit(self, name):
        return AuditLog(self.proxies[name]["audit"])

    def client(self, name):
        return s3_client(self.endpoint(name), self.key_id, self.secret)


def boto3_sent_headers(s3):
    """Records the headers of every request the client sends (after signing)."""
    sent = []
    s3.meta.events.register("before-send.s3.*", lambda request, event_name, **_: sent.append(
        (event_name.rsplit(".", 1)[-1], dict(request.headers))))
    return sent


def run_js(env, proxy, prefix, steps="put_buffer,put_stream,multipart,get"):
    out = subprocess.run(
        ["node", JS_SCRIPT], capture_output=True, text=True, timeout=JS_TIMEOUT_S,
        env={**os.environ, "S3_ENDPOINT": env.endpoint(proxy), "S3_ACCESS_KEY": env.key_id,
             "S3_SECRET_KEY": env.secret, "S3_BUCKET": env.bucket, "KEY_PREFIX": prefix, "STEPS": steps})
    results, sent = {}, []
    for line in out.stdout.splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if "step" in rec:
            results[rec["step"]] = rec
        elif "sent" in rec:
            sent = rec["sent"]
    if not results:
        raise Failed(f"the JS client printed no result (exit {out.returncode}): "
                     f"{(out.stderr or out.stdout).strip().splitlines()[-1:] }")
    return results, sent


def expect_js_ok(results, step):
    rec = results.get(step)
    expect(rec is not None, f"JS step {step} did not run")
    expect(rec["ok"], f"JS {step} failed: {rec.get('status')} {rec.get('code')}: {rec.get('message')}")


def js_sent_checksums(sent):
    """The checksum headers the SDK put on its PutObject/UploadPart requests."""
    return sorted({h for s in sent if s["command"] in ("PutObjectCommand", "UploadPartCommand")
                   for h in s["checksum_headers"]})


def boto3_uploads(s3, bucket, prefix, small, big):
    """PutObject and a two-part multipart upload, both with ChecksumAlgorithm CRC32; GETs with
    ChecksumMode ENABLED. Returns the keys written."""
    put_key, mp_key = f"{prefix}put.bin", f"{prefix}multipart.bin"
    s3.put_object(Bucket=bucket, Key=put_key, Body=small, ChecksumAlgorithm="CRC32")
    up = s3.create_multipart_upload(Bucket=bucket, Key=mp_key, ChecksumAlgorithm="CRC32")["UploadId"]
    parts = []
    for n, at in enumerate(range(0, len(big), PART), start=1):
        resp = s3.upload_part(Bucket=bucket, Key=mp_key, UploadId=up, PartNumber=n, Body=big[at:at + PART],
                              ChecksumAlgorithm="CRC32")
        part = {"ETag": resp["ETag"], "PartNumber": n}
        if "ChecksumCRC32" in resp:  # as s3transfer does: only what the upstream answered
            part["ChecksumCRC32"] = resp["ChecksumCRC32"]
        parts.append(part)
    s3.complete_multipart_upload(Bucket=bucket, Key=mp_key, UploadId=up, MultipartUpload={"Parts": parts})
    for key, want in ((put_key, small), (mp_key, big)):
        got = s3.get_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")["Body"].read()
        expect(got == want, f"{key}: read back {len(got)} bytes, not the {len(want)} sent")
    return {put_key: small, mp_key: big}


def expect_boto3_sent_checksums(sent):
    names = sorted({n.lower() for _, h in sent for n in h if is_checksum_header(n)})
    for want in ("x-amz-checksum-crc32", "x-amz-sdk-checksum-algorithm", "x-amz-checksum-algorithm",
                 "x-amz-checksum-mode"):
        expect(want in names, f"boto3 did not send {want} (sent {names}): the test would prove nothing")


def raw_put(env, proxy, key, body, payload_hash, extra):
    url = f"{env.endpoint(proxy)}/{env.bucket}/{key}"
    headers = {"Host": s3raw.host_of(url), "Content-Length": str(len(body)), **extra}
    signed, _ = s3raw.sign("PUT", url, headers, payload_hash, env.key_id, env.secret)
    return s3raw.send(url, "PUT", signed, body)


def mismatches(env):
    """Requests whose body does not match the checksum the client declared: (name, send)."""
    body = env.small
    wrong = crc32_b64(body + b"x")

    def hex_header(proxy, key):  # the body hash matches: only the checksum is wrong
        return raw_put(env, proxy, key, body, hashlib.sha256(body).hexdigest(), {"x-amz-checksum-crc32": wrong})

    def unsigned_header(proxy, key):  # nothing but the checksum guards this body
        return raw_put(env, proxy, key, body, "UNSIGNED-PAYLOAD",
                       {"x-amz-checksum-crc32": wrong, "x-amz-sdk-checksum-algorithm": "CRC32"})

    def trailer(proxy, key):
        chunked = s3raw.unsigned_trailer_body(body, 8192, "x-amz-checksum-crc32", wrong)
        return raw_put(env, proxy, key, chunked, s3raw.STREAMING_UNSIGNED_TRAILER,
                       {"Content-Encoding": "aws-chunked", "x-amz-decoded-content-length": str(len(body)),
                        "x-amz-trailer": "x-amz-checksum-crc32", "x-amz-sdk-checksum-algorithm": "CRC32"})

    return [("hex_header", hex_header), ("unsigned_header", unsigned_header), ("trailer", trailer)]


def main():
    env, r = Env(), Results()
    rgw().create_bucket(Bucket=env.bucket)  # for rgw_strip; the fake takes any bucket name
    r.note(f"boto3 {boto3.__version__} (Debian) sends no checksum by default: asked for CRC32 explicitly")

    # --- (a) the fake that rejects checksum headers --------------------------------------
    js_prefix = f"js-strip-{env.run}/"
    js = {}

    def js_strip_lands():
        results, sent = run_js(env, "fake_strip", js_prefix)
        js["sent"] = sent
        for step in ("put_buffer", "put_stream", "multipart", "get_put_buffer", "get_put_stream", "get_multipart"):
            expect_js_ok(results, step)
    r.check("fake_strip/js_uploads_land_and_read_back", js_strip_lands)

    def js_really_sent_checksums():
        names = js_sent_checksums(js.get("sent", []))
        for want in ("x-amz-checksum-crc32", "x-amz-sdk-checksum-algorithm", "x-amz-trailer"):
            expect(want in names, f"the JS SDK did not send {want} (sent {names})")
        modes = [s["payload"] for s in js.get("sent", []) if s["command"] == "PutObjectCommand"]
        expect("STREAMING-UNSIGNED-PAYLOAD-TRAILER" in modes, f"no trailer-mode upload among {modes}")
    r.check("fake_strip/js_sdk_sent_checksum_headers_and_trailer", js_really_sent_checksums)

    def fake_got_js_bytes():
        for name, want in (("buffer.bin", env.small), ("stream.bin", env.small)):
            recs = [x for x in env.fake.for_key(env.bucket, js_prefix + name) if x["method"] == "PUT"]
            expect(len(recs) == 1, f"{len(recs)} PUTs of {name} reached the fake")
            expect(recs[0]["status"] == 200 and recs[0]["md5"] == hashlib.md5(want).hexdigest(),
                   f"the fake stored {recs[0]['body_bytes']} bytes of {name}, not the payload sent")
    r.check("fake_strip/js_payload_reached_the_fake_decoded", fake_got_js_bytes)

    boto = {}

    def boto3_strip_lands():
        s3 = env.client("fake_strip")
        boto["sent"] = boto3_sent_headers(s3)  # kept even when an upload fails
        boto3_uploads(s3, env.bucket, f"boto3-strip-{env.run}/", env.small, env.big)
    r.check("fake_strip/boto3_uploads_land_and_read_back", boto3_strip_lands)
    r.check("fake_strip/boto3_sent_checksum_headers", lambda: expect_boto3_sent_checksums(boto.get("sent", [])))

    def fake_saw_no_checksum_header():
        seen = env.fake.checksum_headers_seen()
        expect(not seen, f"checksum headers reached the fake through the strip proxy: {seen}")
        rejected = [x["target"] for x in env.fake.lines() if x["status"] == 400 and x["complete"]]
        expect(not rejected, f"the fake rejected {rejected}")
    r.check("fake_strip/fake_saw_no_checksum_header", fake_saw_no_checksum_header)

    # --- forward: the rejection is relayed and audited -------------------------------------
    def forward_relays_rejection(client_name):
        key = f"forward-{client_name}-{env.run}.bin"
        if client_name == "boto3":
            status, code, resp = call(env.client("fake_forward").put_object, Bucket=env.bucket, Key=key,
                                      Body=env.small, ChecksumAlgorithm="CRC32")
            message = (resp.get("Error") or {}).get("Message", "")
        else:
            results, _ = run_js(env, "fake_forward", key.replace(".bin", "/"), steps="put_buffer")
            rec = results["put_buffer"]
            key = key.replace(".bin", "/") + "buffer.bin"
            status, code, message = rec.get("status"), rec.get("code"), rec.get("message", "")
        expect((status, code) == (400, REJECTED_CODE), f"answered {status} {code}, expected 400 {REJECTED_CODE}")
        expect("Unsupported header 'x-amz-checksum-crc32'" in message, f"message {message!r}")
        rec = env.audit("fake_forward").one_line(env.bucket, key)
        expect_fields(rec, event="write_failed", level="warn", op="PutObject", status=400, upstream_status=400,
                      s3_code=REJECTED_CODE)
    for client_name in ("boto3", "js"):
        r.check(f"fake_forward/{client_name}_rejection_relayed_as_write_failed", forward_relays_rejection, client_name)

    # --- a body that does not match its checksum --------------------------------------------
    for name, send in mismatches(env):
        def refused_on_fake(name=name, send=send):
            key = f"mismatch-{name}-{env.run}.bin"
            resp = send("fake_strip", key)
            expect((resp.status, resp.code) == (400, "BadDigest"), f"answered {resp!r}, expected 400 BadDigest")
            done = [x for x in env.fake.for_key(env.bucket, key) if x["method"] == "PUT" and x["complete"]]
            expect(not done, f"the upload completed at the fake: {done}")
            rec = env.audit("fake_strip").one_line(env.bucket, key)
            expect_fields(rec, event="write_failed", status=400, s3_code="BadDigest")
            status, code, _ = call(env.client("fake_strip").head_object, Bucket=env.bucket, Key=key)
            expect(status == 404, f"HEAD through the proxy answered {status} {code}: the object exists")
        r.check(f"fake_strip/mismatch_{name}_refused_never_completes", refused_on_fake)

    def complete_with_part_checksums_refused():
        s3, key = env.client("fake_strip"), f"complete-checksums-{env.run}.bin"
        up = s3.create_multipart_upload(Bucket=env.bucket, Key=key)["UploadId"]
        etag = s3.upload_part(Bucket=env.bucket, Key=key, UploadId=up, PartNumber=1, Body=env.small)["ETag"]
        status, code, _ = call(s3.complete_multipart_upload, Bucket=env.bucket, Key=key, UploadId=up,
                               MultipartUpload={"Parts": [{"ETag": etag, "PartNumber": 1,
                                                           "ChecksumCRC32": crc32_b64(env.small)}]})
        expect((status, code) == (400, "InvalidRequest"), f"answered {status} {code}, expected 400 InvalidRequest")
        done = [x for x in env.fake.for_key(env.bucket, key) if x["method"] == "POST" and "uploadId" in x["target"]
                and x["complete"]]
        expect(not done, "the CompleteMultipartUpload reached the fake whole")
    r.check("fake_strip/complete_with_part_checksums_refused", complete_with_part_checksums_refused)

    # --- (b) the real RGW behind a strip proxy ----------------------------------------------
    rgw_js_prefix = f"js-rgw-{env.run}/"

    def rgw_js_lands():
        results, _ = run_js(env, "rgw_strip", rgw_js_prefix)
        for step in ("put_buffer", "put_stream", "multipart", "get_put_buffer", "get_put_stream", "get_multipart"):
            expect_js_ok(results, step)
        for name, want in (("buffer.bin", env.small), ("stream.bin", env.small), ("multipart.bin", env.big)):
            got = rgw().get_object(Bucket=env.bucket, Key=rgw_js_prefix + name)["Body"].read()
            expect(got == want, f"{name} on the RGW is {len(got)} bytes, not the {len(want)} sent")
    r.check("rgw_strip/js_uploads_land_byte_identical", rgw_js_lands)

    def rgw_boto3_lands():
        written = boto3_uploads(env.client("rgw_strip"), env.bucket, f"boto3-rgw-{env.run}/", env.small, env.big)
        for key, want in written.items():
            got = rgw().get_object(Bucket=env.bucket, Key=key)["Body"].read()
            expect(got == want, f"{key} on the RGW is {len(got)} bytes, not the {len(want)} sent")
    r.check("rgw_strip/boto3_uploads_land_byte_identical", rgw_boto3_lands)

    for name, send in mismatches(env):
        def refused_on_rgw(name=name, send=send):
            key = f"mismatch-{name}-{env.run}.bin"
            resp = send("rgw_strip", key)
            expect((resp.status, resp.code) == (400, "BadDigest"), f"answered {resp!r}, expected 400 BadDigest")
            expect_absent(env.bucket, key)
        r.check(f"rgw_strip/mismatch_{name}_refused_nothing_lands", refused_on_rgw)


if __name__ == "__main__":
    main_guard(main)
