#!/usr/bin/env python3
"""Turns run.sh's records.txt into the summary table, the ratios and summary.json.

Each record line is `SECTION TARGET key=value ...` (or `env key=value ...`). Every
figure printed is computed from those lines; the targets are the project's design goals,
expressed as ratios against a baseline measured in the same run.
"""
import json
import os
import statistics
import sys

MIB = 1048576.0
# The design goals (README of bench/): ratios to a baseline of the same run, and two
# absolute memory budgets that do not depend on the machine's speed.
GOAL_RPS_VS_NGINX = 1.0
GOAL_DOWNLOAD_VS_DIRECT = 0.9
GOAL_UPLOAD_VS_NGINX = 1.0
GOAL_ADDED_P99_MS = 0.5
GOAL_IDLE_RSS_MIB = 20.0
GOAL_PER_UPLOAD_KIB = 256.0


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
            fields = dict(w.split("=", 1) for w in rest if "=" in w)
            records.append((section, target, fields))
    return records


def num(s):
    return float(s)


def verdict(ok):
    return "meets goal" if ok else "BELOW GOAL"


def small_gets(by, env, out, p, sfx, origin):
    rps = {t: v[-1] for t, v in by.get("rps" + sfx, {}).items()}
    if rps:
        p("")
        p(f"1{'b' if sfx else 'a'}. small GET 1 KiB from {origin}, presigned, {env.get('connections')} "
          f"keep-alive connections, {env.get('duration_s')} s each (wrk)")
        p(f"   {'target':<10} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}")
        for t, f in rps.items():
            errs = sum(int(f[k]) for k in f if k.startswith("err_"))
            p(f"   {t:<10} {num(f['rps']):9.0f} {num(f['p50_us'])/1000:8.2f} {num(f['p99_us'])/1000:8.2f} {errs:7d}")
        out["rps" + sfx] = {t: num(f["rps"]) for t, f in rps.items()}
        for t in rps:
            if t.startswith("proxy-t"):
                n = "nginx-t" + t[len("proxy-t"):]
                if n in rps:
                    r = num(rps[t]["rps"]) / num(rps[n]["rps"])
                    out[f"rps{sfx}_ratio_{t}_vs_{n}"] = r
                    p(f"   {t}/{n} req/s = {r:.3f}  (goal >= {GOAL_RPS_VS_NGINX:.2f}: {verdict(r >= GOAL_RPS_VS_NGINX)})")
        if "direct" in rps:
            p("   vs direct: " + ", ".join(
                f"{t} {num(rps[t]['rps']) / num(rps['direct']['rps']):.2f}" for t in rps if t != "direct"))

    lat = {t: v[-1] for t, v in by.get("latency" + sfx, {}).items()}
    if lat:
        p(f"   latency on 1 connection, {env.get('duration_s')} s each; + = added to direct")
        p(f"   {'target':<10} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'+p50 ms':>8} {'+p99 ms':>8}")
        d = lat.get("direct")
        for t, f in lat.items():
            add50 = add99 = ""
            if d and t != "direct":
                a50 = (num(f["p50_us"]) - num(d["p50_us"])) / 1000
                a99 = (num(f["p99_us"]) - num(d["p99_us"])) / 1000
                add50, add99 = f"{a50:8.3f}", f"{a99:8.3f}"
                out[f"added{sfx}_p50_ms_{t}"] = a50
                out[f"added{sfx}_p99_ms_{t}"] = a99
            p(f"   {t:<10} {num(f['rps']):9.0f} {num(f['p50_us'])/1000:8.3f} {num(f['p99_us'])/1000:8.3f} {add50:>8} {add99:>8}")
        for t in lat:
            if t.startswith("proxy-t") and d:
                a99 = out[f"added{sfx}_p99_ms_{t}"]
                p(f"   {t} added p99 = {a99:.3f} ms  (goal < {GOAL_ADDED_P99_MS} ms: {verdict(a99 < GOAL_ADDED_P99_MS)})")


