#!/usr/bin/env python3
"""Checks the Loki ruler rules (conf/loki/s3-acl-proxy-rules.yml) against the audit log
the proxy really writes. There is no Loki in Debian 12, so LogQL syntax itself is NOT
checked here; what is checked:

- the file is YAML in the ruler's shape (groups -> rules) and every rule has alert, expr,
  for, labels (with severity critical/warning/info) and annotations (summary, description);
- every expr reads the proxy's stream with `| json`, and every field it filters or groups
  on after `| json` is a field the audit log really has: one that to_json_line in
  proxy/audit.cpp writes (nested objects flattened with "_" as `| json` does) or one of
  the canary's lines (proxy/canary.cpp) -- with --interface FILE, request-line fields
  must also be listed in that document's audit log table;
- filtered values that come from a fixed set (event, level, op, result) are values the
  proxy writes;
- each line filter (|= "...") is a value some later field filter looks for, so a typo in
  it cannot silently drop every line;
- annotations only use labels the expr keeps (its `sum by (...)`).

Usage: check_loki_rules.py RULES.yml [--root REPO_ROOT] [--interface INTERFACE.md]
Prints one line per problem and exits 1 if there is any.
"""

import argparse
import re
import sys
from pathlib import Path

import yaml

from promql_names import _string_arrays

SEVERITIES = {"critical", "warning", "info"}
REQUIRED = ("alert", "expr", "for", "labels", "annotations")
# The stream labels the rules assume (see the comment at the top of the rules file).
STREAM_LABELS = {"app"}
# Labels Loki itself adds while running a pipeline.
LOKI_LABELS = {"__error__", "__error_details__"}
# Fields of the canary's audit lines besides ts/level/event (proxy/canary.cpp,
# audit_outcome and failure_fields) and the values of its result field; each is
# confirmed to appear in that source below, so a rename there fails this check.
CANARY_FIELDS = {"result", "step", "bucket", "key", "status", "s3_code", "s3_message",
                 "request_id", "detail", "duration_ms"}
CANARY_RESULTS = {"ok", "failed"}


def written_fields(audit_cpp):
    """Fields of a request line, from to_json_line(const AuditRecord&) in proxy/audit.cpp,
    which writes each field through str/opt_str/num/key("name"); a nested object is
    written inline after key("name") as \\"member\\": and flattened with "_" the way
    LogQL's `| json` names them (acl.action -> acl_action)."""
    start = audit_cpp.find("std::string to_json_line(const AuditRecord& rec) {")
    if start < 0:
        raise ValueError("no to_json_line(const AuditRecord&) in proxy/audit.cpp")
    body = audit_cpp[start:audit_cpp.index("\n}\n", start)]
    fields = set()
    calls = list(re.finditer(r'\b(str|opt_str|num|key)\("(\w+)"', body))
    for i, call in enumerate(calls):
        name = call.group(2)
        if call.group(1) != "key":
            fields.add(name)
            continue
        # The code up to the next field: inline members of a nested object, if any.
        following = body[call.end():calls[i + 1].start() if i + 1 < len(calls) else len(body)]
        members = re.findall(r'\\"(\w+)\\":', following)
        fields.update(f"{name}_{m}" for m in members) if members else fields.add(name)
    if not fields:
        raise ValueError("no fields found in proxy/audit.cpp to_json_line")
    return fields


def written_events(sources):
    """Every event name the proxy assigns or logs."""
    events = set()
    for text in sources:
        events.update(re.findall(r'\bset\("(\w+)",', text))
        events.update(re.findall(r'\bevent\s*=\s*"(\w+)"', text))
        events.update(re.findall(r'\.event\(\s*Level::\w+,\s*"(\w+)"', text))
    return events


def documented_fields(doc_text):
    """Field names in the table of the interface document's "The audit log" section,
    nested objects flattened as above."""
    section = doc_text.split("## The audit log", 1)[1].split("\n## ", 1)[0]
    fields = set()
    for line in section.splitlines():
        if not line.startswith("| `"):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        meaning = "|".join(cells[1:])
        nested = re.findall(r'"(\w+)":', meaning) if meaning.startswith("`{") else []
        for name in re.findall(r"`(\w+)`", cells[0]):
            fields.update({f"{name}_{key}" for key in nested} or {name})
    if not fields:
        raise ValueError("no audit log table found in the interface document")
    return fields


def known_vocabulary(root, interface_doc=None):
    proxy = root / "proxy"
    audit_cpp = (proxy / "audit.cpp").read_text()
    canary_cpp = (proxy / "canary.cpp").read_text()
    for name in CANARY_FIELDS | CANARY_RESULTS:
        if f'"{name}"' not in canary_cpp:
            raise ValueError(f'proxy/canary.cpp no longer writes "{name}"; update CANARY_FIELDS')
    fields = written_fields(audit_cpp)
    if interface_doc is not None:
        # Only what is both written and documented may be relied on.
        fields &= documented_fields(Path(interface_doc).read_text())
    levels = set(re.findall(r'case Level::\w+:\s*return "(\w+)";', audit_cpp))
    ops = set(_string_arrays((proxy / "metrics.cpp").read_text())["kOps"]) - {"Unknown"}
    events = written_events(p.read_text() for p in sorted(proxy.glob("*.cpp")))
    return {
        "fields": fields | CANARY_FIELDS | LOKI_LABELS,
        "enums": {"event": events, "level": levels, "op": ops, "result": CANARY_RESULTS},
    }


