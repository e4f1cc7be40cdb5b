#!/usr/bin/env python3
"""advisor-engine beside Apache Flink 2.3 on the same work, in one run: scripts/bench calls
this. Standard library only (the system python3); Flink runs through
scripts/lib/flink_bench.py in the Flink virtualenv.

    bench_compare.py --engine PATH --flink-python PATH --work DIR --results FILE
                     [--events N] [--queries q1,q2] [--parallelism 1,2] [--engine-runs 3]

For each query: generate its workload into a JSON-lines file (seeded, so every run reads the
same events), run it on advisor-engine (`run --input name=file:...`, best of
--engine-runs by CPU time) and on Flink (one JVM per parallelism, the JVM's start and the
job's fixed cost left out: see flink_bench.py), check that both wrote the same results, and
only then report the speed. Prints a table and writes FILE (bench/results.json): date,
machine, versions, inputs, conditions and every figure.

Events per second per core are events / CPU seconds of the process (user + system, every
thread), which holds up on a machine that others share better than wall time does; the
wall time is recorded beside it.
"""

import argparse
import datetime
import heapq
import json
import math
import os
import platform
import random
import subprocess
import sys
import time
from collections import Counter

BASE_MS = 1709640000000  # 2024-03-05 12:00 UTC
MINUTE = 60_000

# --- workloads ---------------------------------------------------------------------------


def disorder(r, at, max_ms, share):
    """`at`, moved back by up to max_ms for `share` of the events: out-of-order events,
    within the watermark delay both engines are given, so neither drops any."""
    if max_ms and r.random() < share:
        return at - r.randrange(max_ms)
    return at


