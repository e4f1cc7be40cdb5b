"""Latency section of scripts/bench: reads what engine/examples/latency_load.rs printed for
each input rate, prints a table (p50, p99, max per query and rate, with the bar), and writes
bench/latency.json (date, machine, every figure) and bench/latency.svg (the histograms).

    bench_latency.py --results FILE --svg FILE [--conditions TEXT] RUN.json:METRICS_BEFORE:METRICS_AFTER...

Beside each run the engine's own share from its /metrics, scraped before and after the
run: advisor_engine_process_latency_seconds, from a batch being read to its outputs being
queued on the producer, as bucket bounds (p99 <= x ms).
"""

import argparse
import datetime
import json
import math
import sys

from bench_compare import machine

BAR_RATE = 10_000
BAR_P99_MS = 50.0
COLOURS = ["#1b9e77", "#d95f02", "#7570b3", "#e7298a"]


# The input topic read back as it is written: one hop through the broker, no engine.
BROKER_ALONE = "latency-events"


LABELS = {
    BROKER_ALONE: "broker alone (1 hop)",
    "LATENCY_STREAM": "stream query (2 hops)",
    "LATENCY_TABLE": "table query (3 hops)",
}


def label(query):
    return LABELS.get(query, query)


def ordered(outputs):
    return sorted(outputs.items(), key=lambda item: (item[0] != BROKER_ALONE, item[0]))


HISTOGRAM = "advisor_engine_process_latency_seconds_bucket"


def buckets(metrics_text):
    out = {}
    for line in metrics_text.splitlines():
        if line.startswith(HISTOGRAM + "{"):
            le = line.split('le="', 1)[1].split('"', 1)[0]
            out[math.inf if le == "+Inf" else float(le)] = int(line.rsplit(" ", 1)[1])
    return out


def engine_share(before_text, after_text):
    """The run's records per bucket and the bounds p50, p99 and the max fall under, in ms."""
    before, after = buckets(before_text), buckets(after_text)
    counts = sorted((le, after[le] - before.get(le, 0)) for le in after)
    total = counts[-1][1] if counts else 0
    def bound(q):
        for le, cumulative in counts:
            if total and cumulative >= q * total:
                return le * 1000.0
        return None
    return {"records": total, "p50_le_ms": bound(0.5), "p99_le_ms": bound(0.99),
            "max_le_ms": bound(1.0)}


def engine_lines(runs):
    out = []
    for run in runs:
        e = run["engine_process"]
        out.append(f"engine's own share at {run['rate']:,}/s ({e['records']:,} records read from the input and repartition topics, fetch to "
                   f"outputs queued): p50 <= {e['p50_le_ms']:g} ms, p99 <= {e['p99_le_ms']:g} ms, "
                   f"max <= {e['max_le_ms']:g} ms")
    return out


def table(runs):
    lines = [f"{'query':<22} {'events/s':>9} {'outputs':>9} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}"]
    for run in runs:
        for query, o in ordered(run["outputs"]):
            lines.append(f"{label(query):<22} {run['rate']:>9,} {o['count']:>9,} {fmt(o['p50_ms'])} "
                         f"{fmt(o['p99_ms'])} {fmt(o['max_ms'])}")
    return "\n".join(lines)


def fmt(ms):
    return f"{ms:>8.1f}" if ms is not None and not math.isnan(ms) else f"{'-':>8}"


def bar_lines(runs):
    out = []
    for run in runs:
        for query, o in ordered(run["outputs"]):
            if o["count"] < run["counted_events"]:
                out.append(f"{label(query)} at {run['rate']:,} events/s: only {o['count']:,} "
                           f"of {run['counted_events']:,} outputs arrived")
            if run["rate"] != BAR_RATE or query == BROKER_ALONE:
                continue
            p99 = o["p99_ms"]
            met = p99 is not None and p99 < BAR_P99_MS
            out.append(f"{label(query)} at {BAR_RATE:,} events/s: p99 {fmt(p99).strip()} ms "
                       f"(bar under {BAR_P99_MS:.0f} ms: {'met' if met else 'NOT met'})")
    return out


