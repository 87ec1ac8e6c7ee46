"""The metric names, labels and label values s3-acl-proxy really exposes, read from the
source that renders them (proxy/metrics.cpp), and a check that a PromQL expression only
names those.

promtool checks PromQL syntax and runs the rule unit tests, but it knows nothing of the
proxy: a rule on a misspelt metric or label value parses, its tests pass on series typed
with the same misspelling, and in production it never fires. This closes that gap.

Not a PromQL parser: it finds selectors (name{matchers}) and grouping clauses with regular
expressions, which is enough for the expressions in conf/ and fails loudly, not silently,
on anything it cannot read.
"""

import re
from dataclasses import dataclass, field
from pathlib import Path

PREFIX = "s3_acl_proxy_"
# Labels Prometheus attaches to every scraped series, and the series it makes per target.
TARGET_LABELS = {"job", "instance"}
SYNTHETIC_SERIES = {"up", "scrape_duration_seconds", "scrape_samples_scraped"}

_KEYWORDS = {"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring",
             "group_left", "group_right", "inf", "nan"}


@dataclass
class Series:
    labels: dict = field(default_factory=dict)  # label name -> allowed values (None: any)


def _string_arrays(source):
    """Constant arrays of string literals: kName -> [values]."""
    arrays = {}
    pattern = re.compile(
        r"constexpr\s+(?:auto|std::array<[^;=]*?>)\s+(k\w+)\s*=\s*"
        r"(?:std::to_array<std::string_view>\()?\{(.*?)\}\)?;", re.S)
    for name, body in pattern.findall(source):
        values = re.findall(r'"([^"]*)"', body)
        if values:
            arrays[name] = values
    return arrays


def _balanced_braces(text, start):
    """Text of the {...} group that opens at text[start]."""
    depth = 0
    for i in range(start, len(text)):
        if text[i] == "{":
            depth += 1
        elif text[i] == "}":
            depth -= 1
            if depth == 0:
                return text[start:i + 1]
    raise ValueError("unbalanced braces in metrics source")


def load_exporter(metrics_cpp):
    """Series name -> Series, from every w.sample(...) call in proxy/metrics.cpp. Label
    values indexed from a constant array (kOps[op]) are limited to that array."""
    source = Path(metrics_cpp).read_text()
    arrays = _string_arrays(source)
    families = dict(re.findall(r'w\.family\(\s*"(\w+)",\s*"(\w+)"', source))
    if not families:
        raise ValueError(f"no metric families found in {metrics_cpp}")
    series = {}
    for m in re.finditer(r'w\.sample\(\s*"(\w+)",\s*', source):
        name = PREFIX + m.group(1)
        labels_text = _balanced_braces(source, m.end())
        s = series.setdefault(name, Series())
        for label, value_expr in re.findall(r'\{"(\w+)",\s*([^}]*)\}', labels_text):
            value_expr = value_expr.strip()
            array = re.match(r"(k\w+)\[", value_expr)
            literal = re.fullmatch(r'"([^"]*)"', value_expr)
            if array and array.group(1) in arrays:
                allowed = set(arrays[array.group(1)])
            elif literal:
                allowed = {literal.group(1)}
            else:
                allowed = None  # computed at run time (error codes, version)
            if label in s.labels and s.labels[label] is not None and allowed is not None:
                allowed |= s.labels[label]
            elif label in s.labels and s.labels[label] is None:
                allowed = None
            s.labels[label] = allowed
    missing = [f for f in families if not any(n == PREFIX + f or n.startswith(PREFIX + f + "_") for n in series)]
    if missing:
        raise ValueError(f"families without samples in {metrics_cpp}: {missing}")
    for name in SYNTHETIC_SERIES:
        series[name] = Series()
    for s in series.values():
        for label in TARGET_LABELS:
            s.labels.setdefault(label, None)
    return series


def _matchers(text):
    """[(label, op, value)] from the inside of a {...} selector."""
    found = re.findall(r'\s*(\w+)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*,?', text)
    rebuilt = "".join(re.findall(r'\s*\w+\s*(?:=~|!~|!=|=)\s*"(?:[^"\\]|\\.)*"\s*,?', text))
    if rebuilt.strip() != text.strip():
        raise ValueError(f"cannot read matchers {{{text}}}")
    return found