def gen_orders(path, events, keys, rate, disorder_ms, disorder_share, seed=1):
    """Orders of `keys` customers at `rate` events/s of event time."""
    r = random.Random(seed)
    step = 1000.0 / rate
    with open(path, "w") as out:
        for i in range(events):
            at = disorder(r, BASE_MS + int(i * step), disorder_ms, disorder_share)
            cents = r.randrange(100, 100_000)
            out.write('{"order_id":%d,"customer_id":"cust_%d","order_status":"NEW",'
                      '"order_total":%d.%02d,"created_at":%d}\n'
                      % (i, r.randrange(keys), cents // 100, cents % 100, at))


def gen_logins(path, events, ips, rate, failed_share, burst_every, burst_len,
               disorder_ms, disorder_share, seed=2):
    """Logins of `ips` addresses, `failed_share` of them FAILED, and an attack burst every
    `burst_every` events: for `burst_len` events, every third login is a FAILED one from
    one attacking address."""
    r = random.Random(seed)
    step = 1000.0 / rate
    attacker = None
    with open(path, "w") as out:
        for i in range(events):
            at = disorder(r, BASE_MS + int(i * step), disorder_ms, disorder_share)
            phase = i % burst_every
            if phase == 0:
                attacker = "203.0.%d.%d" % (r.randrange(256), r.randrange(256))
            if phase < burst_len and phase % 3 == 0:
                ip, status = attacker, "FAILED"
            else:
                n = r.randrange(ips)
                ip = "10.%d.%d.%d" % (n >> 16 & 255, n >> 8 & 255, n & 255)
                status = "FAILED" if r.random() < failed_share else "SUCCESS"
            out.write('{"user_id":"user_%d","ip_address":"%s","status":"%s","event_time":%d}\n'
                      % (r.randrange(50_000), ip, status, at))


def gen_clicks(path, events, users, session_clicks, click_gap_s, idle_min, disorder_ms,
               disorder_share, seed=3):
    """Clickstream of `users` users in sessions: 1..session_clicks clicks up to
    click_gap_s seconds apart, then idle for idle_min (low, high) minutes, well beyond the
    30-minute gap and well within it, so that both engines' session boundaries agree."""
    r = random.Random(seed)
    heap = [(BASE_MS + r.randrange(3_600_000), u, r.randint(1, session_clicks))
            for u in range(users)]
    heapq.heapify(heap)
    with open(path, "w") as out:
        for _ in range(events):
            at, user, left = heapq.heappop(heap)
            out.write('{"user_id":"user_%d","page_url":"/page/%d","event_time":%d}\n'
                      % (user, r.randrange(50), disorder(r, at, disorder_ms, disorder_share)))
            if left > 1:
                heapq.heappush(heap, (at + r.randint(1000, click_gap_s * 1000), user, left - 1))
            else:
                idle = r.randint(idle_min[0] * MINUTE, idle_min[1] * MINUTE)
                heapq.heappush(heap, (at + idle, user, r.randint(1, session_clicks)))


def gen_join(orders_path, customers_path, events, customers, seed=4):
    """A table of `customers` customers (record envelopes keyed by id), all of them before the
    first order in event time, and `events` orders of them (envelopes keyed by order id)."""
    r = random.Random(seed)
    with open(customers_path, "w") as out:
        for c in range(customers):
            out.write('{"key":"cust_%d","value":{"name":"Customer %d","tier":"%s"},'
                      '"timestamp":%d}\n'
                      % (c, c, ("gold", "silver", "bronze")[c % 3], BASE_MS - customers + c))
    with open(orders_path, "w") as out:
        for i in range(events):
            cents = r.randrange(100, 100_000)
            out.write('{"key":"o%d","value":{"customer_id":"cust_%d","amount":%d.%02d},'
                      '"timestamp":%d}\n'
                      % (i, r.randrange(customers), cents // 100, cents % 100, BASE_MS + i * 2))


# --- queries -----------------------------------------------------------------------------

ORDER_COLUMNS = [["order_id", "BIGINT"], ["customer_id", "STRING"], ["order_status", "STRING"],
                 ["order_total", "DOUBLE"], ["created_at", "BIGINT"]]
LOGIN_COLUMNS = [["user_id", "STRING"], ["ip_address", "STRING"], ["status", "STRING"],
                 ["event_time", "BIGINT"]]
CLICK_COLUMNS = [["user_id", "STRING"], ["page_url", "STRING"], ["event_time", "BIGINT"]]

ORDERS_STREAM = """CREATE STREAM order_events (
  order_id BIGINT, customer_id STRING, order_status STRING, order_total DOUBLE, created_at BIGINT
) WITH (KAFKA_TOPIC='order-events', VALUE_FORMAT='JSON', TIMESTAMP='created_at');
"""


def window_agg_engine(window):
    return ORDERS_STREAM + f"""CREATE TABLE customer_order_totals AS
SELECT customer_id, COUNT(*) AS order_count, SUM(order_total) AS total_spent,
       MAX(created_at) AS last_order_time
FROM order_events WINDOW {window} GROUP BY customer_id EMIT CHANGES;
"""


def window_agg_flink(tvf):
    return ("SELECT customer_id, window_start, COUNT(*) AS order_count, "
            "SUM(order_total) AS total_spent, MAX(created_at) AS last_order_time "
            f"FROM TABLE({tvf}) GROUP BY customer_id, window_start, window_end")


def as_engine_sql(flink_sql):
    """A Flink query over `input` as the engine's: the rowtime attribute `ts` is ROWTIME
    (engine/tests/flink_cases.rs does the same for its cases)."""
    out, word, quoted = [], "", False
    for c in flink_sql + " ":
        if quoted:
            out.append(c)
            quoted = c != "'"
        elif c.isalnum() or c == "_":
            word += c
        else:
            out.append("ROWTIME" if word == "ts" else word)
            word = ""
            out.append(c)
            quoted = c == "'"
    return "".join(out).rstrip()


def stream_engine(columns, time_column, delay_ms, sink, flink_sql):
    cols = ", ".join(f"{n} {t}" for n, t in columns)
    return (f"CREATE STREAM input ({cols}) WITH (KAFKA_TOPIC='input', VALUE_FORMAT='JSON', "
            f"TIMESTAMP='{time_column}', WATERMARK_DELAY={delay_ms});\n"
            f"CREATE STREAM {sink} AS {as_engine_sql(flink_sql)};\n")


FRAUD_OVER = ("SELECT 'SUSPECTED_FRAUD' AS alert_type, ip_address, failure_count, event_time "
              "FROM (SELECT ip_address, event_time, COUNT(*) OVER (PARTITION BY ip_address "
              "ORDER BY ts RANGE BETWEEN INTERVAL '5' MINUTE PRECEDING AND CURRENT ROW) "
              "AS failure_count FROM input WHERE status = 'FAILED') WHERE failure_count >= 3")
FRAUD_MR = ("SELECT * FROM (SELECT * FROM input WHERE status = 'FAILED') MATCH_RECOGNIZE ("
            "PARTITION BY ip_address ORDER BY ts "
            "MEASURES FIRST(F.event_time) AS first_failure, LAST(F.event_time) AS last_failure, "
            "COUNT(*) AS failures ONE ROW PER MATCH AFTER MATCH SKIP PAST LAST ROW "
            "PATTERN (F{3}) WITHIN INTERVAL '5' MINUTE DEFINE F AS TRUE)")


def lower_keys(row):
    return {k.lower(): v for k, v in row.items()}


def close(a, b):
    if isinstance(a, float) or isinstance(b, float):
        return a is not None and b is not None and math.isclose(a, b, rel_tol=1e-9,
                                                                abs_tol=1e-6)
    return a == b


def json_lines(path):
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                yield json.loads(line)


def count_lines(path):
    with open(path, "rb") as f:
        return sum(1 for line in f if line.strip())


def final_windows(path, fields):
    """The last update of each (key, window start) of an EMIT CHANGES table in the engine's
    output, as a tuple of `fields`; a tombstone (value null: a session merged into another)
    removes its window. Read line by line: the updates outnumber the windows."""
    out = {}
    for line in json_lines(path):
        key = (line["key"], line["window"]["start"])
        if line["value"] is None:
            out.pop(key, None)
        else:
            value = lower_keys(line["value"])
            out[key] = tuple(comparable(value.get(f)) for f in fields)
    return out


def flink_windows(path, key_field, fields):
    return {(r[key_field], r["window_start"]): tuple(comparable(r.get(f)) for f in fields)
            for r in json_lines(path)}


def comparable(value):
    """A list (COLLECT_LIST, ARRAY_AGG) as a sorted tuple: the order of a session's pages
    follows the merges, which the two engines do differently."""
    return tuple(sorted(value)) if isinstance(value, list) else value


def check_windows(key_field, fields):
    def check(engine_path, flink_path):
        return compare_maps(final_windows(engine_path, fields),
                            flink_windows(flink_path, key_field, fields), fields)
    return check


def compare_maps(engine, flink, fields):
    missing = [k for k in flink if k not in engine]
    extra = [k for k in engine if k not in flink]
    if missing or extra:
        return (f"{len(engine)} windows from the engine, {len(flink)} from Flink; "
                f"only Flink's: {missing[:3]}, only the engine's: {extra[:3]}")
    for k, f in flink.items():
        for field, a, b in zip(fields, engine[k], f):
            if not close(a, b):
                return f"window {k}: {field} is {a!r} (engine), {b!r} (Flink)"
    return None


def check_multiset(engine_rows, flink_rows):
    """Append-only results: the same rows as a multiset (Flink's order across partitions is
    its timer heap's, engine/docs/flink-semantics.md). `engine_rows` and `flink_rows` give
    a fresh iterator of row tuples over the output files each time they are called; the
    rows are counted by hash, and read again for examples when they differ."""
    def check(engine_path, flink_path):
        engine = Counter(hash(t) for t in engine_rows(engine_path))
        flink = Counter(hash(t) for t in flink_rows(flink_path))
        if engine == flink:
            return None
        only_e, only_f = engine - flink, flink - engine
        ex_e = [t for t in engine_rows(engine_path) if hash(t) in only_e][:3]
        ex_f = [t for t in flink_rows(flink_path) if hash(t) in only_f][:3]
        return (f"{sum(engine.values())} rows from the engine, {sum(flink.values())} from "
                f"Flink; only the engine's: {ex_e}, only Flink's: {ex_f}")
    return check


def check_rows(fields):
    return check_multiset(
        lambda path: (tuple(lower_keys(line["value"]).get(f) for f in fields)
                      for line in json_lines(path)),
        lambda path: (tuple(r.get(f) for f in fields) for r in json_lines(path)))


def engine_join_row(line):
    # The engine keys the joined rows by the join key, as ksqlDB does.
    v = lower_keys(line["value"])
    return (v.get("order_id"), line["key"], v.get("name"), v.get("tier"), v.get("amount"))


check_join = check_multiset(
    lambda path: (engine_join_row(line) for line in json_lines(path)),
    lambda path: ((r["order_id"], r["customer_id"], r["name"], r["tier"], r["amount"])
                  for r in json_lines(path)))


JOIN_ENGINE = """CREATE STREAM orders (order_id STRING KEY, customer_id STRING, amount DOUBLE)
  WITH (KAFKA_TOPIC='order-events', VALUE_FORMAT='JSON');
CREATE TABLE customers (id STRING PRIMARY KEY, name STRING, tier STRING)
  WITH (KAFKA_TOPIC='customer-events', VALUE_FORMAT='JSON');
CREATE STREAM enriched_orders AS
SELECT o.order_id, o.customer_id, c.name, c.tier, o.amount
FROM orders o LEFT JOIN customers c ON o.customer_id = c.id;
"""
# The same join in Flink: an event-time temporal join against the customers as a versioned
# table (its primary key), over the same record-envelope files.
JOIN_FLINK = ("SELECT o.`key` AS order_id, o.`value`.customer_id AS customer_id, "
              "c.`value`.name AS name, c.`value`.tier AS tier, o.`value`.amount AS amount "
              "FROM input AS o LEFT JOIN customers FOR SYSTEM_TIME AS OF o.ts AS c "
              "ON o.`value`.customer_id = c.`key`")
JOIN_CUSTOMERS = 100_000


def queries(events):
    """name -> how to generate, run and check it."""
    orders = {"file": "orders.jsonl", "gen": lambda p, n: gen_orders(
        p, n, keys=100_000, rate=500, disorder_ms=5000, disorder_share=0.1),
        "params": {"generator": "orders", "keys": 100_000, "event_time_rate_per_s": 500,
                   "out_of_order_share": 0.1, "out_of_order_max_ms": 5000}}
    logins = {"file": "logins.jsonl", "gen": lambda p, n: gen_logins(
        p, n, ips=20_000, rate=1000, failed_share=0.02, burst_every=20_000, burst_len=600,
        disorder_ms=2000, disorder_share=0.1),
        "params": {"generator": "logins", "ips": 20_000, "event_time_rate_per_s": 1000,
                   "failed_share": 0.02, "attack_burst_every_events": 20_000,
                   "attack_burst_events": 600, "attack_share_in_burst": 1 / 3,
                   "out_of_order_share": 0.1, "out_of_order_max_ms": 2000}}
    clicks = {"file": "clicks.jsonl", "gen": lambda p, n: gen_clicks(
        p, n, users=100_000, session_clicks=12, click_gap_s=300, idle_min=(40, 180),
        disorder_ms=2000, disorder_share=0.1),
        "params": {"generator": "clickstream", "users": 100_000, "clicks_per_session": "1-12",
                   "seconds_between_clicks": "1-300", "idle_minutes": "40-180",
                   "out_of_order_share": 0.1, "out_of_order_max_ms": 2000}}
    join = {"file": "join-orders.jsonl", "records": True,
            "tables": [{"name": "customers", "source": "customer-events",
                        "file": "join-customers.jsonl", "primary_key": "key",
                        "columns": [["key", "STRING"],
                                    ["value", "ROW<name STRING, tier STRING>"],
                                    ["timestamp", "BIGINT"]],
                        "event_time_column": "timestamp", "watermark_delay_ms": 0}],
            "extra_events": JOIN_CUSTOMERS,
            "gen": lambda p, n: gen_join(p, p.replace("join-orders", "join-customers"), n,
                                         JOIN_CUSTOMERS),
            "params": {"generator": "orders and customers (record envelopes)",
                       "customers": JOIN_CUSTOMERS, "event_time_rate_per_s": 500,
                       "customers_first": True}}
    window_fields = ["order_count", "total_spent", "last_order_time"]
    return {
        "tumbling": dict(
            title="tumbling aggregation (the tutorial's customer_order_totals, 1 h)",
            workload=orders, source="order-events", sink="customer_order_totals",
            engine_sql=window_agg_engine("TUMBLING (SIZE 1 HOUR)"),
            flink_sql=window_agg_flink("TUMBLE(TABLE input, DESCRIPTOR(ts), INTERVAL '1' HOUR)"),
            columns=ORDER_COLUMNS, time="created_at", delay=5000, bar=10, kind="window",
            check=check_windows("customer_id", window_fields)),
        "hopping": dict(
            title="hopping aggregation (1 h windows every 15 min)",
            workload=orders, source="order-events", sink="customer_order_totals",
            engine_sql=window_agg_engine("HOPPING (SIZE 1 HOUR, ADVANCE BY 15 MINUTES)"),
            flink_sql=window_agg_flink("HOP(TABLE input, DESCRIPTOR(ts), INTERVAL '15' MINUTE, "
                                       "INTERVAL '1' HOUR)"),
            columns=ORDER_COLUMNS, time="created_at", delay=5000, bar=None, kind="window",
            check=check_windows("customer_id", window_fields)),
        "sessions": dict(
            title="sessionisation (the tutorial's user_sessions, 30 min gap)",
            workload=clicks, source="clickstream-events", sink="user_sessions",
            engine_sql="""CREATE STREAM clickstream (user_id STRING, page_url STRING, event_time BIGINT)
  WITH (KAFKA_TOPIC='clickstream-events', VALUE_FORMAT='JSON', TIMESTAMP='event_time');
CREATE TABLE user_sessions AS
SELECT user_id, COUNT(*) AS event_count, COLLECT_LIST(page_url) AS pages_visited,
       MIN(event_time) AS session_start, MAX(event_time) AS session_end
FROM clickstream WINDOW SESSION (30 MINUTES) GROUP BY user_id EMIT CHANGES;
""",
            flink_sql=("SELECT user_id, window_start, COUNT(*) AS event_count, "
                       "ARRAY_AGG(page_url) AS pages_visited, MIN(event_time) AS session_start, "
                       "MAX(event_time) AS session_end FROM TABLE(SESSION(TABLE input "
                       "PARTITION BY user_id, DESCRIPTOR(ts), INTERVAL '30' MINUTES)) "
                       "GROUP BY user_id, window_start, window_end"),
            columns=CLICK_COLUMNS, time="event_time", delay=2000, bar=5, kind="session",
            check=check_windows("user_id", ["event_count", "pages_visited", "session_start", "session_end"])),
        "fraud_over": dict(
            title="fraud pattern as an OVER window (3 failures in 5 min per IP)",
            workload=logins, source="input", sink="fraud_alerts",
            engine_sql=stream_engine(LOGIN_COLUMNS, "event_time", 2000, "fraud_alerts",
                                     FRAUD_OVER),
            flink_sql=FRAUD_OVER, columns=LOGIN_COLUMNS, time="event_time", delay=2000,
            bar=5, kind="pattern",
            check=check_rows(["ip_address", "failure_count", "event_time"])),
        "fraud_match_recognize": dict(
            title="fraud pattern as MATCH_RECOGNIZE (PATTERN (F{3}) WITHIN 5 min)",
            workload=logins, source="input", sink="fraud_matches",
            engine_sql=stream_engine(LOGIN_COLUMNS, "event_time", 2000, "fraud_matches",
                                     FRAUD_MR),
            flink_sql=FRAUD_MR, columns=LOGIN_COLUMNS, time="event_time", delay=2000,
            bar=5, kind="pattern",
            check=check_rows(["ip_address", "first_failure", "last_failure", "failures"])),
        "join": dict(
            title="stream-table join (orders LEFT JOIN a table of 100,000 customers)",
            workload=join, source="order-events", sink="enriched_orders",
            engine_sql=JOIN_ENGINE, flink_sql=JOIN_FLINK,
            columns=[["key", "STRING"], ["value", "ROW<customer_id STRING, amount DOUBLE>"],
                     ["timestamp", "BIGINT"]],
            time="timestamp", delay=0, bar=None, kind="join", check=check_join),
    }


def self_check(work):
    """The checks must be able to fail: each is run on outputs that differ in one value (and
    on equal ones) before any figure is trusted."""
    def write(name, rows):
        path = os.path.join(work, name)
        with open(path, "w") as f:
            for row in rows:
                f.write(json.dumps(row) + "\n")
        return path

    window = {"key": "k", "window": {"start": 0, "end": 10},
              "value": {"ORDER_COUNT": 2, "TOTAL_SPENT": 3.5, "LAST_ORDER_TIME": 9}}
    engine = write("check-engine.jsonl", [dict(window, value=None), window])
    flink_rows = [{"customer_id": "k", "window_start": 0, "order_count": 2,
                   "total_spent": 3.5, "last_order_time": 9}]
    same = write("check-flink.jsonl", flink_rows)
    other = write("check-other.jsonl", [dict(flink_rows[0], total_spent=3.75)])
    stream = write("check-stream.jsonl", [window])
    check = check_windows("customer_id", ["order_count", "total_spent", "last_order_time"])
    rows = check_rows(["order_count", "total_spent"])
    if (check(engine, same) or not check(engine, other) or rows(stream, same)
            or not rows(stream, other)):
        raise RuntimeError("the result checks do not tell equal results from different ones")
    for path in (engine, same, other, stream):
        os.remove(path)


# --- running -----------------------------------------------------------------------------


def run_engine(engine, sql_path, inputs, sink, out_path, dlq_path, log_path):
    """One `advisor-engine run` under /usr/bin/time: wall seconds, CPU seconds and peak RSS
    (kB). (Not this process's wait4: a child's peak RSS counts the memory of this process,
    which it was forked from, until it execs.)"""
    time_path = log_path + ".time"
    with open(log_path, "w") as log:
        done = subprocess.run(
            ["/usr/bin/time", "-f", "%e %U %S %M", "-o", time_path, engine, "run", "--sql",
             sql_path] + [arg for spec in inputs for arg in ("--input", spec)] +
            ["--output", f"{sink}=file:{out_path}", "--dead-letter", dlq_path],
            stdout=subprocess.DEVNULL, stderr=log)
    if done.returncode != 0:
        with open(log_path) as f:
            raise RuntimeError(f"advisor-engine failed ({done.returncode}): {f.read()[-2000:]}")
    with open(time_path) as f:
        wall, user, system, peak_kb = f.read().split()[-4:]
    return {"seconds": float(wall), "cpu_seconds": float(user) + float(system),
            "peak_rss_kb": int(peak_kb)}


def run_flink(flink_python, work, name, q, input_path, warmup_path, parallelism):
    out = os.path.join(work, f"flink-{name}-p{parallelism}.jsonl")
    job = {"name": name, "parallelism": parallelism, "columns": q["columns"],
           "event_time_column": q["time"], "watermark_delay_ms": q["delay"],
           "sql": q["flink_sql"], "input": input_path, "warmup_input": warmup_path,
           "output": out,
           "tables": [dict(t, input=os.path.join(work, t["file"]),
                           warmup_input=os.path.join(work, warmup_name(t["file"])))
                      for t in q["workload"].get("tables", [])]}
    job_path = os.path.join(work, f"flink-{name}-p{parallelism}.json")
    with open(job_path, "w") as f:
        json.dump(job, f)
    log_path = os.path.join(work, f"flink-{name}-p{parallelism}.log")
    with open(log_path, "w") as log:
        done = subprocess.run([flink_python, os.path.join(os.path.dirname(__file__),
                                                          "flink_bench.py"), job_path],
                              stdout=subprocess.PIPE, stderr=log, text=True)
    if done.returncode != 0:
        with open(log_path) as f:
            raise RuntimeError(f"Flink failed on {name} (parallelism {parallelism}): "
                               f"{f.read()[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1]), out


def warmup_name(file):
    return file.replace(".jsonl", "-warmup.jsonl")


def machine():
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    with open("/proc/meminfo") as f:
        mem_kb = int(f.readline().split()[1])
    return {"cpus": os.cpu_count(), "cpu_model": cpu, "memory_gb": round(mem_kb / 1048576, 1),
            "kernel": platform.release(), "os": platform.platform()}


def command_output(args):
    try:
        done = subprocess.run(args, capture_output=True, text=True, timeout=60)
        return (done.stdout + done.stderr).strip().splitlines()[0]
    except (OSError, IndexError, subprocess.TimeoutExpired):
        return "unknown"


def fmt_rate(x):
    return f"{x:,.0f}" if x is not None else "-"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--engine", required=True)
    p.add_argument("--flink-python", required=True)
    p.add_argument("--work", required=True)
    p.add_argument("--results", required=True)
    p.add_argument("--events", type=int, default=2_000_000)
    p.add_argument("--queries", default="tumbling,hopping,sessions,fraud_over,"
                                         "fraud_match_recognize,join")
    p.add_argument("--parallelism", default="1,2")
    p.add_argument("--engine-runs", type=int, default=3)
    p.add_argument("--conditions", default="",
                   help="what else ran on the machine, for the record")
    p.add_argument("--keep-outputs", action="store_true",
                   help="keep both engines' result files in --work")
    p.add_argument("--append", action="store_true",
                   help="keep the other queries' results already in --results")
    args = p.parse_args(argv)
    all_queries = queries(args.events)
    names = [n.strip() for n in args.queries.split(",") if n.strip()]
    unknown = [n for n in names if n not in all_queries]
    if unknown:
        sys.exit(f"unknown queries {unknown}; known: {', '.join(all_queries)}")
    parallelisms = [int(x) for x in args.parallelism.split(",")]
    self_check(args.work)
    started = datetime.datetime.now(datetime.timezone.utc)
    load_before = os.getloadavg()
    generated = {}
    results = []
    failed = False
    for name in names:
        q = all_queries[name]
        w = q["workload"]
        input_path = os.path.join(args.work, w["file"])
        warmup_path = os.path.join(args.work, warmup_name(w["file"]))
        files = [w["file"]] + [t["file"] for t in w.get("tables", [])]
        if input_path not in generated:
            t0 = time.monotonic()
            w["gen"](input_path, args.events)
            for file in files:
                with open(os.path.join(args.work, file)) as src, \
                        open(os.path.join(args.work, warmup_name(file)), "w") as dst:
                    for _, line in zip(range(1000), src):
                        dst.write(line)
            generated[input_path] = time.monotonic() - t0
        kind = "records" if w.get("records") else "file"
        inputs = [f"{q['source']}={kind}:{input_path}"] + [
            f"{t['source']}={kind}:{os.path.join(args.work, t['file'])}"
            for t in w.get("tables", [])]
        events = args.events + w.get("extra_events", 0)
        print(f"== {name}: {q['title']}, {events:,} events", flush=True)
        sql_path = os.path.join(args.work, f"{name}.sql")
        with open(sql_path, "w") as f:
            f.write(q["engine_sql"])
        engine_out = os.path.join(args.work, f"engine-{name}.jsonl")
        runs = [run_engine(args.engine, sql_path, inputs, q["sink"],
                           engine_out, os.path.join(args.work, f"engine-{name}-dlq.jsonl"),
                           os.path.join(args.work, f"engine-{name}.log"))
                for _ in range(args.engine_runs)]
        best = min(runs, key=lambda r: r["cpu_seconds"])
        engine_rows = count_lines(engine_out)
        dead = count_lines(os.path.join(args.work, f"engine-{name}-dlq.jsonl"))
        entry = {"query": name, "date": datetime.datetime.now(datetime.timezone.utc)
                 .isoformat(timespec="seconds"), "conditions": args.conditions,
                 "title": q["title"], "kind": q["kind"], "events": events,
                 "input": w["params"], "watermark_delay_ms": q["delay"],
                 "engine_sql": q["engine_sql"], "flink_sql": q["flink_sql"],
                 "bar_ratio_per_core": q["bar"],
                 "engine": dict(best, runs=runs, output_rows=engine_rows,
                                dead_letters=dead,
                                events_per_sec_per_core=events / best["cpu_seconds"],
                                events_per_sec_wall=events / best["seconds"]),
                 "flink": {}}
        for par in parallelisms:
            try:
                flink, flink_out = run_flink(args.flink_python, args.work, name, q,
                                              input_path, warmup_path, par)
            except RuntimeError as e:
                print(f"   Flink p{par}: {e}", file=sys.stderr)
                entry["flink"][str(par)] = {"error": str(e)[-1000:]}
                failed = True
                continue
            problem = f"{dead} engine dead letters" if dead else q["check"](
                engine_out, flink_out)
            flink.update(events_per_sec_per_core=events / flink["cpu_seconds"],
                         events_per_sec_wall=events / flink["seconds"],
                         same_results=problem is None, output_rows=flink["rows"])
            if problem:
                flink["difference"] = problem
                failed = True
                print(f"   results differ from Flink p{par}: {problem}", file=sys.stderr)
            entry["flink"][str(par)] = flink
            if not args.keep_outputs:
                os.remove(flink_out)
            print(f"   Flink p{par}: {flink['cpu_seconds']:.2f} CPU s, "
                  f"{flink['seconds']:.2f} s (fixed cost {flink['fixed_seconds']:.2f} s and "
                  f"JVM start {flink['jvm_start_seconds']:.2f} s left out), "
                  f"{flink['peak_rss_kb'] / 1024:.0f} MB; "
                  f"{'same results' if not problem else 'DIFFERENT results'}", flush=True)
        checked = [f for f in entry["flink"].values() if f.get("same_results")]
        if checked and len(checked) == len(entry["flink"]):
            flink_best = max(f["events_per_sec_per_core"] for f in checked)
            flink_rss = min(f["peak_rss_kb"] for f in checked)
            entry["ratio_per_core"] = entry["engine"]["events_per_sec_per_core"] / flink_best
            entry["rss_share_of_flink"] = entry["engine"]["peak_rss_kb"] / flink_rss
        results.append(entry)
        print(f"   engine: {best['cpu_seconds']:.2f} CPU s, {best['seconds']:.2f} s, "
              f"{best['peak_rss_kb'] / 1024:.0f} MB, {engine_rows:,} rows", flush=True)
        if not args.keep_outputs:
            os.remove(engine_out)
    if args.append and os.path.exists(args.results):
        with open(args.results) as f:
            kept = [r for r in json.load(f)["results"] if r["query"] not in names]
        order = list(all_queries)
        results = sorted(kept + results, key=lambda r: order.index(r["query"])
                         if r["query"] in order else len(order))
    flink_version = next((f["flink"] for r in results for f in r["flink"].values()
                          if "flink" in f), "unknown")
    heap = next((f["java_max_heap_bytes"] for r in results for f in r["flink"].values()
                 if "java_max_heap_bytes" in f), None)
    doc = {
        "date": started.isoformat(timespec="seconds"),
        "machine": machine(),
        "conditions": {
            "load_average_before": load_before, "load_average_after": os.getloadavg(),
            "note": args.conditions,
            "per_core": "events / CPU seconds (user + system, all threads) of the process",
            "engine": f"advisor-engine run, file input and output, best of {args.engine_runs} "
                      "runs by CPU time; process start and planning included",
            "flink": "PyFlink local mini cluster, streaming mode, filesystem JSON source and "
                     "sink; one JVM per query and parallelism; the JVM's start and the job's "
                     "fixed cost (a warm run over the first 1,000 events) left out; CPU and "
                     "peak RSS are the JVM's; JVM memory settings are PyFlink's defaults",
            "ratio": "engine events/s per core over the better of Flink's parallelisms",
            "rss_share": "engine peak RSS over the smaller of Flink's",
        },
        "versions": {
            "advisor_engine": command_output([args.engine, "--version"]),
            "git_commit": command_output(["git", "rev-parse", "HEAD"]),
            "flink": flink_version,
            "java": command_output(["java", "-version"]),
            "java_max_heap_bytes": heap,
            "python": platform.python_version(),
        },
        "bars": {"tumbling": "engine >= 10x Flink per core",
                 "sessions, fraud_over, fraud_match_recognize": "engine >= 5x Flink per core",
                 "rss": "engine peak RSS <= 1/5 of Flink's"},
        "generate_seconds": generated,
        "results": results,
        "capacity": capacity(results),
    }
    os.makedirs(os.path.dirname(os.path.abspath(args.results)), exist_ok=True)
    with open(args.results, "w") as f:
        json.dump(doc, f, indent=2)
        f.write("\n")
    print()
    print(table(doc))
    print(f"\n(written to {args.results})")
    return 1 if failed else 0


def capacity(results):
    """Events per second per core of each engine for each query kind (data/capacity.toml's
    `query`): the slowest of that kind's queries, and for Flink the better of its
    parallelisms, from results that matched."""
    out = {"engine": {}, "flink": {}}
    for r in results:
        flink = [f["events_per_sec_per_core"] for f in r["flink"].values()
                 if f.get("same_results")]
        if not flink or len(flink) != len(r["flink"]):
            continue
        for side, rate in (("engine", r["engine"]["events_per_sec_per_core"]),
                           ("flink", max(flink))):
            kind = out[side].setdefault(r["kind"], {"events_per_sec_per_core": rate,
                                                    "query": r["query"]})
            if rate < kind["events_per_sec_per_core"]:
                kind.update(events_per_sec_per_core=rate, query=r["query"])
    return out


def table(doc):
    """The results as a Markdown table, the one the README shows."""
    pars = sorted({p for r in doc["results"] for p in r["flink"]})
    head = ["query", "engine ev/s/core"] + [f"Flink p{p} ev/s/core" for p in pars] + \
           ["ratio", "bar", "engine RSS"] + [f"Flink p{p} RSS" for p in pars] + \
           ["engine CPU s"] + [f"Flink p{p} CPU s" for p in pars] + ["same results"]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for r in doc["results"]:
        e = r["engine"]
        fl = [r["flink"].get(p, {}) for p in pars]
        ratio = r.get("ratio_per_core")
        bar = r["bar_ratio_per_core"]
        bar_text = "-" if bar is None else (
            f"{bar}x: {'met' if ratio is not None and ratio >= bar else 'NOT met'}")
        rss = r.get("rss_share_of_flink")
        cells = [r["query"], fmt_rate(e["events_per_sec_per_core"])]
        cells += [fmt_rate(f.get("events_per_sec_per_core")) for f in fl]
        cells += [f"{ratio:.1f}x" if ratio is not None else "-", bar_text,
                  f"{e['peak_rss_kb'] / 1024:.0f} MB" + (f" ({rss:.2f})" if rss else "")]
        cells += [f"{f['peak_rss_kb'] / 1024:.0f} MB" if "peak_rss_kb" in f else "-" for f in fl]
        cells += [f"{e['cpu_seconds']:.2f}"]
        cells += [f"{f['cpu_seconds']:.2f}" if "cpu_seconds" in f else "-" for f in fl]
        cells += ["yes" if fl and all(f.get("same_results") for f in fl) else "NO"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
