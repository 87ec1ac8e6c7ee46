#!/usr/bin/env python3
"""AWS SigV4 for the bench's load tools: presigned URLs, header-signed requests and
pre-encoded aws-chunked bodies. Standard library only, so the bench needs no S3 SDK.

Load tools (wrk, curl) cannot sign, but a signed request can be replayed: the signature
covers the method, path, query, Host and the signed headers, and a header-signed request
stays valid while its X-Amz-Date is within the server's 15-minute clock skew. So the bench
signs once, just before a run, and the tool sends the same bytes again and again.

    s3sign.py presign METHOD URL                   -> the URL, presigned (UNSIGNED-PAYLOAD)
    s3sign.py header  METHOD URL BODY              -> header lines; BODY's SHA-256 in hex
    s3sign.py chunked URL DATA OUT [CHUNK]         -> header lines; OUT = DATA as
                                                      STREAMING-AWS4-HMAC-SHA256-PAYLOAD
    s3sign.py trailer URL DATA OUT [CHUNK]         -> header lines; OUT = DATA as
                                                      STREAMING-UNSIGNED-PAYLOAD-TRAILER
                                                      with an x-amz-checksum-crc32 trailer;
                                                      OUT `-`: the header lines only (this
                                                      body is the same whatever the URL)

URL is http://host:port/bucket/key; the Host signed is host:port exactly as written, so it
must be the address the tool connects to. The key comes from S3SIGN_ACCESS_KEY and
S3SIGN_SECRET_KEY (never from the command line, which every process can read), the region
from S3SIGN_REGION (us-east-1). Header lines are `Name: value`, one a line, for wrk's
script and for curl's `-H @file`; Host and Content-Length are left to the tool, which
sends exactly the values signed (Host from the URL; Content-Length is not signed).
"""
import base64
import datetime
import hashlib
import hmac
import os
import sys
import urllib.parse
import zlib

ALGORITHM = "AWS4-HMAC-SHA256"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
STREAMING_SIGNED = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
STREAMING_UNSIGNED_TRAILER = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
TRAILER = "x-amz-checksum-crc32"
# The longest expiry SigV4 allows (7 days): a URL copied out of the results stays usable
# for a re-run by hand.
MAX_EXPIRES = 604800
# aws-chunked piece size: what the AWS SDKs for Java and JavaScript send (64 KiB).
DEFAULT_CHUNK = 65536
# Read and write the large files in big blocks, so the encoder is never the slow part.
IO_BLOCK = 8 << 20


def _hmac(key, msg):
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def _uri_encode(s, keep_slash):
    return urllib.parse.quote(s, safe="-_.~" + ("/" if keep_slash else ""))


class Signer:
    def __init__(self, url, access_key, secret_key, region, now=None):
        parts = urllib.parse.urlsplit(url)
        self.host = parts.netloc
        self.path = _uri_encode(urllib.parse.unquote(parts.path or "/"), keep_slash=True)
        self.query = dict(urllib.parse.parse_qsl(parts.query, keep_blank_values=True))
        self.scheme = parts.scheme
        self.access_key = access_key
        now = now or datetime.datetime.now(datetime.timezone.utc)
        self.amz_date = now.strftime("%Y%m%dT%H%M%SZ")
        day = now.strftime("%Y%m%d")
        self.scope = f"{day}/{region}/s3/aws4_request"
        key = _hmac(("AWS4" + secret_key).encode(), day)
        for part in (region, "s3", "aws4_request"):
            key = _hmac(key, part)
        self.key = key

    def _canonical_query(self, query):
        return "&".join(f"{_uri_encode(k, False)}={_uri_encode(v, False)}" for k, v in sorted(query.items()))

    def _signature(self, method, query, headers, payload):
        names = sorted(headers)
        canonical = "\n".join([method, self.path, self._canonical_query(query),
                               "".join(f"{n}:{headers[n].strip()}\n" for n in names),
                               ";".join(names), payload])
        to_sign = "\n".join([ALGORITHM, self.amz_date, self.scope,
                             hashlib.sha256(canonical.encode()).hexdigest()])
        return hmac.new(self.key, to_sign.encode(), hashlib.sha256).hexdigest(), ";".join(names)

    def presign(self, method, expires=MAX_EXPIRES):
        query = dict(self.query)
        query.update({
            "X-Amz-Algorithm": ALGORITHM,
            "X-Amz-Credential": f"{self.access_key}/{self.scope}",
            "X-Amz-Date": self.amz_date,
            "X-Amz-Expires": str(expires),
            "X-Amz-SignedHeaders": "host",
        })
        sig, _ = self._signature(method, query, {"host": self.host}, "UNSIGNED-PAYLOAD")
        return f"{self.scheme}://{self.host}{self.path}?{self._canonical_query(query)}&X-Amz-Signature={sig}"

    def header(self, method, payload, extra=None):
        """Returns (header lines without Host, signature)."""
        headers = {"host": self.host, "x-amz-content-sha256": payload, "x-amz-date": self.amz_date}
        headers.update({k.lower(): v for k, v in (extra or {}).items()})
        sig, signed = self._signature(method, self.query, headers, payload)
        lines = [f"{n}: {v}" for n, v in headers.items() if n != "host"]
        lines.append(f"Authorization: {ALGORITHM} Credential={self.access_key}/{self.scope}, "
                     f"SignedHeaders={signed}, Signature={sig}")
        return lines, sig

    def chunk_signature(self, previous, chunk):
        to_sign = "\n".join(["AWS4-HMAC-SHA256-PAYLOAD", self.amz_date, self.scope, previous,
                             EMPTY_SHA256, hashlib.sha256(chunk).hexdigest()])
        return hmac.new(self.key, to_sign.encode(), hashlib.sha256).hexdigest()


