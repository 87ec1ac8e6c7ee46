#!/usr/bin/env python3
"""Checks that the log shipping and the queries over it cannot drift from the audit log.

Fed real audit lines (files of one JSON object per line, as the proxy writes them), it checks:

- the Alloy pipeline (deploy/alloy/config.alloy): every field its stage.json extracts is in
  the lines with the type the pipeline needs (labels and metadata: strings; ts: RFC 3339);
  the stream labels are exactly level, event and op and stay few; request_id,
  access_key_id, bucket and key are structured metadata; every label and metadata entry
  is one stage.json extracts;
- every LogQL query of the Loki rules (conf/loki/s3-acl-proxy-rules.yml) and of each
  dashboard's Loki panels: its stream selector uses only labels the pipeline attaches, with
  values found in the lines; every field it filters or groups on is a pipeline label, a
  structured metadata entry or (after `| json`) a field of the lines, of the type the
  comparison needs; every value compared for equality on a field is found in the lines.

A value or field the lines never show is a failure: feed it the lines of a whole run.

Usage: check_log_pipeline.py --alloy FILE [--loki-rules FILE] [--dashboard FILE]... AUDIT.jsonl...
Prints PASS/FAIL lines (with the problems under a FAIL) and exits 1 on any FAIL.
"""

import argparse
import datetime
import json
import re
import sys
from collections import defaultdict
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "rules"))
from check_loki_rules import FILTER, split_pipeline  # noqa: E402

# Stream labels: few values each, so a few dozen streams per proxy whatever the traffic.
LABELS = {"level", "event", "op"}
# What identifies one request: kept with each line, never a stream of its own.
METADATA = {"request_id", "access_key_id", "bucket", "key"}
# More label combinations than this in the lines would mean a label of high cardinality.
MAX_STREAMS = 200
# Labels Loki adds itself while running a query pipeline.
LOKI_LABELS = {"__error__", "__error_details__"}
# Fields whose values form a fixed set: a value compared for equality must occur in the lines.
ENUM_FIELDS = {"level", "event", "op", "result", "step", "acl_action"}


class Lines:
    """What the audit lines show: each (flattened) field's JSON types and string values."""

    def __init__(self, paths):
        self.count = 0
        self.types = defaultdict(set)
        self.values = defaultdict(set)
        self.missing_in = defaultdict(int)  # lines lacking the field
        self.label_sets = set()
        records = []
        for path in paths:
            for raw in Path(path).read_text(errors="replace").splitlines():
                try:
                    record = json.loads(raw)
                except ValueError:
                    continue
                if isinstance(record, dict):
                    records.append(self.flatten(record))
        for record in records:
            self.count += 1
            for name, value in record.items():
                self.types[name].add(self.type_of(value))
                if isinstance(value, str) and len(self.values[name]) < 10000:
                    self.values[name].add(value)
            self.label_sets.add(tuple(record.get(label) for label in sorted(LABELS)))
        for record in records:
            for name in self.types:
                if name not in record:
                    self.missing_in[name] += 1

    @staticmethod
    def flatten(record, prefix=""):
        """Nested objects flattened with "_", as LogQL's `| json` names them."""
        out = {}
        for name, value in record.items():
            if isinstance(value, dict):
                out.update(Lines.flatten(value, f"{prefix}{name}_"))
            else:
                out[prefix + name] = value
        return out

    @staticmethod
    def type_of(value):
        if value is None:
            return "null"
        if isinstance(value, bool):
            return "bool"
        if isinstance(value, (int, float)):
            return "number"
        return "string" if isinstance(value, str) else type(value).__name__


def alloy_block(text, kind, name=None):
    """The body of the first `kind "name" {` / `kind {` block, braces balanced."""
    head = re.escape(kind) + (r'\s+"' + re.escape(name) + '"' if name else r'(?:\s+"[^"]*")?') + r"\s*\{"
    m = re.search(head, text)
    if not m:
        return None
    depth, i = 1, m.end()
    while depth and i < len(text):
        depth += {"{": 1, "}": -1}.get(text[i], 0)
        i += 1
    return text[m.end():i - 1]


