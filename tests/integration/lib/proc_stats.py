"""What a running process holds, read from /proc: open file descriptors, resident memory and
its TCP connections to a given port (the faults and soak suites' leak checks).

    fd_count(pid)              open file descriptors
    rss_kib(pid)               VmRSS in KiB
    tcp_to(pid, port)          states of pid's TCP sockets whose remote port is port
                               (e.g. ["ESTABLISHED", "CLOSE_WAIT"]), like
                               `ss -tanp dport = :port` filtered to pid
    settle(fn, ok, timeout)    polls fn() until ok(value) or timeout; returns the last value
"""
import os
import time

# /proc/net/tcp's "st" column (include/net/tcp_states.h).
TCP_STATES = {1: "ESTABLISHED", 2: "SYN_SENT", 3: "SYN_RECV", 4: "FIN_WAIT1", 5: "FIN_WAIT2",
              6: "TIME_WAIT", 7: "CLOSE", 8: "CLOSE_WAIT", 9: "LAST_ACK", 10: "LISTEN", 11: "CLOSING"}
SETTLE_POLL_S = 0.1


def fd_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def rss_kib(pid):
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def _socket_inodes(pid):
    out = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue  # closed meanwhile
        if target.startswith("socket:["):
            out.add(target[len("socket:["):-1])
    return out


def tcp_to(pid, port):
    inodes = _socket_inodes(pid)
    states = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table, encoding="ascii") as f:
                rows = f.read().splitlines()[1:]
        except FileNotFoundError:
            continue
        for row in rows:
            cols = row.split()
            remote_port = int(cols[2].rsplit(":", 1)[1], 16)
            state = int(cols[3], 16)
            if remote_port == port and cols[9] in inodes and state != 10:
                states.append(TCP_STATES.get(state, str(state)))
    return states


def settle(fn, ok, timeout):
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if ok(value) or time.monotonic() >= deadline:
            return value
        time.sleep(SETTLE_POLL_S)
