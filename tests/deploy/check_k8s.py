#!/usr/bin/env python3
"""Checks deploy/k8s/s3-acl-proxy.yaml beyond the API schema: that the pieces fit together.

- Mastodon web and sidekiq Deployments each run the proxy as a native sidecar (an init
  container with restartPolicy: Always) and point S3_ENDPOINT at its listen address;
- the sidecar's liveness probe is /healthz, its readiness probe /readyz, both on the
  container port that is the config's admin_listen port; Prometheus scrape annotations
  name the same port;
- it has memory requests and limits and a CPU request;
- every secret file the config reads lies in a directory where a Secret volume is
  mounted, in the sidecar and in the check CronJob, whose container runs `check`;
- the config's audit log goes to stdout (the log collector reads the pod logs).

Usage: check_k8s.py MANIFEST.yaml [--config-out FILE]
--config-out writes the ConfigMap's TOML to FILE (for `s3-acl-proxy --check`).
Prints one line per problem and exits 1 if there is any; prints the objects as JSON on
stdout with --json (for validate_k8s.mjs).
"""

import argparse
import json
import sys
import tomllib
from pathlib import Path

import yaml

PROXY = "s3-acl-proxy"
APPS = {"mastodon-web", "mastodon-sidekiq"}


def find(objs, kind, name=None):
    return [o for o in objs if o.get("kind") == kind and (name is None or o["metadata"]["name"] == name)]


def port_of(hostport):
    return int(hostport.rsplit(":", 1)[1])


def secret_dirs(config):
    paths = []

    def walk(node):
        if isinstance(node, dict):
            for k, v in node.items():
                if k.endswith("secret_access_key_file"):
                    paths.append(str(Path(v).parent))
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)
    walk(config)
    return paths


def check_mounts(container, pod, config, where):
    problems = []
    secret_volumes = {v["name"] for v in pod.get("volumes", []) if "secret" in v}
    mounted = {m["mountPath"] for m in container.get("volumeMounts", []) if m["name"] in secret_volumes}
    for d in secret_dirs(config):
        if d not in mounted:
            problems.append(f"{where}: the config reads secrets from {d}, where no Secret volume is mounted")
    config_mounts = {m["mountPath"] for m in container.get("volumeMounts", [])}
    args = container.get("args", [])
    cfg = args[args.index("--config") + 1] if "--config" in args else None
    if cfg is None or str(Path(cfg).parent) not in config_mounts:
        problems.append(f"{where}: --config {cfg} is not in a mounted volume")
    return problems


def check(objs):
    problems = []
    maps = find(objs, "ConfigMap", PROXY)
    if not maps:
        return ["no ConfigMap s3-acl-proxy"], None
    text = next(iter(maps[0]["data"].values()))
    config = tomllib.loads(text)
    admin = port_of(config["server"]["admin_listen"])
    listen = config["server"]["listen"]
    if config.get("audit", {}).get("path") != "-":
        problems.append("config: [audit] path is not \"-\" (stdout, where the pod log collector reads it)")
    if not config["server"]["admin_listen"].startswith(("0.0.0.0:", "[::]:")):
        problems.append("config: admin_listen must be reachable by the kubelet's probes (0.0.0.0 or [::])")
    deployments = {d["metadata"]["name"]: d for d in find(objs, "Deployment")}
    for name in sorted(APPS - deployments.keys()):
        problems.append(f"no Deployment {name}")
    for name in sorted(APPS & deployments.keys()):
        where = f"Deployment {name}"
        tpl = deployments[name]["spec"]["template"]
        pod = tpl["spec"]
        sidecars = [c for c in pod.get("initContainers", []) if c["name"] == PROXY]
        if not sidecars or sidecars[0].get("restartPolicy") != "Always":
            problems.append(f"{where}: {PROXY} is not an init container with restartPolicy: Always")
            continue
        proxy = sidecars[0]
        ports = {p.get("name"): p["containerPort"] for p in proxy.get("ports", [])}
        for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
            get = (proxy.get(probe) or {}).get("httpGet") or {}
            port = ports.get(get.get("port"), get.get("port"))
            if get.get("path") != path or port != admin:
                problems.append(f"{where}: {probe} must GET {path} on the admin port {admin}, has {get}")
        ann = tpl["metadata"].get("annotations", {})
        if ann.get("prometheus.io/scrape") != "true" or ann.get("prometheus.io/port") != str(admin) \
                or ann.get("prometheus.io/path", "/metrics") != "/metrics":
            problems.append(f"{where}: Prometheus annotations must scrape /metrics on port {admin}")
        res = proxy.get("resources", {})
        if not res.get("requests", {}).get("memory") or not res.get("limits", {}).get("memory") \
                or not res.get("requests", {}).get("cpu"):
            problems.append(f"{where}: {PROXY} needs memory requests and limits and a cpu request")
        problems += check_mounts(proxy, pod, config, where)
        for c in pod.get("containers", []):
            env = {e["name"]: e.get("value") for e in c.get("env", [])}
            if env.get("S3_ENDPOINT") != f"http://{listen}":
                problems.append(f"{where}: container {c['name']} S3_ENDPOINT is {env.get('S3_ENDPOINT')}, the proxy listens on {listen}")
    jobs = find(objs, "CronJob")
    if not jobs:
        problems.append("no CronJob running `s3-acl-proxy check`")
    for job in jobs:
        pod = job["spec"]["jobTemplate"]["spec"]["template"]["spec"]
        c = pod["containers"][0]
        where = f"CronJob {job['metadata']['name']}"
        if (c.get("args") or [None])[0] != "check":
            problems.append(f"{where}: the container does not run `check`")
        problems += check_mounts(c, pod, config, where)
    return problems, text


def main(argv):
    ap = argparse.ArgumentParser()
    ap.add_argument("manifest")
    ap.add_argument("--config-out")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv[1:])
    objs = [o for o in yaml.safe_load_all(Path(args.manifest).read_text()) if o]
    if args.json:
        print(json.dumps(objs))
        return 0
    problems, text = check(objs)
    if args.config_out and text:
        Path(args.config_out).write_text(text)
    for p in problems:
        print(p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
