#!/usr/bin/env python3
"""Turns run.sh's records.txt into the verdict table, the detail tables and summary.json.

Each record line is `SECTION TARGET key=value ...` (or `env key=value ...`). Every figure
is computed from those lines, as a ratio to a baseline of the same run (nginx or the direct
connection) except the memory budgets, which do not depend on the machine's speed. In the
smoke mode (env mode=smoke) the figures are printed without a verdict: tiny sizes and 1 s
runs say nothing about the targets.

Usage: summarize.py records.txt     (prints the summary; writes summary.json beside it)
"""
import json
import os
import statistics
import sys

MIB = 1048576.0
# The performance targets (bench/README.md), each checked by one case below.
GOAL_RPS_VS_NGINX = 1.0
GOAL_GET_LARGE_VS_DIRECT = 0.90
GOAL_PUT_LARGE_VS_NGINX = 1.0
GOAL_ADDED_P99_MS = 0.5
GOAL_CPU_VS_NGINX = 1.0
GOAL_IDLE_RSS_MIB = 20.0
GOAL_PER_CONN_KIB = 32.0
GOAL_PER_UPLOAD_KIB = 256.0
# The concurrent uploads count as overlapping when the fastest took at least this share of
# the time its rate limit allows (a faster one finished before the others were under way).
MIN_OVERLAP_SHARE = 0.5


def parse(path):
    records = []
    with open(path) as f:
        for line in f:
            words = line.split()
            if not words:
                continue
            if words[0] == "env":
                section, target, rest = "env", "", words[1:]
            else:
                section, target, rest = words[0], words[1], words[2:]
            records.append((section, target, dict(w.split("=", 1) for w in rest if "=" in w)))
    return records


def rate_bytes(text):
    """curl's --limit-rate value (16M, 512K, 1G, or bytes) in bytes per second."""
    units = {"K": 1024, "M": MIB, "G": 1024 * MIB}
    return float(text[:-1]) * units[text[-1].upper()] if text[-1].upper() in units else float(text)