def _regex_alternatives(value):
    """The literal alternatives of a simple regex like "PutObject|UploadPart", else None."""
    if re.fullmatch(r"[\w.\-]+(\|[\w.\-]+)*", value):
        return value.split("|")
    return None


def parse_expr(expr):
    """(selectors, grouping labels) of a PromQL expression: selectors as
    (metric name, matcher text or None); grouping labels from by/without/on/ignoring/
    group_left/group_right clauses."""
    # Grafana variables: a range one ($__rate_interval) reads as a duration; those in matcher
    # values stay as they are and are not compared with the known values.
    text = re.sub(r"\$\{?\w+\}?(?=\s*[\]:])", "5m", expr)
    grouping = []
    clause = r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)"
    for labels in re.findall(clause, text):
        grouping += [label.strip() for label in labels.split(",") if label.strip()]
    text = re.sub(clause, " ", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)            # ranges and subqueries
    text = re.sub(r"\boffset\s+\w+", " ", text)        # offset 5m
    selectors = []
    selector = re.compile(r'(?<![\w.$"])([A-Za-z_:][\w:]*)\s*(\{(?:[^{}"]|"(?:[^"\\]|\\.)*")*\})?(\s*\()?')
    for m in selector.finditer(text):
        name, braces, call = m.group(1), m.group(2), m.group(3)
        if call and not braces:
            continue  # a function or aggregation
        if name.lower() in _KEYWORDS:
            continue
        selectors.append((name, braces[1:-1] if braces else None))
    return selectors, grouping


def check_expr(expr, exporter, where):
    """Problems (strings) with the metric names, label names and label values in expr."""
    problems, used = [], []
    selectors, grouping = parse_expr(expr)
    for name, matcher_text in selectors:
        if name not in exporter:
            problems.append(f"{where}: metric {name} is not exposed by the proxy")
            continue
        used.append(name)
        if matcher_text is not None:
            try:
                matchers = _matchers(matcher_text)
            except ValueError as e:
                problems.append(f"{where}: {e}")
                continue
            problems += check_matchers(name, matchers, exporter, where)
    if not used and not problems:
        problems.append(f"{where}: no metric found in expression")
    known = labels_of(used, exporter)
    for label in grouping:
        if label not in known:
            problems.append(f"{where}: grouping label {label} is on none of {sorted(set(used))}")
    return problems


def labels_of(names, exporter):
    """Every label any of the named series has."""
    return set().union(*(exporter[n].labels for n in names if n in exporter)) if names else set()


def check_matchers(name, matchers, exporter, where):
    problems = []
    labels = exporter[name].labels
    for label, op, value in matchers:
        if label == "__name__":
            continue
        if label not in labels:
            problems.append(f"{where}: {name} has no label {label}")
            continue
        allowed = labels[label]
        if allowed is None or "$" in value or op in ("!=", "!~"):
            continue
        values = [value] if op == "=" else _regex_alternatives(value)
        if values is None:
            continue  # a real regex: nothing simple to compare
        for v in values:
            if v not in allowed:
                problems.append(f"{where}: {name}{{{label}}} never has the value {v!r}")
    return problems


def check_series_literal(series_text, exporter, where):
    """A promtool input series such as 'name{a="b",c="d"}': known name, known label values,
    and the complete label set the proxy renders for it."""
    m = re.fullmatch(r"\s*([A-Za-z_:][\w:]*)\s*(?:\{(.*)\})?\s*", series_text)
    if not m:
        return [f"{where}: cannot read series {series_text!r}"]
    name = m.group(1)
    if name not in exporter:
        return [f"{where}: metric {name} is not exposed by the proxy"]
    try:
        matchers = _matchers(m.group(2) or "")
    except ValueError as e:
        return [f"{where}: {e}"]
    problems = check_matchers(name, matchers, exporter, where)
    # A scraped series carries every label its sample has, plus job and instance: a test
    # series with fewer would exercise a label set the proxy never produces.
    given = {label for label, _, _ in matchers}
    for label in sorted(set(exporter[name].labels) - given):
        problems.append(f"{where}: series {name} lacks label {label}, which every scraped sample has")
    return problems
