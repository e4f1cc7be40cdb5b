#!/usr/bin/env python3
"""The Flink side of scripts/bench: one of the bench's queries as Flink SQL over a JSON-lines
file, in a local PyFlink mini cluster (streaming mode, parallelism 1), into a blackhole
sink. Run it pinned to one core (`taskset -c 0`), with the Python of the Flink virtualenv
that scripts/lib/test-deps.sh installs.

    flink_bench.py QUERY FILE WARMUP_FILE

QUERY is `sessions` (the tutorial's user_sessions as a SESSION window) or `fraud` (the
tutorial's 3-failures-in-5-minutes rule as an OVER window). The JVM's start and the job's
fixed cost (planning, code generation, deployment) are excluded: in one JVM the job runs
over WARMUP_FILE (a few lines; the JVM warms up), over FILE, and over WARMUP_FILE again,
and the figure is the time over FILE less the second, warm, time over WARMUP_FILE. Prints
one JSON object: {"query", "seconds", "fixed_seconds", "first_seconds", "flink"}.
"""

import json
import os
import sys
import time

TABLES = {
    "sessions": (
        "user_id STRING, page_url STRING, event_time BIGINT",
        "user_id STRING, event_count BIGINT, pages_visited ARRAY<STRING>, "
        "session_start BIGINT, session_end BIGINT",
        "SELECT user_id, COUNT(*), ARRAY_AGG(page_url), MIN(event_time), MAX(event_time) "
        "FROM TABLE(SESSION(TABLE {input} PARTITION BY user_id, DESCRIPTOR(ts), "
        "INTERVAL '30' MINUTES)) GROUP BY user_id, window_start, window_end",
    ),
    "fraud": (
        "user_id STRING, ip_address STRING, status STRING, event_time BIGINT",
        "alert_type STRING, ip_address STRING, failure_count BIGINT, time_window STRING, "
        "`timestamp` BIGINT",
        "SELECT 'SUSPECTED_FRAUD', ip_address, failure_count, '5_minutes', event_time FROM ("
        "SELECT ip_address, event_time, COUNT(*) OVER (PARTITION BY ip_address ORDER BY ts "
        "RANGE BETWEEN INTERVAL '5' MINUTE PRECEDING AND CURRENT ROW) AS failure_count "
        "FROM {input} WHERE status = 'FAILED') WHERE failure_count >= 3",
    ),
}


def run_once(env, query, path, tag):
    columns, sink_columns, select = TABLES[query]
    source = f"input_{tag}"
    sink = f"sink_{tag}"
    env.execute_sql(
        f"CREATE TABLE {source} ({columns}, ts AS TO_TIMESTAMP_LTZ(event_time, 3), "
        f"WATERMARK FOR ts AS ts - INTERVAL '0.001' SECOND) WITH ("
        f"'connector' = 'filesystem', 'path' = '{path}', 'format' = 'json')"
    )
    env.execute_sql(f"CREATE TABLE {sink} ({sink_columns}) WITH ('connector' = 'blackhole')")
    started = time.monotonic()
    env.execute_sql(f"INSERT INTO {sink} " + select.format(input=source)).wait()
    return time.monotonic() - started


def main(argv):
    if len(argv) != 4 or argv[1] not in TABLES:
        sys.exit(f"usage: {argv[0]} {{{'|'.join(TABLES)}}} FILE WARMUP_FILE")
    query, path, warmup = argv[1], os.path.abspath(argv[2]), os.path.abspath(argv[3])
    os.environ["TZ"] = "UTC"
    from pyflink.table import EnvironmentSettings, TableEnvironment
    from pyflink.version import __version__

    env = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
    env.get_config().set("parallelism.default", "1")
    env.get_config().set("table.local-time-zone", "UTC")
    first = run_once(env, query, warmup, "first")
    full = run_once(env, query, path, "full")
    fixed = run_once(env, query, warmup, "fixed")
    print(json.dumps({"query": query, "seconds": full - fixed, "fixed_seconds": fixed,
                      "first_seconds": first, "flink": __version__}))


if __name__ == "__main__":
    main(sys.argv)