class Bench:
    def __init__(self, records):
        self.env = {}
        self.by = {}
        for sec, target, f in records:
            if sec == "env":
                self.env.update(f)
            else:
                self.by.setdefault(sec, {}).setdefault(target, []).append(f)
        self.smoke = self.env.get("mode") == "smoke"
        self.cases = []
        self.details = {}
        self.lines = []

    def last(self, sec, target):
        v = self.by.get(sec, {}).get(target)
        return v[-1] if v else None

    def rounds(self, sec, target):
        return self.by.get(sec, {}).get(target, [])

    def median_of(self, sec, target, key):
        """The median over a target's rounds (interleaved with the other targets' rounds)."""
        runs = self.rounds(sec, target)
        return statistics.median(float(f[key]) for f in runs) if runs else None

    def rps(self, sec, target):
        return self.median_of(sec, target, "rps")

    def added_ms(self, sec, target, key):
        """The median over rounds of target's latency minus direct's in the same round."""
        direct = {f["round"]: float(f[key]) for f in self.rounds(sec, "direct")}
        diffs = [(float(f[key]) - direct[f["round"]]) / 1000
                 for f in self.rounds(sec, target) if f["round"] in direct]
        return statistics.median(diffs) if diffs else None

    def median_mib_s(self, sec, target):
        runs = self.by.get(sec, {}).get(target, [])
        if not runs:
            return None
        return statistics.median(float(f["bytes"]) / float(f["time_s"]) / MIB for f in runs)

    def median_cpu_s(self, sec, target, key):
        """The median over runs of one large transfer's CPU seconds in `key`'s processes."""
        runs = [f for f in self.by.get(sec, {}).get(target, []) if key in f]
        if not runs:
            return None
        return statistics.median(int(f[key]) / float(self.env.get("clk_tck", 100)) for f in runs)

    def cpu_us_per_request(self, sec, target):
        """CPU time over all rounds / requests over all rounds."""
        runs = self.rounds(sec, target)
        requests = sum(int(f["requests"]) for f in runs)
        if not requests:
            return None
        ticks = sum(int(f["cpu_ticks"]) for f in runs)
        return ticks / float(self.env.get("clk_tck", 100)) / requests * 1e6

    def failed_requests(self, *sections):
        """Requests that did not get a 2xx in these wrk sections, all targets and rounds."""
        return sum(int(f[k]) for sec in sections for runs in self.by.get(sec, {}).values()
                   for f in runs for k in f if k.startswith("err_"))

    def case(self, cid, label, measure, figure, op, goal, fmt="{:.2f}", sections=(), problem=None):
        """One verdict line; the goal is printed with fmt too, so 0.90 reads as the target does.
        A figure from runs in which requests failed (or that did not measure what they should,
        problem) is shown but never counts as met."""
        errors = self.failed_requests(*sections)
        if errors:
            problem = f"{errors} requests failed"
        if figure is None:
            met, shown = (None if self.smoke else False), "missing"
        else:
            met = None if self.smoke else (figure >= goal if op == ">=" else figure <= goal) and not problem
            shown = fmt.format(figure)
        target = f"{op} {fmt.format(goal)}"
        self.cases.append({"id": cid, "case": label, "measure": measure, "figure": figure,
                           "target": target, "met": met, "problem": problem})
        result = "-" if self.smoke else ("met" if met else "NOT MET")
        if problem:
            result = f"INVALID: {problem}"
        self.lines.append(f"{label:<52} {measure:<26} {shown:>9}  {target:<9} {result}")

    def missing_runs(self, sec, *targets):
        """A problem when a large transfer failed in some run (failed runs are not recorded)."""
        want = int(self.env.get("rgw_runs" if sec.startswith("rgw_") else "runs", 0))
        got = {t: len(self.rounds(sec, t)) for t in targets}
        short = [f"{t} {n} of {want}" for t, n in got.items() if n < want]
        return "runs failed: " + ", ".join(short) if short else None

    def ratio(self, a, b):
        return a / b if a is not None and b else None


def rate_limited_s(u):
    """How long one concurrent upload takes at its rate limit alone."""
    return float(u["mib"]) * MIB / rate_bytes(u["rate"])


def uploads_overlapped(u):
    return float(u["time_min_s"]) >= MIN_OVERLAP_SHARE * rate_limited_s(u)