def alloy_map(block, attribute):
    """A map attribute `attribute = { "k" = "v", ... }` as a dict (v "" means k itself)."""
    m = re.search(re.escape(attribute) + r"\s*=\s*\{([^}]*)\}", block or "")
    if not m:
        return None
    return {k: (v or k) for k, v in re.findall(r'"?([\w.]+)"?\s*=\s*"([^"]*)"', m.group(1))}


def parse_alloy(text):
    text = re.sub(r"//[^\n]*", "", text)
    process = alloy_block(text, "loki.process") or ""
    source = alloy_block(text, "loki.source.file") or ""
    static = set()
    for target in re.findall(r"\{([^{}]*__path__[^{}]*)\}", source):
        static |= {k for k in re.findall(r'"([\w.]+)"\s*=', target) if not k.startswith("__")}
    timestamp = alloy_block(process, "stage.timestamp") or ""
    ts_source = re.search(r'source\s*=\s*"(\w+)"', timestamp)
    return {
        "json": alloy_map(alloy_block(process, "stage.json"), "expressions") or {},
        "labels": set(alloy_map(alloy_block(process, "stage.labels"), "values") or {}),
        "metadata": set(alloy_map(alloy_block(process, "stage.structured_metadata"), "values") or {}),
        "static": static,
        "timestamp": ts_source.group(1) if ts_source else None,
    }


def check_alloy(pipeline, lines):
    problems, notes = [], []
    if not pipeline["json"]:
        problems.append("no stage.json expressions found")
    for extracted, field in sorted(pipeline["json"].items()):
        if not re.fullmatch(r"\w+", field):
            problems.append(f"stage.json {extracted}: only plain field names are checked, got {field!r}")
        elif field not in lines.types:
            problems.append(f"stage.json extracts {field}, which no audit line has")
        elif (pipeline["labels"] | pipeline["metadata"]) & {extracted} and lines.types[field] - {"string", "null"}:
            problems.append(f"{field} is {sorted(lines.types[field])} in the lines; a label or metadata needs a string")
    for name in sorted((pipeline["labels"] | pipeline["metadata"]) - set(pipeline["json"])):
        problems.append(f"{name} is a label or metadata entry that stage.json does not extract")
    if pipeline["labels"] != LABELS:
        problems.append(f"stream labels are {sorted(pipeline['labels'])}, must be exactly {sorted(LABELS)}")
    if not METADATA <= pipeline["metadata"]:
        problems.append(f"structured metadata lacks {sorted(METADATA - pipeline['metadata'])}")
    if pipeline["labels"] & pipeline["metadata"]:
        problems.append(f"{sorted(pipeline['labels'] & pipeline['metadata'])} both label and metadata")
    for label in ("level", "event"):
        if lines.missing_in.get(label):
            problems.append(f"{lines.missing_in[label]} lines have no {label}")
    if len(lines.label_sets) > MAX_STREAMS:
        problems.append(f"{len(lines.label_sets)} label combinations in the lines (over {MAX_STREAMS})")
    ts = pipeline["timestamp"]
    if ts is None:
        problems.append("no stage.timestamp: lines would carry the time Alloy read them")
    else:
        bad = [v for v in list(lines.values.get(ts, ()))[:500] if not rfc3339(v)]
        if ts not in lines.types or bad:
            problems.append(f"stage.timestamp source {ts} is not an RFC 3339 time in the lines {bad[:2]}")
    notes.append(f"{len(pipeline['json'])} fields extracted, {len(lines.label_sets)} label combinations")
    return problems, notes


def rfc3339(value):
    try:
        datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
        return value.endswith("Z") or "+" in value[10:]
    except ValueError:
        return False


