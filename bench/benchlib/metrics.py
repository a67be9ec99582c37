"""Steward's own Prometheus metrics: histogram deltas and their quantiles.

`steward_db_query_duration_seconds{pool, query}` is recorded by `DbPool`
(src/db/mod.rs) on the blocking thread around the pool checkout and the
query. The session read of a token request is
`query="sessions.get_for_token"`.

Quantiles are computed like Prometheus' histogram_quantile: find the
bucket holding the rank, interpolate linearly inside it (the first bucket
starts at 0). Because a bucket only bounds a quantile, a target is judged
"met" when the whole bucket is under it, "not met" when the whole bucket is
above it, and "unclear" when the target falls inside the bucket.
"""

import re
import urllib.request

_LINE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)")
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def scrape(url):
    """[(name, {labels}, value)] from a Prometheus text page."""
    with urllib.request.urlopen(url, timeout=10) as r:
        text = r.read().decode()
    samples = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = _LINE.match(line)
        if m:
            labels = dict(_LABEL.findall(m.group(2) or ""))
            samples.append((m.group(1), labels, float(m.group(3))))
    return samples


def histogram(samples, name, **match):
    """{upper_bound: cumulative count} summed over series matching `match`."""
    buckets = {}
    for sample_name, labels, value in samples:
        if sample_name != name + "_bucket":
            continue
        if any(labels.get(k) != v for k, v in match.items()):
            continue
        le = float("inf") if labels["le"] == "+Inf" else float(labels["le"])
        buckets[le] = buckets.get(le, 0.0) + value
    return buckets


def counter(samples, name, **match):
    return sum(v for n, labels, v in samples
               if n == name and all(labels.get(k) == w for k, w in match.items()))


def delta(after, before):
    return {le: after.get(le, 0.0) - before.get(le, 0.0) for le in after}


def quantile(buckets, q):
    """(interpolated value, bucket lower bound, bucket upper bound) or None."""
    bounds = sorted(buckets)
    if not bounds or buckets[bounds[-1]] <= 0:
        return None
    rank = q * buckets[bounds[-1]]
    lower, below = 0.0, 0.0
    for upper in bounds:
        count = buckets[upper]
        if count >= rank:
            if upper == float("inf"):
                return (lower, lower, upper)
            inside = count - below
            fraction = (rank - below) / inside if inside else 1.0
            return (lower + (upper - lower) * fraction, lower, upper)
        lower, below = upper, count
    return None


def judge(found, target):
    """'met', 'not met' or 'unclear' for a quantile against an upper target."""
    if found is None:
        return "no data"
    _, lower, upper = found
    if upper <= target:
        return "met"
    if lower >= target:
        return "not met"
    return "unclear"