def verdicts(b):
    env = b.env
    conns, large, rgw_large = env.get("connections"), env.get("large_mib"), env.get("rgw_large_mib")
    p = b.lines.append
    head = f"{'case':<52} {'measure':<26} {'figure':>9}  {'target':<9} result"
    p(head)
    p("-" * len(head))
    b.case("get_1k_rps", f"GetObject 1 KiB, {conns} keep-alive connections", "req/s proxy / nginx",
           b.ratio(b.rps("get1k", "proxy"), b.rps("get1k", "nginx")), ">=", GOAL_RPS_VS_NGINX,
           sections=("get1k",))
    for size, sec, cid in (("1 KiB", "put1k", "put_1k_rps"), ("1 MiB", "put1m", "put_1m_rps")):
        b.case(cid, f"PutObject {size}, hex payload hash verified", "req/s proxy / nginx",
               b.ratio(b.rps(sec, "proxy"), b.rps(sec, "nginx")), ">=", GOAL_RPS_VS_NGINX, sections=(sec,))
    b.case("get_large", f"GetObject {large} MiB, one stream", "MiB/s proxy / direct",
           b.ratio(b.median_mib_s("get_large", "proxy"), b.median_mib_s("get_large", "direct")),
           ">=", GOAL_GET_LARGE_VS_DIRECT, problem=b.missing_runs("get_large", "proxy", "direct"))
    for mode, what in (("hex", "hex verified"), ("chunked", "signed aws-chunked"),
                       ("trailer", "unsigned trailer (CRC32)")):
        sec = f"put_large_{mode}"
        b.case(sec, f"PutObject {large} MiB, {what}", "MiB/s proxy / nginx",
               b.ratio(b.median_mib_s(sec, "proxy"), b.median_mib_s(sec, "nginx")), ">=", GOAL_PUT_LARGE_VS_NGINX,
               problem=b.missing_runs(sec, "proxy", "nginx"))
    added = b.added_ms("paced", "proxy", "p99_us")
    b.case("paced_added_p99", f"paced GetObject 1 KiB, {env.get('paced_connections')} connections",
           "added p99 vs direct, ms", added, "<=", GOAL_ADDED_P99_MS, "{:.2f}", sections=("paced",))
    b.case("cpu_per_request", "CPU per small request (GetObject 1 KiB)", "CPU proxy / nginx",
           b.ratio(b.cpu_us_per_request("get1k", "proxy"), b.cpu_us_per_request("get1k", "nginx")),
           "<=", GOAL_CPU_VS_NGINX, sections=("get1k",))
    idle = b.last("idle", "proxy")
    b.case("idle_rss", "memory: idle RSS after start", "MiB",
           float(idle["vmrss_kib"]) / 1024 if idle else None, "<=", GOAL_IDLE_RSS_MIB, "{:.1f}")
    c = b.last("conns", "proxy")
    per_conn = (float(c["after_kib"]) - float(c["before_kib"])) / int(c["conns"]) if c else None
    b.case("per_idle_conn", f"memory: per idle keep-alive connection ({c['conns'] if c else '?'})",
           "KiB", per_conn, "<=", GOAL_PER_CONN_KIB, "{:.1f}",
           problem=f"{c['ok']} of {c['conns']} GETs got a 2xx" if c and c["ok"] != c["conns"] else None)
    u = b.last("uploads", "proxy")
    per_up = (float(u["vmhwm_kib"]) - float(u["before_kib"])) / int(u["uploads"]) if u else None
    problem = None
    if u and u["ok"] != u["uploads"]:
        problem = f"{u['ok']} of {u['uploads']} uploads got a 2xx"
    elif u and not uploads_overlapped(u):
        problem = "the uploads were not all in flight together"
    b.case("per_upload", f"memory: per active upload ({env.get('concurrent_uploads')} x "
           f"{env.get('concurrent_mib')} MiB)", "KiB", per_up, "<=", GOAL_PER_UPLOAD_KIB, "{:.0f}",
           problem=problem)

    if "rgw_get1k" in b.by:
        p("")
        p("Ceph RGW (the same ratios on a real S3 server)")
        b.case("rgw_get_1k_rps", f"RGW GetObject 1 KiB, {conns} connections", "req/s proxy / nginx",
               b.ratio(b.rps("rgw_get1k", "proxy"), b.rps("rgw_get1k", "nginx")), ">=", GOAL_RPS_VS_NGINX,
               sections=("rgw_get1k",))
        b.case("rgw_put_1k_rps", "RGW PutObject 1 KiB, hex verified", "req/s proxy / nginx",
               b.ratio(b.rps("rgw_put1k", "proxy"), b.rps("rgw_put1k", "nginx")), ">=", GOAL_RPS_VS_NGINX,
               sections=("rgw_put1k",))
        b.case("rgw_get_large", f"RGW GetObject {rgw_large} MiB, one stream", "MiB/s proxy / direct",
               b.ratio(b.median_mib_s("rgw_get_large", "proxy"), b.median_mib_s("rgw_get_large", "direct")),
               ">=", GOAL_GET_LARGE_VS_DIRECT, problem=b.missing_runs("rgw_get_large", "proxy", "direct"))
        b.case("rgw_put_large_hex", f"RGW PutObject {rgw_large} MiB, hex verified", "MiB/s proxy / nginx",
               b.ratio(b.median_mib_s("rgw_put_large_hex", "proxy"), b.median_mib_s("rgw_put_large_hex", "nginx")),
               ">=", GOAL_PUT_LARGE_VS_NGINX, problem=b.missing_runs("rgw_put_large_hex", "proxy", "nginx"))
    if not b.smoke:
        met = sum(1 for c in b.cases if c["met"])
        p("")
        p(f"{met} of {len(b.cases)} targets met")