def check_query(expr, pipeline, lines, where):
    """Problems with one LogQL query (metric or log query)."""
    problems = []
    stream_labels = pipeline["static"] | pipeline["labels"]
    known_without_json = stream_labels | pipeline["metadata"] | LOKI_LABELS
    queries = re.findall(r"(\{[^}]*\})((?:[^\[\)]|\[(?![0-9$]))*)", expr)
    if not queries:
        return [f"{where}: no {{stream selector}} found"]
    parsed_any = False
    for selector, pipe in queries:
        for name, op, value in FILTER.findall(selector):
            value = value.strip('"')
            if name not in stream_labels:
                problems.append(f"{where}: stream selector uses {name}, which is not a stream label of the pipeline")
            elif name in pipeline["labels"] and op in ("=", "=~"):
                problems += check_values(name, op, value, lines, where)
            elif name in pipeline["static"] and op == "=" and value != "s3-acl-proxy" and name == "app":
                problems.append(f"{where}: app={value!r}, the pipeline sets app=\"s3-acl-proxy\"")
        parsed = False
        for stage in split_pipeline(pipe)[1:]:
            stage = re.sub(r"\s+", " ", stage).strip()
            if stage == "json":
                parsed = parsed_any = True
            elif stage.startswith(("=", "~", "!=", "!~")) or stage.startswith(("line_format", "label_format")):
                continue
            else:
                for name, op, value in FILTER.findall(stage):
                    if name in LOKI_LABELS:
                        continue
                    quoted = value.startswith('"')
                    value = value.strip('"')
                    if not parsed and name not in known_without_json:
                        problems.append(f"{where}: filters on {name} before | json; the pipeline gives no such label or metadata")
                        continue
                    if name not in lines.types and name not in known_without_json:
                        problems.append(f"{where}: filters on {name}, which no audit line has")
                        continue
                    types = lines.types.get(name, {"string"}) - {"null"}
                    wanted = "string" if quoted or op in ("=~", "!~") else "number"
                    if wanted not in types:
                        problems.append(f"{where}: compares {name} as a {wanted}; the lines hold {sorted(types)}")
                    if op in ("=", "==", "=~") and name in ENUM_FIELDS:
                        problems += check_values(name, op, value, lines, where)
    for clause in re.findall(r"\b(?:by|without)\s*\(([^)]*)\)", expr):
        for label in filter(None, (x.strip() for x in clause.split(","))):
            if label in known_without_json:
                continue
            if not parsed_any:
                problems.append(f"{where}: groups by {label}, neither a label nor metadata (and no | json)")
            elif label not in lines.types:
                problems.append(f"{where}: groups by {label}, which no audit line has")
    return problems


def check_values(name, op, value, lines, where):
    choices = value.split("|") if op == "=~" else [value]
    seen = lines.values.get(name, set())
    return [f"{where}: {name} is never {v!r} in the audit lines" for v in choices
            if re.fullmatch(r"[\w.-]+", v) and v not in seen]


def rule_queries(path):
    doc = yaml.safe_load(Path(path).read_text()) or {}
    for group in doc.get("groups") or []:
        for rule in group.get("rules") or []:
            yield rule.get("alert") or rule.get("record") or "?", str(rule.get("expr", ""))


def dashboard_queries(path):
    def panels(items):
        for p in items or []:
            yield p
            yield from panels(p.get("panels"))
    doc = json.loads(Path(path).read_text())
    for p in panels(doc.get("panels")):
        for t in p.get("targets") or []:
            ds = t.get("datasource") or p.get("datasource") or {}
            if isinstance(ds, dict) and ds.get("type") == "loki":
                yield f"{p.get('title')} {t.get('refId')}", str(t.get("expr", ""))


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--alloy", required=True)
    ap.add_argument("--loki-rules")
    ap.add_argument("--dashboard", action="append", default=[])
    ap.add_argument("audit", nargs="+")
    args = ap.parse_args(argv[1:])
    lines = Lines(args.audit)
    failed = 0

    def report(name, problems, note=""):
        nonlocal failed
        if problems:
            failed += 1
            print(f"FAIL {name}")
            for p in problems:
                print(f"    {p}")
        else:
            print(f"PASS {name}{f' ({note})' if note else ''}")

    if lines.count == 0:
        report("audit_lines_read", ["no JSON lines in " + ", ".join(args.audit)])
        return 1
    pipeline = parse_alloy(Path(args.alloy).read_text())
    problems, notes = check_alloy(pipeline, lines)
    report(f"alloy_pipeline_matches_audit_lines ({args.alloy})", problems,
           f"{lines.count} lines; " + "; ".join(notes))
    sources = []
    if args.loki_rules:
        sources.append((args.loki_rules, list(rule_queries(args.loki_rules))))
    for d in args.dashboard:
        sources.append((d, list(dashboard_queries(d))))
    for path, queries in sources:
        problems = [] if queries else [f"no LogQL queries found in {path}"]
        for where, expr in queries:
            problems += check_query(expr, pipeline, lines, where)
        report(f"logql_queries_use_pipeline_fields ({path})", problems, f"{len(queries)} queries")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
