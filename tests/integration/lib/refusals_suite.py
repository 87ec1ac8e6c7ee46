#!/usr/bin/python3
"""The checks of suites/refusals.sh, which starts one proxy (strip mode, upstream the RGW)
and runs this.

Every request the proxy must refuse is built by hand (lib/s3raw.py: botocore's SigV4 at a
chosen time, sent byte for byte) and must get the S3 error INTERFACE.md names, leave
nothing on the RGW (checked there with the RGW's key) and produce exactly one audit line;
the audit log must never hold a secret or a signature. Each kind of request also has a
control that is accepted and lands, so a refusal cannot pass because the test built the
request wrongly.

Env: RGW_ENDPOINT, RGW_ACCESS_KEY, RGW_SECRET_KEY, REFUSALS_ENDPOINT (the proxy),
     REFUSALS_AUDIT (its audit log), REFUSALS_CLIENT_KEY, REFUSALS_CLIENT_SECRET.
Prints PASS/FAIL/SKIP lines (tests/integration/README.md, "Suites").
"""
import base64
import datetime
import email.utils
import hashlib
import hmac
import os
import re
import sys
import time
import zlib

# The shared modules sit beside this file; no __pycache__ in the source tree.
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import s3raw  # noqa: E402
from suite import (AuditLog, Results, expect, expect_absent, expect_acl, expect_bytes,  # noqa: E402
                   expect_fields, main_guard, object_exists, rgw)

BODY_BYTES = 150001          # three 64 KiB aws-chunks and a tail
CHUNK = 65536                # the chunk size the AWS SDKs use
SKEW = datetime.timedelta(minutes=20)      # beyond S3's 15-minute allowance
PRESIGN_AGE = datetime.timedelta(minutes=10)  # signed 10 min ago: within the skew allowance,
PRESIGN_EXPIRES = 60                          # so only the 60 s expiry can refuse it
# A cut-off upload: how long the proxy may take to notice the client is gone and log it.
CUT_SETTLE_S = 2.0


class Env:
    def __init__(self):
        self.endpoint = os.environ["REFUSALS_ENDPOINT"].rstrip("/")
        self.host = s3raw.host_of(self.endpoint)
        self.key_id = os.environ["REFUSALS_CLIENT_KEY"]
        self.secret = os.environ["REFUSALS_CLIENT_SECRET"]
        self.audit = AuditLog(os.environ["REFUSALS_AUDIT"])
        self.bucket = f"refusals-{os.getpid()}"
        self.body = os.urandom(BODY_BYTES)
        self.signatures = []     # every signature sent: none may reach the audit log
        self.wrong_secret = self.secret[::-1] + "x"

    def url(self, key):
        return f"{self.endpoint}/{self.bucket}/{key}"

    def base_headers(self, body_len, **extra):
        # What Mastodon sends on an upload: an ACL and a content type, all signed.
        h = {"Host": self.host, "Content-Length": str(body_len), "Content-Type": "image/png",
             "x-amz-acl": "public-read"}
        h.update(extra)
        return h

    def sign(self, key, headers, payload_hash, key_id=None, secret=None, when=None):
        signed, sig = s3raw.sign("PUT", self.url(key), headers, payload_hash, key_id or self.key_id,
                                 secret or self.secret, when)
        self.signatures.append(sig)
        return signed

    def hex_put(self, key, body=None, **kw):
        body = self.body if body is None else body
        return self.sign(key, self.base_headers(len(body)), hashlib.sha256(body).hexdigest(), **kw)

    def chunked_put(self, key, corrupt_chunk=None):
        when = s3raw.utcnow()
        encoded_len = len(s3raw.signed_chunked_body(self.body, CHUNK, "0" * 64, b"k", "d", "s"))
        headers = self.base_headers(encoded_len, **{"Content-Encoding": "aws-chunked",
                                                    "x-amz-decoded-content-length": str(len(self.body))})
        signed = self.sign(key, headers, s3raw.STREAMING_SIGNED, when=when)
        seed = dict(signed)["Authorization"].rsplit("Signature=", 1)[1]
        body = s3raw.signed_chunked_body(self.body, CHUNK, seed, s3raw.signing_key(self.secret, when),
                                         s3raw.amz_date(when), s3raw.scope(when), corrupt_chunk)
        self.signatures += [s.decode() for s in s3raw.chunk_signatures(body)]
        return signed, body

    def trailer_put(self, key, crc_value):
        body = s3raw.unsigned_trailer_body(self.body, CHUNK, "x-amz-checksum-crc32", crc_value)
        headers = self.base_headers(len(body), **{"Content-Encoding": "aws-chunked",
                                                  "x-amz-decoded-content-length": str(len(self.body)),
                                                  "x-amz-trailer": "x-amz-checksum-crc32"})
        return self.sign(key, headers, s3raw.STREAMING_UNSIGNED_TRAILER), body

    def presigned_put(self, key, when, expires):
        url, sig = s3raw.presign("PUT", self.url(key), self.key_id, self.secret, expires, when,
                                 headers={"x-amz-acl": "public-read"})
        self.signatures.append(sig)
        return url, [("Host", self.host), ("Content-Length", str(len(self.body))), ("x-amz-acl", "public-read")]