def _pieces(path, chunk):
    with open(path, "rb", buffering=IO_BLOCK) as f:
        while True:
            piece = f.read(chunk)
            if not piece:
                return
            yield piece


def encode_chunked(signer, data_path, out_path, chunk):
    """AWS's "Transferring Payload in Multiple Chunks": every chunk signed, each signature
    chained to the one before, starting from the header's (the seed)."""
    size = os.path.getsize(data_path)
    extra = {"content-encoding": "aws-chunked", "x-amz-decoded-content-length": str(size)}
    lines, previous = signer.header("PUT", STREAMING_SIGNED, extra)
    with open(out_path, "wb", buffering=IO_BLOCK) as out:
        for piece in _with_final_empty(_pieces(data_path, chunk)):
            previous = signer.chunk_signature(previous, piece)
            out.write(f"{len(piece):x};chunk-signature={previous}\r\n".encode())
            out.write(piece)
            out.write(b"\r\n")
    return lines


def _with_final_empty(pieces):
    """The pieces, then the empty one that ends every aws-chunked body."""
    yield from pieces
    yield b""


def encode_trailer(signer, data_path, out_path, chunk):
    """Unsigned chunks, then the final empty chunk carrying the CRC32 of the data as a
    trailer, as the AWS SDK for JavaScript v3 sends a stream body."""
    if out_path != "-":
        _write_trailer_body(data_path, out_path, chunk)
    extra = {"content-encoding": "aws-chunked",
             "x-amz-decoded-content-length": str(os.path.getsize(data_path)),
             "x-amz-trailer": TRAILER}
    lines, _ = signer.header("PUT", STREAMING_UNSIGNED_TRAILER, extra)
    return lines


def _write_trailer_body(data_path, out_path, chunk):
    crc = 0
    with open(out_path, "wb", buffering=IO_BLOCK) as out:
        for piece in _pieces(data_path, chunk):
            crc = zlib.crc32(piece, crc)
            out.write(f"{len(piece):x}\r\n".encode())
            out.write(piece)
            out.write(b"\r\n")
        value = base64.b64encode(crc.to_bytes(4, "big")).decode()
        out.write(f"0\r\n{TRAILER}:{value}\r\n\r\n".encode())


def _sha256_file(path):
    h = hashlib.sha256()
    if path != "-":
        with open(path, "rb") as f:
            while block := f.read(IO_BLOCK):
                h.update(block)
    return h.hexdigest()


def main(argv):
    if len(argv) < 3:
        sys.exit(__doc__)
    try:
        ak, sk = os.environ["S3SIGN_ACCESS_KEY"], os.environ["S3SIGN_SECRET_KEY"]
    except KeyError as e:
        sys.exit(f"s3sign: {e.args[0]} is not set")
    region = os.environ.get("S3SIGN_REGION", "us-east-1")
    cmd, args = argv[1], argv[2:]
    if cmd == "presign" and len(args) == 2:
        print(Signer(args[1], ak, sk, region).presign(args[0].upper()))
    elif cmd == "header" and len(args) == 3:
        lines, _ = Signer(args[1], ak, sk, region).header(args[0].upper(), _sha256_file(args[2]))
        print("\n".join(lines))
    elif cmd in ("chunked", "trailer") and len(args) in (3, 4):
        chunk = int(args[3]) if len(args) == 4 else DEFAULT_CHUNK
        encode = encode_chunked if cmd == "chunked" else encode_trailer
        print("\n".join(encode(Signer(args[0], ak, sk, region), args[1], args[2], chunk)))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
