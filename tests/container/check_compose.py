#!/usr/bin/env python3
"""Checks that the pieces of docker/compose.yaml fit together, on the output of
`docker-compose config` (variables resolved, paths absolute):

- every file or directory it mounts or builds from exists, and every secret file lies in the
  git-ignored docker/secrets/ the operator fills;
- Mastodon's web and sidekiq (both upload) and streaming send S3_ENDPOINT to the proxy's
  listen port, sign with a [[clients]] key of the proxy's config (not the storage key), and
  set S3_ALIAS_HOST; the proxy's secrets are where its config reads them;
- the audit log goes to a volume Alloy mounts at the path deploy/alloy/config.alloy reads;
- Prometheus scrapes the proxy's admin port under the job the alert rules name, and the
  alert rules are mounted where its config loads them (with --prometheus-dir DIR, the
  files are laid out there as the container sees /etc/prometheus, for promtool);
- Grafana gets both data source types and the dashboards at the provisioned path.

Prints one PASS/FAIL line per check; exits 1 if any failed.
With --rgw-variant OUT CHECK_DIR it also writes OUT: the proxy service alone, as
resolved, changed only in what a test machine without a registry needs -- host networking
to a storage on loopback (MinIO's image cannot be pulled), and the check's config and
storage secret from CHECK_DIR.

Usage: check_compose.py RESOLVED.yaml REPO_ROOT [--prometheus-dir DIR] [--rgw-variant OUT CHECK_DIR]
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tomllib

import yaml

PROXY = "s3-acl-proxy"
PROXY_CONFIG = "/etc/s3-acl-proxy/s3-acl-proxy.toml"
UPLOADERS = ("web", "sidekiq")   # both write media; streaming reads no S3
MASTODON = ("web", "sidekiq", "streaming")

results = []


def check(name, ok, detail=""):
    results.append(ok)
    print(f"{'PASS' if ok else 'FAIL'} {name}" + (f": {detail}" if detail and not ok else ""))


def mounts(service):
    """(source, target, is_bind) for each volume entry."""
    out = []
    for v in service.get("volumes", []) or []:
        if isinstance(v, dict):
            out.append((v.get("source", ""), v["target"], v.get("type") == "bind"))
            continue
        parts = v.split(":")
        src, dst = parts[0], parts[1]
        out.append((src, dst, src.startswith("/") or src.startswith(".")))
    return out


def host_path(service, target):
    """The host file or directory behind `target` inside the container (a bind mount of it
    or of a parent directory), or None."""
    for src, dst, bind in mounts(service):
        if not bind:
            continue
        if target == dst:
            return src
        if target.startswith(dst.rstrip("/") + "/"):
            return os.path.join(src, os.path.relpath(target, dst))
    return None


def volume_at(service, directory):
    for src, dst, bind in mounts(service):
        if not bind and dst.rstrip("/") == directory.rstrip("/"):
            return src
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("resolved")
    ap.add_argument("root")
    ap.add_argument("--prometheus-dir")
    ap.add_argument("--rgw-variant", nargs=2, metavar=("OUT", "CHECK_DIR"))
    a = ap.parse_args()
    root = os.path.realpath(a.root)
    doc = yaml.safe_load(open(a.resolved))
    services = doc["services"]

    # 1. Files.
    missing = []
    for name, svc in services.items():
        for src, dst, bind in mounts(svc):
            if bind and not os.path.exists(src):
                missing.append(f"{name}: {src}")
        b = svc.get("build")
        if b:
            ctx = b["context"] if isinstance(b, dict) else b
            df = os.path.join(ctx, b.get("dockerfile", "Dockerfile")) if isinstance(b, dict) else os.path.join(ctx, "Dockerfile")
            for p in (ctx, df):
                if not os.path.exists(p):
                    missing.append(f"{name}: build {p}")
    check("compose_files_exist (every mount and build path)", not missing, ", ".join(missing))
    secrets_dir = os.path.join(root, "docker", "secrets")
    bad_secrets = []
    for sname, s in (doc.get("secrets") or {}).items():
        f = s.get("file", "")
        if os.path.dirname(f) != secrets_dir:
            bad_secrets.append(f"{sname}: {f} is not in docker/secrets/")
        elif subprocess.run(["git", "-C", root, "check-ignore", "-q", f]).returncode != 0:
            bad_secrets.append(f"{sname}: {f} is not git-ignored")
    check("compose_secret_files_in_ignored_dir (docker/secrets/, filled by the operator)", not bad_secrets,
          ", ".join(bad_secrets))

    # 2. The proxy and Mastodon.
    proxy = services.get(PROXY)
    if proxy is None:
        check("compose_has_proxy", False, "no service " + PROXY)
        return 1
    cfg_path = host_path(proxy, PROXY_CONFIG)
    cfg = tomllib.load(open(cfg_path, "rb")) if cfg_path and os.path.exists(cfg_path) else None
    check(f"proxy_config_mounted ({PROXY_CONFIG})", cfg is not None, str(cfg_path))
    if cfg is None:
        return 1
    listen_port = cfg["server"]["listen"].rsplit(":", 1)[1]
    admin_port = cfg["server"]["admin_listen"].rsplit(":", 1)[1]
    client_ids = {c["access_key_id"]: c for c in cfg.get("clients", [])}
    storage_id = cfg["upstream"]["access_key_id"]
    problems = []
    for name in MASTODON:
        svc = services.get(name)
        if svc is None:
            problems.append(f"no service {name}")
            continue
        env = svc.get("environment") or {}
        want = f"http://{PROXY}:{listen_port}"
        if env.get("S3_ENDPOINT") != want:
            problems.append(f"{name}: S3_ENDPOINT={env.get('S3_ENDPOINT')}, not {want}")
        if not env.get("S3_ALIAS_HOST"):
            problems.append(f"{name}: no S3_ALIAS_HOST")
        key = env.get("AWS_ACCESS_KEY_ID")
        if key not in client_ids:
            problems.append(f"{name}: AWS_ACCESS_KEY_ID={key} is no [[clients]] key")
        if key == storage_id:
            problems.append(f"{name}: signs with the storage key")
        client = client_ids.get(key, {})
        var = client.get("secret_access_key_env")
        if var and (proxy.get("environment") or {}).get(var) != env.get("AWS_SECRET_ACCESS_KEY"):
            problems.append(f"{name}: AWS_SECRET_ACCESS_KEY differs from the proxy's {var}")
        if name in UPLOADERS and PROXY not in (svc.get("depends_on") or {}):
            problems.append(f"{name}: does not depend on {PROXY}")
    check("mastodon_uses_the_proxy (web, sidekiq, streaming: S3_ENDPOINT, client key, S3_ALIAS_HOST)",
          not problems, "; ".join(problems))

    secret_files = [v for k, v in cfg["upstream"].items() if k == "secret_access_key_file"]
    secret_files += [c["secret_access_key_file"] for c in cfg.get("clients", []) if "secret_access_key_file" in c]
    names = [s if isinstance(s, str) else s.get("source") for s in proxy.get("secrets", [])]
    unmounted = [f for f in secret_files if not (f.startswith("/run/secrets/") and os.path.basename(f) in names)]
    check("proxy_secret_files_are_compose_secrets", bool(secret_files) and not unmounted, ", ".join(unmounted))

    # 3. Audit log to Alloy.
    audit = cfg["audit"]["path"]
    audit_dir = os.path.dirname(audit)
    vol = volume_at(proxy, audit_dir)
    alloy = services.get("alloy", {})
    alloy_cfg = host_path(alloy, "/etc/alloy/config.alloy")
    alloy_paths = re.findall(r'"__path__"\s*=\s*"([^"]+)"', open(alloy_cfg).read()) if alloy_cfg else []
    ok = vol is not None and volume_at(alloy, audit_dir) == vol and audit in alloy_paths
    check("audit_log_reaches_alloy (shared volume, the path config.alloy reads)", ok,
          f"proxy volume {vol} at {audit_dir}, alloy reads {alloy_paths}")

    # 4. Prometheus.
    prom = services.get("prometheus", {})
    prom_cfg_path = host_path(prom, "/etc/prometheus/prometheus.yml")
    prom_cfg = yaml.safe_load(open(prom_cfg_path)) if prom_cfg_path else {}
    targets = [(j.get("job_name"), t) for j in prom_cfg.get("scrape_configs", [])
               for sc in j.get("static_configs", []) for t in sc.get("targets", [])]
    check("prometheus_scrapes_the_proxy (job s3-acl-proxy, admin port)",
          ("s3-acl-proxy", f"{PROXY}:{admin_port}") in targets, str(targets))
    if a.prometheus_dir:
        # The container's /etc/prometheus as its mounts make it, for promtool.
        laid = 0
        for src, dst, bind in mounts(prom):
            if bind and dst.startswith("/etc/prometheus/"):
                out = os.path.join(a.prometheus_dir, os.path.relpath(dst, "/etc/prometheus"))
                os.makedirs(os.path.dirname(out), exist_ok=True)
                (shutil.copytree if os.path.isdir(src) else shutil.copy)(src, out)
                laid += 1
        check("prometheus_files_laid_out", laid >= 2, f"{laid} mounts under /etc/prometheus")

    # 5. Grafana.
    graf = services.get("grafana", {})
    prov = host_path(graf, "/etc/grafana/provisioning")
    ds_types, dash_paths = set(), []
    if prov:
        for f in os.listdir(os.path.join(prov, "datasources")):
            ds_types |= {d["type"] for d in yaml.safe_load(open(os.path.join(prov, "datasources", f)))["datasources"]}
        for f in os.listdir(os.path.join(prov, "dashboards")):
            dash_paths += [p["options"]["path"] for p in yaml.safe_load(open(os.path.join(prov, "dashboards", f)))["providers"]]
    dash_files = [f for p in dash_paths if (h := host_path(graf, p)) and os.path.isdir(h)
                  for f in os.listdir(h) if f.endswith(".json")]
    check("grafana_provisioned (prometheus and loki data sources, the conf/grafana dashboards)",
          {"prometheus", "loki"} <= ds_types and len(dash_files) >= 2, f"types {ds_types}, dashboards {dash_files}")

    if a.rgw_variant:
        out, check_dir = a.rgw_variant
        svc = dict(proxy)
        svc.pop("networks", None)
        svc.pop("depends_on", None)
        svc["network_mode"] = "host"
        svc["volumes"] = [f"{check_dir}/s3-acl-proxy.toml:{PROXY_CONFIG}:ro" if dst == PROXY_CONFIG else v
                          for v, (src, dst, bind) in zip(svc["volumes"], mounts(svc))]
        variant = {
            "version": doc.get("version", "3.9"),
            "services": {PROXY: svc},
            "secrets": {n: {"file": f"{check_dir}/{n}"} for n in names},
            "volumes": {src: doc["volumes"][src] or {} for src, dst, bind in mounts(svc) if not bind},
        }
        with open(out, "w") as f:
            yaml.safe_dump(variant, f, sort_keys=False)
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