def crc32_b64(data):
    return base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()


def sigv2_headers(env, key):
    """A correctly computed AWS Signature Version 2 request (which the proxy does not take)."""
    date = email.utils.formatdate(usegmt=True)
    to_sign = f"PUT\n\nimage/png\n{date}\nx-amz-acl:public-read\n/{env.bucket}/{key}"
    sig = base64.b64encode(hmac.new(env.secret.encode(), to_sign.encode(), hashlib.sha1).digest()).decode()
    env.signatures.append(sig)
    return [("Host", env.host), ("Date", date), ("Content-Type", "image/png"), ("x-amz-acl", "public-read"),
            ("Content-Length", str(len(env.body))), ("Authorization", f"AWS {env.key_id}:{sig}")]


def refused(env, key, resp, status, code, events):
    """The refusal reached the client as status/code, nothing landed, one audit line says so."""
    expect((resp.status, resp.code) == (status, code),
           f"client got {resp.status} {resp.code}, expected {status} {code}")
    rec = env.audit.one_line(env.bucket, key)
    expect(rec.get("event") in events, f"audit event is {rec.get('event')!r}, expected one of {events}")
    expect_fields(rec, level="warn", status=status, s3_code=code)
    expect_absent(env.bucket, key)


def landed(env, key, resp):
    expect(resp.status == 200, f"client got {resp.status} {resp.code}, expected 200")
    expect_bytes(env.bucket, key, env.body)
    expect_acl(env.bucket, key, public=False)  # strip mode: the signed x-amz-acl was removed
    expect_fields(env.audit.one_line(env.bucket, key), event="request", status=200)


