#!/usr/bin/env python3
"""Checks the Prometheus alerting rules and their promtool unit tests against what the
proxy really exposes (proxy/metrics.cpp):

- every expr names only metrics, labels and label values the proxy renders (plus the
  job/instance labels and `up` series Prometheus adds when it scrapes);
- every promtool input series is one the proxy could render, so the unit tests exercise
  the real label sets;
- every alert has a severity of critical, warning or info and summary and description
  annotations;
- every alert is tested at least once firing and once silent, and every tested alert
  exists.

Usage: check_prometheus_names.py RULES.yml TESTS.yml [METRICS_CPP]
Prints one line per problem and exits 1 if there is any.
"""

import sys
from pathlib import Path

import yaml

from promql_names import check_expr, check_series_literal, load_exporter

SEVERITIES = {"critical", "warning", "info"}


def check_rules(rules_doc, exporter, where):
    problems, alerts = [], []
    for group in rules_doc.get("groups") or []:
        for rule in group.get("rules") or []:
            name = rule.get("alert") or rule.get("record")
            here = f"{where}: {name}"
            problems += check_expr(str(rule.get("expr", "")), exporter, here)
            if "alert" not in rule:
                continue
            alerts.append(name)
            severity = (rule.get("labels") or {}).get("severity")
            if severity not in SEVERITIES:
                problems.append(f"{here}: severity {severity!r} is not one of {sorted(SEVERITIES)}")
            annotations = rule.get("annotations") or {}
            for key in ("summary", "description"):
                if not str(annotations.get(key, "")).strip():
                    problems.append(f"{here}: no {key} annotation")
    if not alerts:
        problems.append(f"{where}: no alerting rules")
    return problems, alerts


def check_tests(tests_doc, exporter, alerts, where):
    problems = []
    firing, silent = set(), set()
    for i, test in enumerate(tests_doc.get("tests") or []):
        here = f"{where}: test {test.get('name', i)!r}"
        for s in test.get("input_series") or []:
            problems += check_series_literal(s["series"], exporter, here)
        for case in test.get("alert_rule_test") or []:
            name = case.get("alertname")
            if name not in alerts:
                problems.append(f"{here}: tests unknown alert {name}")
            (firing if case.get("exp_alerts") else silent).add(name)
    for name in alerts:
        if name not in firing:
            problems.append(f"{where}: no test where {name} fires")
        if name not in silent:
            problems.append(f"{where}: no test where {name} stays silent")
    return problems


def main(argv):
    if len(argv) not in (3, 4):
        print("usage: check_prometheus_names.py RULES.yml TESTS.yml [METRICS_CPP]", file=sys.stderr)
        return 2
    rules_path, tests_path = Path(argv[1]), Path(argv[2])
    metrics_cpp = Path(argv[3]) if len(argv) == 4 else Path(__file__).resolve().parents[2] / "proxy/metrics.cpp"
    exporter = load_exporter(metrics_cpp)
    problems, alerts = check_rules(yaml.safe_load(rules_path.read_text()), exporter, rules_path.name)
    problems += check_tests(yaml.safe_load(tests_path.read_text()), exporter, alerts, tests_path.name)
    for p in problems:
        print(p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