def main(path):
    recs = parse(path)
    env = {}
    for sec, _, f in recs:
        if sec == "env":
            env.update(f)
    by = {}
    for sec, target, f in recs:
        by.setdefault(sec, {}).setdefault(target, []).append(f)
    out = {"env": env}
    lines = []
    p = lines.append

    p(f"load average {env.get('load_start', '?')} at start, {env.get('load_end', '?')} at end; "
      f"pinning {'on (load CPU 0, servers CPU 1)' if env.get('pin') == '1' else 'off'}; "
      f"{env.get('cpus', '?')} CPUs")

    # 1. small GETs, in front of the RGW and in front of the static origin
    for sfx, origin in (("", "the RGW"), ("_static", "a static origin (nginx serving a file)")):
        small_gets(by, env, out, p, sfx, origin)

    # 2. and 3. large transfers: the median of the runs
    def medians(sec):
        return {t: statistics.median(num(f["bytes_per_s"]) for f in v) for t, v in by.get(sec, {}).items()}

    def runs(sec, t):
        return len(by.get(sec, {}).get(t, []))

    dl = medians("download")
    if dl:
        p("")
        p(f"2. large download {env.get('large_mib')} MiB (curl, median)")
        for t, v in dl.items():
            rel = f"  {v / dl['direct']:.2f} of direct" if "direct" in dl and t != "direct" else ""
            p(f"   {t:<10} {v / MIB:9.0f} MiB/s  ({runs('download', t)} runs){rel}")
        out["download_mib_s"] = {t: v / MIB for t, v in dl.items()}
        for t in dl:
            if t.startswith("proxy-t") and "direct" in dl:
                r = dl[t] / dl["direct"]
                out[f"download_ratio_{t}_vs_direct"] = r
                p(f"   {t}/direct = {r:.2f}  (goal >= {GOAL_DOWNLOAD_VS_DIRECT:.2f}: {verdict(r >= GOAL_DOWNLOAD_VS_DIRECT)})")

    for sec, title in (("upload_presigned", "presigned PUT, UNSIGNED-PAYLOAD"),
                       ("upload_hex", "header-signed, hex SHA-256 payload")):
        up = medians(sec)
        if not up:
            continue
        p("")
        p(f"3. large upload {env.get('large_mib')} MiB, {title} (curl -T, median)")
        for t, v in up.items():
            p(f"   {t:<10} {v / MIB:9.0f} MiB/s  ({runs(sec, t)} runs)")
        out[f"{sec}_mib_s"] = {t: v / MIB for t, v in up.items()}
        for t in up:
            if t.startswith("proxy-t"):
                n = "nginx-t" + t[len("proxy-t"):]
                if n in up:
                    r = up[t] / up[n]
                    out[f"{sec}_ratio_{t}_vs_{n}"] = r
                    p(f"   {t}/{n} = {r:.2f}  (goal >= {GOAL_UPLOAD_VS_NGINX:.2f}: {verdict(r >= GOAL_UPLOAD_VS_NGINX)})")
                if "direct" in up:
                    p(f"   {t}/direct = {up[t] / up['direct']:.2f}")

    # 4. memory
    rss = by.get("rss", {})
    if rss:
        p("")
        p("4. memory (VmRSS / VmHWM, MiB)")
        for t, v in rss.items():
            for f in v:
                phase = f["phase"]
                if phase == "concurrent_uploads":
                    n = int(f["uploads"])
                    per = (num(f["vmhwm_kib"]) - num(f["before_kib"])) / n
                    out[f"per_upload_kib_{t}"] = per
                    p(f"   {t:<10} {n} uploads in flight: peak {num(f['vmhwm_kib'])/1024:.1f} from "
                      f"{num(f['before_kib'])/1024:.1f} = {per:.0f} KiB per upload "
                      f"(goal < {GOAL_PER_UPLOAD_KIB:.0f} KiB: {verdict(per < GOAL_PER_UPLOAD_KIB)})")
                    continue
                extra = f", peak {num(f['vmhwm_kib'])/1024:.1f}" if "vmhwm_kib" in f else ""
                goal = ""
                if phase == "idle_start" and t.startswith("proxy-t"):
                    mib = num(f["vmrss_kib"]) / 1024
                    out[f"idle_rss_mib_{t}"] = mib
                    goal = f"  (goal < {GOAL_IDLE_RSS_MIB:.0f} MiB: {verdict(mib < GOAL_IDLE_RSS_MIB)})"
                p(f"   {t:<10} {phase:<14} rss {num(f['vmrss_kib'])/1024:.1f}{extra}{goal}")

    text = "\n".join(lines)
    print(text)
    with open(os.path.join(os.path.dirname(os.path.abspath(path)), "summary.json"), "w") as f:
        json.dump(out, f, indent=1, sort_keys=True)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: summarize.py records.txt")
    main(sys.argv[1])
