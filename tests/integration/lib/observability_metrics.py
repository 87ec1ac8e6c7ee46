"""Reading what the proxy exposes to operators, for suites/observability.sh: its admin
endpoints (/metrics, /readyz), the Prometheus text format, and a real Prometheus' HTTP API.

Only the standard library: the suite runs with Debian's /usr/bin/python3.
"""
import json
import re
import time
import urllib.error
import urllib.parse
import urllib.request

HTTP_TIMEOUT_S = 5
POLL_S = 0.1

_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\S+)?$")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def http_get(url):
    """(status, body text) of a GET; an HTTP error status is an answer, not an exception."""
    try:
        with urllib.request.urlopen(url, timeout=HTTP_TIMEOUT_S) as resp:
            return resp.status, resp.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode("utf-8", "replace")


def _unescape(value):
    """A label value as written in the text format: \\\\, \\" and \\n escaped."""
    return re.sub(r"\\(.)", lambda m: "\n" if m.group(1) == "n" else m.group(1), value)


def parse_samples(text):
    """[(name, {label: value}, float)] of a Prometheus text exposition (comments skipped)."""
    out = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = _SAMPLE.match(line)
        if not m:
            raise ValueError(f"not a sample line: {line!r}")
        labels = {k: _unescape(v) for k, v in _LABEL.findall(m.group(2) or "")}
        out.append((m.group(1), labels, float(m.group(3))))
    return out


def sample(text, name, **labels):
    """The value of the one sample `name` whose labels include `labels`; None when absent."""
    found = [v for n, ls, v in parse_samples(text) if n == name and all(ls.get(k) == w for k, w in labels.items())]
    if len(found) > 1:
        raise ValueError(f"{len(found)} samples of {name} match {labels}")
    return found[0] if found else None


def metrics(admin):
    status, body = http_get(f"{admin}/metrics")
    if status != 200:
        raise RuntimeError(f"GET {admin}/metrics answered {status}")
    return body


def metric(admin, name, **labels):
    return sample(metrics(admin), name, **labels)


def readyz(admin):
    return http_get(f"{admin}/readyz")


def wait_for(probe, done, timeout_s):
    """Calls probe() until done(result) or timeout_s passed; (result, seconds waited, done?)."""
    start = time.monotonic()
    while True:
        result = probe()
        waited = time.monotonic() - start
        if done(result):
            return result, waited, True
        if waited >= timeout_s:
            return result, waited, False
        time.sleep(POLL_S)


class Prometheus:
    """A real Prometheus server's HTTP API (/api/v1/query)."""

    def __init__(self, url):
        self.url = url

    def query(self, promql):
        """[(labels, float)] of an instant query's vector result."""
        status, body = http_get(f"{self.url}/api/v1/query?{urllib.parse.urlencode({'query': promql})}")
        doc = json.loads(body)
        if status != 200 or doc.get("status") != "success":
            raise RuntimeError(f"Prometheus query {promql!r} failed: {status} {body[:200]}")
        if doc["data"]["resultType"] != "vector":
            raise RuntimeError(f"Prometheus query {promql!r} gave a {doc['data']['resultType']}, not a vector")
        return [(r["metric"], float(r["value"][1])) for r in doc["data"]["result"]]

    def value(self, promql):
        """The single value of an instant query; None when it has no series."""
        result = self.query(promql)
        if len(result) > 1:
            raise RuntimeError(f"Prometheus query {promql!r} gave {len(result)} series, expected one")
        return result[0][1] if result else None