def details(b):
    p = b.lines.append
    p("")
    p("Details (direct = the origin itself; CPU = the server's user+system time per request, or per\n"
      "transfer for the large ones, where the origin's behind it is given too)")
    titles = {"get1k": "GetObject 1 KiB", "put1k": "PutObject 1 KiB hex", "put1m": "PutObject 1 MiB hex",
              "rgw_get1k": "RGW GetObject 1 KiB", "rgw_put1k": "RGW PutObject 1 KiB hex"}
    for sec, title in titles.items():
        rows = b.by.get(sec)
        if not rows:
            continue
        p(f"  {title}, {b.env.get('connections')} connections (median of {len(rows['direct'] if 'direct' in rows else [])} rounds)")
        p(f"    {'target':<8} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'CPU us':>8} {'errors':>7}")
        b.details[sec] = {}
        for t in rows:
            errs = sum(int(f[k]) for f in rows[t] for k in f if k.startswith("err_"))
            cpu = b.cpu_us_per_request(sec, t)
            d = {"rps": b.rps(sec, t), "p50_ms": b.median_of(sec, t, "p50_us") / 1000,
                 "p99_ms": b.median_of(sec, t, "p99_us") / 1000, "cpu_us_per_request": cpu,
                 "errors": errs, "rounds": len(rows[t])}
            b.details[sec][t] = d
            p(f"    {t:<8} {d['rps']:9.0f} {d['p50_ms']:8.2f} {d['p99_ms']:8.2f} "
              f"{cpu if cpu is not None else float('nan'):8.1f} {errs:7d}")

    rows = b.by.get("paced")
    if rows:
        p(f"  paced GetObject 1 KiB, {b.env.get('paced_connections')} connections (median of rounds); "
          f"+ = added to direct in the same round")
        p(f"    {'target':<8} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'+p50 ms':>8} {'+p99 ms':>8}")
        b.details["paced"] = {}
        for t in rows:
            d = {"rps": b.rps("paced", t), "p50_ms": b.median_of("paced", t, "p50_us") / 1000,
                 "p99_ms": b.median_of("paced", t, "p99_us") / 1000,
                 "added_p50_ms": b.added_ms("paced", t, "p50_us"),
                 "added_p99_ms": b.added_ms("paced", t, "p99_us"), "rounds": len(rows[t])}
            b.details["paced"][t] = d
            nan = float("nan")
            p(f"    {t:<8} {d['rps']:9.0f} {d['p50_ms']:8.3f} {d['p99_ms']:8.3f} "
              f"{d['added_p50_ms'] if d['added_p50_ms'] is not None else nan:8.3f} "
              f"{d['added_p99_ms'] if d['added_p99_ms'] is not None else nan:8.3f}")

    rows = b.by.get("instructions")
    if rows:
        per = {t: int(v[-1]["ir_per_request"]) for t, v in rows.items()}
        b.details["instructions"] = {t: {"ir_per_request": per[t], "requests": int(v[-1]["requests"])}
                                     for t, v in rows.items()}
        text = ", ".join(f"{t} {n:,}" for t, n in per.items())
        if per.get("nginx") and "proxy" in per:
            text += f" ({per['proxy'] / per['nginx']:.1f} x nginx)"
        p("  user-space instructions per small GetObject (callgrind; no kernel work, SHA-256 without")
        p(f"  the CPU's SHA extensions): {text}")

    large = {"get_large": "GetObject", "put_large_hex": "PutObject hex", "put_large_chunked":
             "PutObject signed aws-chunked", "put_large_trailer": "PutObject unsigned trailer",
             "rgw_get_large": "RGW GetObject", "rgw_put_large_hex": "RGW PutObject hex"}
    for sec, title in large.items():
        rows = b.by.get(sec)
        if not rows:
            continue
        size = b.env.get("rgw_large_mib" if sec.startswith("rgw_") else "large_mib")
        p(f"  {title} {size} MiB, one stream (median of runs)")
        b.details[sec] = {}
        direct = b.median_mib_s(sec, "direct")
        for t in rows:
            v = b.median_mib_s(sec, t)
            server_s, origin_s = b.median_cpu_s(sec, t, "cpu_ticks"), b.median_cpu_s(sec, t, "origin_ticks")
            b.details[sec][t] = {"mib_s": v, "runs": len(rows[t]), "server_cpu_s": server_s, "origin_cpu_s": origin_s}
            rel = f"  {v / direct:.2f} of direct" if direct and t != "direct" else ""
            cpu = ""
            if server_s is not None:
                cpu = f"; CPU {server_s:.2f} s" + (f" + origin {origin_s:.2f} s" if t != "direct" else " (the origin)")
            p(f"    {t:<8} {v:9.0f} MiB/s  ({len(rows[t])} runs){rel}{cpu}")

    p("  memory (VmRSS; nginx = master + workers)")
    for t, v in b.by.get("idle", {}).items():
        p(f"    idle {t:<14} {float(v[-1]['vmrss_kib']) / 1024:7.1f} MiB")
    b.details["idle_rss_mib"] = {t: float(v[-1]["vmrss_kib"]) / 1024 for t, v in b.by.get("idle", {}).items()}
    b.details["idle_conns"] = {}
    for t, v in b.by.get("conns", {}).items():
        f = v[-1]
        per = (float(f["after_kib"]) - float(f["before_kib"])) / int(f["conns"])
        b.details["idle_conns"][t] = {"conns": int(f["conns"]), "before_kib": int(f["before_kib"]),
                                      "after_kib": int(f["after_kib"]), "per_conn_kib": per}
        p(f"    {f['conns']} idle connections, {t:<6} {float(f['before_kib']) / 1024:7.1f} -> "
          f"{float(f['after_kib']) / 1024:7.1f} MiB = {per:.1f} KiB each")
    u = b.last("uploads", "proxy")
    if u:
        n = int(u["uploads"])
        expected = rate_limited_s(u)
        overlapped = uploads_overlapped(u)
        b.details["uploads"] = {"uploads": n, "ok": int(u["ok"]), "before_kib": int(u["before_kib"]),
                                "vmhwm_kib": int(u["vmhwm_kib"]), "time_min_s": float(u["time_min_s"]),
                                "time_max_s": float(u["time_max_s"]), "rate_limited_s": expected,
                                "overlapped": overlapped}
        p(f"    {n} uploads of {u['mib']} MiB at {u['rate']}/s each: peak {float(u['vmhwm_kib']) / 1024:.1f} "
          f"from {float(u['before_kib']) / 1024:.1f} MiB; each took {float(u['time_min_s']):.1f}.."
          f"{float(u['time_max_s']):.1f} s (the rate limit alone: {expected:.1f} s)")
        if not overlapped:
            p("    WARNING: an upload finished long before the rate limit allows: they were not all in flight")


def main(path):
    b = Bench(parse(path))
    env = b.env
    b.lines.append(f"s3-acl-proxy bench, {'SMOKE (no thresholds: tiny sizes, 1 s runs)' if b.smoke else 'full'}; "
                   f"proxy threads = nginx workers = {env.get('threads')}; {env.get('cpus')} CPUs; "
                   f"load average {env.get('load_start', '?')} at start, {env.get('load_end', '?')} at end")
    b.lines.append("")
    verdicts(b)
    details(b)
    print("\n".join(b.lines))
    out = {"mode": env.get("mode"), "env": env, "cases": b.cases, "details": b.details}
    if not b.smoke:
        out["met"] = sum(1 for c in b.cases if c["met"])
        out["total"] = len(b.cases)
    with open(os.path.join(os.path.dirname(os.path.abspath(path)), "summary.json"), "w") as f:
        json.dump(out, f, indent=1, sort_keys=True)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