def svg(runs):
    """One panel per query: the share of outputs per latency bucket (log scale), one line
    per input rate."""
    queries = [q for q, _ in ordered({q: None for run in runs for q in run["outputs"]})]
    width, panel_h, left, top, plot_w, plot_h = 960, 260, 30, 40, 640, 170
    lo_ms, hi_ms = 0.05, 10_000.0
    hi_ms = max([hi_ms] + [u for run in runs for o in run["outputs"].values() for u, _ in o["histogram"]])
    x = lambda ms: left + plot_w * (math.log10(min(max(ms, lo_ms), hi_ms)) - math.log10(lo_ms)) / (
        math.log10(hi_ms) - math.log10(lo_ms))
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{panel_h * len(queries) + 20}" '
             'font-family="sans-serif" font-size="11">',
             f'<rect width="100%" height="100%" fill="white"/>']
    for i, query in enumerate(queries):
        y0 = i * panel_h
        base = y0 + top + plot_h
        parts.append(f'<text x="{left}" y="{y0 + 20}" font-size="13" font-weight="bold">'
                     f'{label(query)}: event-to-output latency through Kafka (tansu), share of outputs</text>')
        parts.append(f'<line x1="{left}" y1="{base}" x2="{left + plot_w}" y2="{base}" stroke="black"/>')
        parts.append(f'<line x1="{left}" y1="{y0 + top}" x2="{left}" y2="{base}" stroke="black"/>')
        for tick in [t for t in [0.1, 1, 10, 100, 1000, 10000, 100000] if t <= hi_ms]:
            tx = x(tick)
            parts.append(f'<line x1="{tx:.1f}" y1="{base}" x2="{tx:.1f}" y2="{base + 4}" stroke="black"/>')
            parts.append(f'<text x="{tx:.1f}" y="{base + 16}" text-anchor="middle">{tick:g} ms</text>')
        bx = x(BAR_P99_MS)
        parts.append(f'<line x1="{bx:.1f}" y1="{y0 + top}" x2="{bx:.1f}" y2="{base}" stroke="#999" '
                     'stroke-dasharray="4 3"/>')
        parts.append(f'<text x="{bx + 3:.1f}" y="{base - 6}" fill="#666">50 ms (the bar for p99 at 10,000/s)</text>')
        peak = max((c / max(run["outputs"][query]["count"], 1)
                    for run in runs if query in run["outputs"]
                    for _, c in run["outputs"][query]["histogram"]), default=1.0)
        for j, run in enumerate(runs):
            o = run["outputs"].get(query)
            if not o or not o["histogram"]:
                continue
            colour = COLOURS[j % len(COLOURS)]
            points = []
            for upper_ms, count in o["histogram"]:
                lower_ms = upper_ms / 2 ** 0.25
                share = count / o["count"]
                y = base - plot_h * share / peak
                points.append(f"{x(lower_ms):.1f},{base} {x(lower_ms):.1f},{y:.1f} {x(upper_ms):.1f},{y:.1f} "
                              f"{x(upper_ms):.1f},{base}")
            parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="1.5" points="{" ".join(points)}"/>')
            parts.append(f'<text x="{left + plot_w + 14}" y="{y0 + top + 16 * j + 14}" fill="{colour}">'
                         f'{run["rate"]:,} events/s: p50 {fmt(o["p50_ms"]).strip()} ms, '
                         f'p99 {fmt(o["p99_ms"]).strip()} ms</text>')
    parts.append("</svg>")
    return "\n".join(parts)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--results", required=True)
    p.add_argument("--svg", required=True)
    p.add_argument("--conditions", default="")
    p.add_argument("--engine-version", default="unknown")
    p.add_argument("runs", nargs="+")
    args = p.parse_args(argv)
    runs = []
    for spec in args.runs:
        path, before, after = spec.split(":")
        run = json.load(open(path))
        run["engine_process"] = engine_share(open(before).read(), open(after).read())
        runs.append(run)
    runs.sort(key=lambda r: r["rate"])
    print(table(runs))
    for line in engine_lines(runs) + bar_lines(runs):
        print(line)
    with open(args.svg, "w") as f:
        f.write(svg(runs))
    results = {
        "date": datetime.date.today().isoformat(),
        "machine": machine(),
        "conditions": args.conditions,
        "engine": args.engine_version,
        "broker": "tansu 0.6.0 (memory storage), on the same machine",
        "method": "latency_load: events produced at a fixed rate, each carrying its send time; "
                  "outputs read from the end of their topics in the same process; the first "
                  "second is warm-up; the engine runs with --cache-max-bytes 0",
        "runs": runs,
    }
    with open(args.results, "w") as f:
        json.dump(results, f, indent=1)
        f.write("\n")
    print(f"histograms: {args.svg}; figures: {args.results}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