def main():
    r = Results()
    env = Env()
    if not r.check("setup/bucket", lambda: rgw().create_bucket(Bucket=env.bucket)):
        return
    send = s3raw.send
    AUTH, WRITE = ("auth_failed",), ("write_failed",)

    # --- controls: each kind of request, built correctly, is accepted and lands
    def control_hex():
        landed(env, "control/hex", send(env.url("control/hex"), "PUT", env.hex_put("control/hex"), env.body))

    def control_chunked():
        headers, body = env.chunked_put("control/chunked")
        landed(env, "control/chunked", send(env.url("control/chunked"), "PUT", headers, body))

    def control_trailer():
        headers, body = env.trailer_put("control/trailer", crc32_b64(env.body))
        landed(env, "control/trailer", send(env.url("control/trailer"), "PUT", headers, body))

    def control_presigned():
        url, headers = env.presigned_put("control/presigned", s3raw.utcnow(), 300)
        landed(env, "control/presigned", send(url, "PUT", headers, env.body))

    r.check("control/hex_signed_put_lands", control_hex)
    r.check("control/streaming_signed_put_lands", control_chunked)
    r.check("control/unsigned_trailer_put_lands", control_trailer)
    r.check("control/presigned_put_lands", control_presigned)

    # --- refusals
    def wrong_secret():
        k = "refused/wrong-secret"
        refused(env, k, send(env.url(k), "PUT", env.hex_put(k, secret=env.wrong_secret), env.body),
                403, "SignatureDoesNotMatch", AUTH)

    def unknown_key():
        k = "refused/unknown-key"
        refused(env, k, send(env.url(k), "PUT", env.hex_put(k, key_id="AKIANOSUCHKEYEXAMPLE"), env.body),
                403, "InvalidAccessKeyId", AUTH)

    def tampered_header():
        k = "refused/tampered-header"
        h = env.sign(k, env.base_headers(len(env.body), **{"x-amz-meta-note": "original"}),
                     hashlib.sha256(env.body).hexdigest())
        h = [(n, "tampered" if n.lower() == "x-amz-meta-note" else v) for n, v in h]
        refused(env, k, send(env.url(k), "PUT", h, env.body), 403, "SignatureDoesNotMatch", AUTH)

    def tampered_body():
        k = "refused/tampered-body"
        h = env.hex_put(k)
        bad = env.body[:-1] + bytes([env.body[-1] ^ 0xFF])  # same length, last byte changed
        refused(env, k, send(env.url(k), "PUT", h, bad), 400, "XAmzContentSHA256Mismatch", WRITE)

    def bad_chunk_signature(chunk, name):
        k = f"refused/{name}"
        headers, body = env.chunked_put(k, corrupt_chunk=chunk)
        refused(env, k, send(env.url(k), "PUT", headers, body), 403, "SignatureDoesNotMatch", AUTH)

    def bad_trailer_checksum():
        k = "refused/bad-trailer-checksum"
        headers, body = env.trailer_put(k, crc32_b64(env.body + b"x"))
        refused(env, k, send(env.url(k), "PUT", headers, body), 400, "BadDigest", WRITE)

    def expired_presigned():
        k = "refused/expired-presigned"
        url, headers = env.presigned_put(k, s3raw.utcnow() - PRESIGN_AGE, PRESIGN_EXPIRES)
        refused(env, k, send(url, "PUT", headers, env.body), 403, "AccessDenied", AUTH)

    def skewed(direction, name):
        k = f"refused/{name}"
        h = env.hex_put(k, when=s3raw.utcnow() + direction * SKEW)
        refused(env, k, send(env.url(k), "PUT", h, env.body), 403, "RequestTimeTooSkewed", AUTH)

    def unsigned_amz_header():
        k = "refused/unsigned-header"
        h = env.hex_put(k) + [("x-amz-meta-added", "after signing")]
        refused(env, k, send(env.url(k), "PUT", h, env.body), 403, "AccessDenied", AUTH)

    def sigv2():
        k = "refused/sigv2"
        refused(env, k, send(env.url(k), "PUT", sigv2_headers(env, k), env.body), 400, "InvalidRequest", AUTH)

    def no_auth():
        k = "refused/no-auth"
        h = [("Host", env.host), ("Content-Length", str(len(env.body))), ("x-amz-acl", "public-read")]
        refused(env, k, send(env.url(k), "PUT", h, env.body), 403, "AccessDenied", AUTH)

    r.check("wrong_secret_403_SignatureDoesNotMatch", wrong_secret)
    r.check("unknown_key_403_InvalidAccessKeyId", unknown_key)
    r.check("tampered_signed_header_403_SignatureDoesNotMatch", tampered_header)
    r.check("tampered_body_hex_hash_400_XAmzContentSHA256Mismatch", tampered_body)
    r.check("bad_chunk_signature_403_SignatureDoesNotMatch", bad_chunk_signature, 1, "bad-chunk-sig")
    # The final (empty) chunk's signature is all that proves the body ended where the client
    # meant: the object must not be completed before it is checked.
    r.check("bad_final_chunk_signature_403_SignatureDoesNotMatch", bad_chunk_signature,
            BODY_BYTES // CHUNK + 1, "bad-final-chunk-sig")
    r.check("bad_trailer_checksum_400_BadDigest", bad_trailer_checksum)
    r.check("expired_presigned_url_403_AccessDenied", expired_presigned)
    r.check("clock_20min_behind_403_RequestTimeTooSkewed", skewed, -1, "skew-behind")
    r.check("clock_20min_ahead_403_RequestTimeTooSkewed", skewed, 1, "skew-ahead")
    r.check("unsigned_amz_header_403_AccessDenied", unsigned_amz_header)
    r.check("sigv2_400_InvalidRequest", sigv2)
    r.check("no_auth_403_AccessDenied", no_auth)

    # --- a client that dies mid-body: nothing may land
    def cut_body(mode, name):
        k = f"cut/{name}"
        if mode == "hex":
            h = env.hex_put(k)
        else:
            h = env.sign(k, env.base_headers(len(env.body)), "UNSIGNED-PAYLOAD")
        s3raw.send_cut(env.url(k), "PUT", h, env.body, len(env.body) // 2)
        env.audit.for_key(env.bucket, k)  # the proxy has noticed once it logged the request
        time.sleep(CUT_SETTLE_S)  # and a wrongly completed upload would have reached the RGW by now
        expect(not object_exists(rgw(), env.bucket, k), f"{env.bucket}/{k} exists on the RGW")
        lines = env.audit.for_key(env.bucket, k, wait=False)
        expect(len(lines) == 1, f"{len(lines)} audit lines for the cut upload, expected one")
        expect(lines[0].get("event") == "write_failed" and lines[0].get("level") in ("warn", "error"),
               f"audit line is {lines[0].get('event')}/{lines[0].get('level')}, expected write_failed at warn or error")

    r.check("cut_body_hex_nothing_lands", cut_body, "hex", "hex")
    r.check("cut_body_unsigned_payload_nothing_lands", cut_body, "unsigned", "unsigned")

    # --- the audit log as a whole
    def audit_clean():
        text = env.audit.text()
        secrets = {"client secret": env.secret, "wrong secret": env.wrong_secret,
                   "upstream secret": os.environ["RGW_SECRET_KEY"]}
        for what, value in secrets.items():
            expect(value not in text, f"the {what} appears in the audit log")
        leaked = [s for s in env.signatures if s in text]
        expect(not leaked, f"{len(leaked)} of the {len(env.signatures)} signatures sent appear in the audit log")
        for pattern in (r"Signature=", r"X-Amz-Signature", r"chunk-signature="):
            expect(not re.search(pattern, text, re.IGNORECASE), f"the audit log contains {pattern!r}")

    r.check("audit_log_holds_no_secret_or_signature", audit_clean)

    if r.failed:
        r.note(f"audit log: {env.audit.path}")


if __name__ == "__main__":
    main_guard(main)
