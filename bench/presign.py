#!/usr/bin/env python3
"""Prints an AWS SigV4 presigned URL (query-string auth, UNSIGNED-PAYLOAD).

A presigned URL lets a plain HTTP load tool (wrk, curl) send valid SigV4 requests: the
signature covers only the method, path, query and Host, so the same URL can be replayed
until it expires. Standard library only, so the bench needs no S3 SDK.

Usage: presign.py METHOD URL ACCESS_KEY SECRET_KEY [REGION] [EXPIRES_SECONDS]
  URL is http://host:port/bucket/key; the Host signed is host:port exactly as written,
  so the URL must be the one the load tool will connect to.
"""
import datetime
import hashlib
import hmac
import sys
import urllib.parse

# The longest expiry SigV4 allows (7 days): the bench only needs it to outlive one run,
# but a long one keeps a URL copied out of the results usable for a re-run by hand.
MAX_EXPIRES = 604800


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def _uri_encode(s: str, keep_slash: bool) -> str:
    safe = "-_.~" + ("/" if keep_slash else "")
    return urllib.parse.quote(s, safe=safe)


def presign(method, url, access_key, secret_key, region="us-east-1", expires=MAX_EXPIRES, now=None):
    parts = urllib.parse.urlsplit(url)
    host = parts.netloc
    path = _uri_encode(urllib.parse.unquote(parts.path or "/"), keep_slash=True)
    now = now or datetime.datetime.now(datetime.timezone.utc)
    amz_date = now.strftime("%Y%m%dT%H%M%SZ")
    scope = f"{now.strftime('%Y%m%d')}/{region}/s3/aws4_request"
    query = dict(urllib.parse.parse_qsl(parts.query, keep_blank_values=True))
    query.update({
        "X-Amz-Algorithm": "AWS4-HMAC-SHA256",
        "X-Amz-Credential": f"{access_key}/{scope}",
        "X-Amz-Date": amz_date,
        "X-Amz-Expires": str(expires),
        "X-Amz-SignedHeaders": "host",
    })
    canonical_query = "&".join(
        f"{_uri_encode(k, False)}={_uri_encode(v, False)}" for k, v in sorted(query.items()))
    canonical_request = "\n".join(
        [method, path, canonical_query, f"host:{host}", "", "host", "UNSIGNED-PAYLOAD"])
    string_to_sign = "\n".join([
        "AWS4-HMAC-SHA256", amz_date, scope,
        hashlib.sha256(canonical_request.encode()).hexdigest()])
    key = _hmac(("AWS4" + secret_key).encode(), now.strftime("%Y%m%d"))
    for part in (region, "s3", "aws4_request"):
        key = _hmac(key, part)
    signature = hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()
    return f"{parts.scheme}://{host}{path}?{canonical_query}&X-Amz-Signature={signature}"


def main(argv):
    if len(argv) not in (5, 6, 7):
        sys.exit(__doc__)
    method, url, ak, sk = argv[1:5]
    region = argv[5] if len(argv) > 5 else "us-east-1"
    expires = int(argv[6]) if len(argv) > 6 else MAX_EXPIRES
    print(presign(method.upper(), url, ak, sk, region, expires))


if __name__ == "__main__":
    main(sys.argv)
