#!/usr/bin/env python3
"""Checks the Grafana dashboard (conf/grafana/s3-acl-proxy-dashboard.json):

- it is JSON with a uid, a title and panels;
- every panel has a unique id and a gridPos inside the 24-column grid, and every panel
  that is not a row has a datasource and at least one query target, each with an expr
  and a refId unique within the panel;
- every expr (and every template variable's label_values() query) names only metrics,
  labels and label values the proxy exposes (proxy/metrics.cpp), so no panel stays
  empty because of a misspelt name;
- every {{label}} in a legend is a label the expr keeps: one it groups by, or, without
  any grouping, one of the metric's own labels.

Grafana itself is not run: how a panel renders is not checked.

Usage: check_grafana_dashboard.py DASHBOARD.json [METRICS_CPP]
Prints one line per problem and exits 1 if there is any.
"""

import json
import re
import sys
from pathlib import Path

from promql_names import check_expr, labels_of, load_exporter, parse_expr

GRID_COLUMNS = 24


def all_panels(panels):
    for panel in panels:
        yield panel
        yield from all_panels(panel.get("panels") or [])


def check_legend(expr, legend, exporter, where):
    selectors, grouping = parse_expr(expr)
    kept = set(grouping) if grouping else labels_of([name for name, _ in selectors], exporter)
    return [f"{where}: legend uses {{{{{label}}}}}, which the expr does not keep"
            for label in re.findall(r"\{\{\s*(\w+)\s*\}\}", legend or "") if label not in kept]


def check_templating(dashboard, exporter):
    problems = []
    for var in (dashboard.get("templating") or {}).get("list") or []:
        if var.get("type") != "query":
            continue
        query = var.get("query")
        query = query.get("query") if isinstance(query, dict) else query
        where = f"variable ${var.get('name')}"
        m = re.fullmatch(r"\s*label_values\((.*),\s*(\w+)\s*\)\s*", str(query))
        if not m:
            problems.append(f"{where}: only label_values(metric, label) queries are checked, got {query!r}")
            continue
        problems += check_expr(m.group(1), exporter, where)
        selectors, _ = parse_expr(m.group(1))
        if m.group(2) not in labels_of([name for name, _ in selectors], exporter):
            problems.append(f"{where}: no label {m.group(2)} on {m.group(1)}")
    return problems


def check_dashboard(dashboard, exporter):
    problems = []
    for key in ("uid", "title", "panels"):
        if not dashboard.get(key):
            problems.append(f"dashboard: no {key}")
    ids = set()
    queries = 0
    for panel in all_panels(dashboard.get("panels") or []):
        where = f"panel {panel.get('id')} {panel.get('title')!r}"
        if panel.get("id") in ids or panel.get("id") is None:
            problems.append(f"{where}: missing or repeated id")
        ids.add(panel.get("id"))
        grid = panel.get("gridPos") or {}
        if not all(isinstance(grid.get(k), int) for k in ("x", "y", "w", "h")):
            problems.append(f"{where}: gridPos needs integer x, y, w, h")
        elif grid["x"] < 0 or grid["w"] <= 0 or grid["x"] + grid["w"] > GRID_COLUMNS:
            problems.append(f"{where}: gridPos leaves the {GRID_COLUMNS}-column grid")
        if panel.get("type") == "row":
            continue
        if not panel.get("datasource"):
            problems.append(f"{where}: no datasource")
        targets = panel.get("targets") or []
        if not targets:
            problems.append(f"{where}: no query targets")
        ref_ids = set()
        for target in targets:
            expr, ref = target.get("expr"), target.get("refId")
            if not expr or not ref or ref in ref_ids:
                problems.append(f"{where}: a target without expr, or with a missing or repeated refId")
                continue
            ref_ids.add(ref)
            queries += 1
            problems += check_expr(expr, exporter, f"{where} {ref}")
            problems += check_legend(expr, target.get("legendFormat"), exporter, f"{where} {ref}")
    if queries == 0:
        problems.append("dashboard: no queries")
    return problems + check_templating(dashboard, exporter)


def main(argv):
    if len(argv) not in (2, 3):
        print("usage: check_grafana_dashboard.py DASHBOARD.json [METRICS_CPP]", file=sys.stderr)
        return 2
    path = Path(argv[1])
    metrics_cpp = Path(argv[2]) if len(argv) == 3 else Path(__file__).resolve().parents[2] / "proxy/metrics.cpp"
    try:
        dashboard = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        print(f"{path.name}: not JSON: {e}")
        return 1
    problems = check_dashboard(dashboard, load_exporter(metrics_cpp))
    for p in problems:
        print(p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
