"""Request-body reading shared by the fake upstreams (fake_*.py in this folder)."""
import hashlib

# Bodies are read in pieces of this size; the fakes keep only sizes and digests.
READ_PIECE = 65536


def read_body(handler):
    """Reads the whole body of the request `handler` (an http.server handler) as framed on the
    wire, Content-Length or Transfer-Encoding: chunked; returns (bytes read, md5 hex)."""
    md5, n = hashlib.md5(), 0
    rfile = handler.rfile
    if handler.headers.get("Transfer-Encoding", "").lower() == "chunked":
        while True:
            size = int(rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass
                break
            data = rfile.read(size)
            md5.update(data)
            n += len(data)
            rfile.readline()
    else:
        left = int(handler.headers.get("Content-Length") or 0)
        while left > 0:
            data = rfile.read(min(left, READ_PIECE))
            if not data:
                break
            md5.update(data)
            n += len(data)
            left -= len(data)
    return n, md5.hexdigest()