def split_pipeline(text):
    """Stages of a log pipeline, split on | outside double quotes."""
    stages, current, quoted, escaped = [], "", False, False
    for ch in text:
        if escaped:
            current, escaped = current + ch, False
        elif ch == "\\" and quoted:
            current, escaped = current + ch, True
        elif ch == '"':
            current, quoted = current + ch, not quoted
        elif ch == "|" and not quoted:
            stages.append(current.strip())
            current = ""
        else:
            current += ch
    stages.append(current.strip())
    return stages


FILTER = re.compile(r'(\w+)\s*(=~|!~|!=|==|>=|<=|=|>|<)\s*("(?:[^"\\]|\\.)*"|[\w.]+)')


def check_expr(expr, vocab, where):
    problems, kept = [], set()
    for clause in re.findall(r"\b(?:by|without)\s*\(([^)]*)\)", expr):
        kept |= {label.strip() for label in clause.split(",") if label.strip()}
    for label in kept - vocab["fields"] - STREAM_LABELS:
        problems.append(f"{where}: groups by {label}, which the audit log does not have")
    queries = re.findall(r"(\{[^}]*\})((?:[^\[]|\[(?![0-9]+[smhd]\]))*)\[[0-9]+[smhd]\]", expr)
    if not queries:
        return [f"{where}: no {{stream}} ... [range] log query found"], kept
    for selector, pipeline in queries:
        stream = {name for name, _, _ in FILTER.findall(selector)}
        if stream != STREAM_LABELS:
            problems.append(f"{where}: stream selector {selector} does not use exactly {sorted(STREAM_LABELS)}")
        stages = split_pipeline(pipeline)[1:]  # [0] is what precedes the first |
        if "json" not in stages:
            problems.append(f"{where}: no | json stage")
            continue
        parsed, line_filters, filtered_values = False, [], []
        for stage in stages:
            if stage == "json":
                parsed = True
            elif stage.startswith(("=", "~")):
                literal = re.fullmatch(r'[=~]\s*"((?:[^"\\]|\\.)*)"', stage)
                if not literal:
                    problems.append(f"{where}: cannot read line filter |{stage}")
                else:
                    line_filters.append(literal.group(1))
            else:
                filters = FILTER.findall(stage)
                rebuilt = re.sub(r"\s*(,|\band\b|\bor\b)\s*", " ", FILTER.sub("", stage)).strip()
                if not filters or rebuilt:
                    problems.append(f"{where}: stage |{stage} is not a label filter this check understands")
                    continue
                for name, op, value in filters:
                    allowed = vocab["fields"] if parsed else STREAM_LABELS
                    if name not in allowed:
                        problems.append(f"{where}: filters on {name}, which the audit log does not have")
                        continue
                    value = value.strip('"')
                    filtered_values.append(value)
                    enum = vocab["enums"].get(name)
                    if enum is None or op not in ("=", "==", "=~"):
                        continue
                    choices = value.split("|") if op == "=~" else [value]
                    for v in choices:
                        if v not in enum:
                            problems.append(f"{where}: {name} is never {v!r} in the audit log")
        for literal in line_filters:
            if not any(literal in v for v in filtered_values):
                problems.append(f"{where}: line filter {literal!r} matches no value the fields are filtered on")
    return problems, kept


def check_rule(rule, vocab, where):
    problems = [f"{where}: no {key}" for key in REQUIRED if key not in rule]
    if problems:
        return problems
    if not re.fullmatch(r"(\d+[smhd])+", str(rule["for"])):
        problems.append(f"{where}: for {rule['for']!r} is not a duration")
    if (rule["labels"] or {}).get("severity") not in SEVERITIES:
        problems.append(f"{where}: severity must be one of {sorted(SEVERITIES)}")
    expr_problems, kept = check_expr(str(rule["expr"]), vocab, where)
    problems += expr_problems
    annotations = rule["annotations"] or {}
    for key in ("summary", "description"):
        if not str(annotations.get(key, "")).strip():
            problems.append(f"{where}: no {key} annotation")
    for key, text in annotations.items():
        for label in re.findall(r"\$labels\.(\w+)", str(text)):
            if label not in kept:
                problems.append(f"{where}: annotation {key} uses $labels.{label}, which the expr does not keep")
    return problems


def main(argv):
    parser = argparse.ArgumentParser(description="Check Loki ruler rules against the proxy's audit log.")
    parser.add_argument("rules")
    parser.add_argument("--root", default=str(Path(__file__).resolve().parents[2]), help="repository root")
    parser.add_argument("--interface", help="interface document whose audit log table fields must also list every field used")
    args = parser.parse_args(argv[1:])
    rules_path, root = Path(args.rules), Path(args.root)
    vocab = known_vocabulary(root, args.interface)
    doc = yaml.safe_load(rules_path.read_text())
    problems = []
    groups = doc.get("groups") if isinstance(doc, dict) else None
    if not groups:
        problems.append(f"{rules_path.name}: no groups")
    for group in groups or []:
        if not group.get("name"):
            problems.append(f"{rules_path.name}: a group without a name")
        if not group.get("rules"):
            problems.append(f"{rules_path.name}: group {group.get('name')} has no rules")
        for i, rule in enumerate(group.get("rules") or []):
            where = f"{rules_path.name}: {rule.get('alert', f'rule {i}')}"
            problems += check_rule(rule, vocab, where)
    for p in problems:
        print(p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
