"""A TCP relay in front of a real S3 server that fails chosen exchanges on command.

Everything passes through byte for byte, so the real server (the RGW) answers every
request, except on a connection whose first request line matches an armed fault; that
one connection is then broken in the armed way, once:

    relay = FaultRelay(listen_port, target_port); relay.start()
    relay.arm(r"^PUT /bucket/key ", "reset_up", 256 * 1024)
    ... send the request through a proxy whose upstream is the relay ...
    relay.fired(r"^PUT /bucket/key ")     # True once the fault was applied
    relay.seen(r"^PUT /bucket/key ")      # connections whose first request line matched
    relay.stop()

Faults:
    reset_up   after N bytes of the request body (counted after the request head) have
               reached the server, reset both connections (TCP RST): the server dies
               mid-upload.
    cut_head   after N bytes of the response (its head included), close the connection
               to the proxy (FIN) and reset the one to the server: the answer is cut in
               its header.
    cut_down   after the response head and N bytes of its body, the same: the answer is
               cut mid-body.

Only the first request of a connection is looked at: a proxy that pools upstream
connections may send a later request on a connection nobody inspects, so a test that
arms faults runs its proxy without a keep-alive pool (upstream.max_idle_connections = 0).
The relay runs its own asyncio loop in a background thread; every method is thread-safe.
"""
import asyncio
import re
import socket
import struct
import threading

# Pieces read from either side; the relay holds at most this much per direction.
PIECE = 64 * 1024
# A request or response head larger than this is not S3; stop looking for its end there.
MAX_HEAD = 64 * 1024
# How long start() waits for the listener, and stop() for the loop to end.
START_WAIT_S = 5.0
ACTIONS = ("reset_up", "cut_head", "cut_down")


class _Fault:
    def __init__(self, pattern, action, after):
        self.pattern, self.action, self.after = re.compile(pattern), action, after
        self.fired = False


def _reset(writer):
    """Closes with TCP RST (SO_LINGER 0) instead of FIN."""
    sock = writer.get_extra_info("socket")
    try:
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    writer.transport.abort()


async def _read_head(reader, already=b""):
    """Reads until the end of an HTTP head; returns (bytes read, offset after the head) or
    (bytes, None) if the stream ended or the head grew too large first."""
    data = already
    while True:
        end = data.find(b"\r\n\r\n")
        if end >= 0:
            return data, end + 4
        if len(data) > MAX_HEAD:
            return data, None
        piece = await reader.read(PIECE)
        if not piece:
            return data, None
        data += piece


class FaultRelay:
    def __init__(self, listen_port, target_port, host="127.0.0.1"):
        self.listen_port, self.target_port, self.host = listen_port, target_port, host
        self._lock = threading.Lock()
        self._faults = []
        self._first_lines = []   # the first request line of every connection, in order
        self._loop = None
        self._server = None
        self._thread = None
        self._ready = threading.Event()
        self._error = None

    # --- control (any thread)
    def arm(self, pattern, action, after):
        if action not in ACTIONS:
            raise ValueError(f"unknown fault {action!r}")
        with self._lock:
            self._faults.append(_Fault(pattern, action, after))

    def fired(self, pattern):
        with self._lock:
            return any(f.fired for f in self._faults if f.pattern.pattern == pattern)

    def seen(self, pattern):
        """How many connections began with a request line matching pattern."""
        rx = re.compile(pattern)
        with self._lock:
            return sum(1 for line in self._first_lines if rx.search(line))

    def disarm_all(self):
        with self._lock:
            self._faults = [f for f in self._faults if f.fired]

    def start(self):
        self._thread = threading.Thread(target=self._run, name="fault-relay", daemon=True)
        self._thread.start()
        if not self._ready.wait(START_WAIT_S) or self._error:
            raise RuntimeError(f"fault relay did not start on {self.host}:{self.listen_port}: {self._error}")

    def stop(self):
        if self._loop is None:
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(START_WAIT_S)

    # --- the relay (its own thread)
    def _run(self):
        self._loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self._loop)
        try:
            self._server = self._loop.run_until_complete(
                asyncio.start_server(self._serve, self.host, self.listen_port, reuse_address=True))
        except OSError as err:
            self._error = err
            self._ready.set()
            return
        self._ready.set()
        try:
            self._loop.run_forever()
        finally:
            self._server.close()
            self._loop.close()

    def _take(self, first_line):
        with self._lock:
            self._first_lines.append(first_line)
            for f in self._faults:
                if not f.fired and f.pattern.search(first_line):
                    f.fired = True
                    return f
        return None

    async def _serve(self, c_reader, c_writer):
        try:
            u_reader, u_writer = await asyncio.open_connection(self.host, self.target_port)
        except OSError:
            _reset(c_writer)
            return
        head, end = await _read_head(c_reader)
        line = head.split(b"\r\n", 1)[0].decode("latin-1")
        fault = self._take(line) if end is not None else None
        broken = asyncio.Event()  # set when a fault has torn both connections down
        up = asyncio.ensure_future(self._pump_up(c_reader, u_writer, c_writer, head, end, fault, broken))
        down = asyncio.ensure_future(self._pump_down(u_reader, c_writer, u_writer, fault, broken))
        await asyncio.gather(up, down, return_exceptions=True)
        for w in (c_writer, u_writer):
            if not w.is_closing():
                w.close()

    @staticmethod
    async def _send(writer, data):
        writer.write(data)
        await writer.drain()

    async def _pump_up(self, src, dst, client_writer, head, end, fault, broken):
        """Proxy -> server. head (already read) goes first."""
        try:
            if fault is not None and fault.action == "reset_up":
                allowed = fault.after
                sent_body = min(len(head) - end, allowed)
                await self._send(dst, head[:end + sent_body])
                while sent_body < allowed:
                    piece = await src.read(PIECE)
                    if not piece:
                        break
                    take = piece[:allowed - sent_body]
                    await self._send(dst, take)
                    sent_body += len(take)
                broken.set()
                _reset(dst)
                _reset(client_writer)
                return
            await self._send(dst, head)
            while not broken.is_set():
                piece = await src.read(PIECE)
                if not piece:
                    break
                await self._send(dst, piece)
            if not broken.is_set() and dst.can_write_eof():
                dst.write_eof()
        except (ConnectionError, OSError):
            _reset(dst)

    async def _pump_down(self, src, dst, upstream_writer, fault, broken):
        """Server -> proxy."""
        try:
            if fault is not None and fault.action in ("cut_head", "cut_down"):
                if fault.action == "cut_head":
                    allowed = fault.after
                    data = b""
                else:
                    data, end = await _read_head(src)
                    allowed = (end if end is not None else len(data)) + fault.after
                while len(data) < allowed:
                    piece = await src.read(PIECE)
                    if not piece:
                        break
                    data += piece
                await self._send(dst, data[:allowed])
                broken.set()
                _reset(upstream_writer)   # the server side is torn down, not finished
                dst.close()               # the proxy sees a plain close mid-answer
                return
            while not broken.is_set():
                piece = await src.read(PIECE)
                if not piece:
                    break
                await self._send(dst, piece)
            if not broken.is_set() and dst.can_write_eof():
                dst.write_eof()
        except (ConnectionError, OSError):
            _reset(dst)
