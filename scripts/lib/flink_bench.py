#!/usr/bin/env python3
"""The Flink side of scripts/bench: one query as Flink SQL over a JSON-lines file, in a local
PyFlink mini cluster (streaming mode) at a given parallelism, into a filesystem sink, timed
apart from the JVM's start and the job's fixed cost. scripts/lib/bench_compare.py writes the
job and reads the answer; run it with the Python of the Flink virtualenv that
scripts/lib/test-deps.sh installs (apache-flink 2.3.0, Java 17).

    flink_bench.py JOB.json

JOB.json:
    {"name": "tumbling", "parallelism": 1,
     "columns": [["customer_id", "STRING"], ...], "event_time_column": "created_at",
     "watermark_delay_ms": 5000,
     "sql": "SELECT ... FROM input ...",        Flink SQL over the table `input`
     "input": "/abs/orders.jsonl", "warmup_input": "/abs/orders-warmup.jsonl",
     "output": "/abs/flink-tumbling-p1.jsonl",  the result rows, one JSON object a line
     "tables": [{"name": "customers", "columns": ..., "event_time_column": ...,
                 "watermark_delay_ms": 0, "primary_key": "key", "input": ...,
                 "warmup_input": ...}]}        optional: more tables the query reads

The input table is engine/tests/flink/run_flink_sql.py's (`ts` is the rowtime attribute,
TO_TIMESTAMP_LTZ(<event_time_column>, 3), watermark `ts - (delay + 1 ms)`), and so are the
sink and the conversion of its rows (timestamps as epoch milliseconds).

How the time is taken: one JVM runs the job three times, each a job of its own with its own
mini cluster (PyFlink's local executor starts one per job): over WARMUP_INPUT (a few lines;
the JVM loads and compiles its classes), over INPUT, and over WARMUP_INPUT again. The
figures are those of the run over INPUT less those of the second, warm, run over
WARMUP_INPUT, which is the job's fixed cost (planning, code generation, mini cluster start,
deployment, sink commit). CPU seconds are the JVM's (every thread: tasks, GC, JIT, the
mini cluster), read from /proc/<pid>/stat before and after each run; peak RSS is the JVM's
VmHWM at the end (the Python client process, which only submits the job, is left out).

Prints one JSON object: {"name", "parallelism", "flink", "java_max_heap_bytes",
"seconds", "cpu_seconds", "fixed_seconds", "fixed_cpu_seconds", "full_seconds",
"full_cpu_seconds", "first_seconds", "jvm_start_seconds", "peak_rss_kb", "rows"}.
"""

import json
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                "engine", "tests", "flink"))
import run_flink_sql as rfs  # noqa: E402  (the reference runner's DDL and conversions)

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def children(pid):
    """Every process below `pid`."""
    by_parent = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        by_parent.setdefault(int(fields[1]), []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        for child in by_parent.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def find_jvm():
    for pid in children(os.getpid()):
        try:
            with open(f"/proc/{pid}/comm") as f:
                if f.read().strip() == "java":
                    return pid
        except OSError:
            continue
    raise RuntimeError("no java process below this one: did PyFlink start its JVM?")


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # utime and stime are the 14th and 15th fields; fields[0] is the 3rd (state).
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def peak_rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmHWM in /proc/{pid}/status")


def table_ddl(table, name, path):
    """run_flink_sql.py's input table, with the table's PRIMARY KEY when it has one (the
    versioned side of a temporal join)."""
    ddl = rfs.input_ddl(dict(table, input=path), name)
    if table.get("primary_key"):
        key = rfs.quote_ident(table["primary_key"])
        ddl = ddl.replace("\n) WITH (", f",\n  PRIMARY KEY ({key}) NOT ENFORCED\n) WITH (", 1)
    return ddl


def run_once(env, job, warm, tag, work, jvm):
    db = f"run_{tag}"
    env.execute_sql(f"CREATE DATABASE {db}")
    env.use_database(db)
    env.execute_sql(table_ddl(job, "input", job["warmup_input" if warm else "input"]))
    for extra in job.get("tables", []):
        env.execute_sql(table_ddl(extra, extra["name"],
                                  extra["warmup_input" if warm else "input"]))
    table = rfs.plain_times(env, env.sql_query(job["sql"]))
    columns = rfs.result_columns(table)
    sink_dir = os.path.join(work, tag)
    env.execute_sql(rfs.sink_ddl("bench_sink", [(n, t) for n, t, _ in columns], sink_dir))
    cpu_before = cpu_seconds(jvm)
    started = time.monotonic()
    table.execute_insert(f"{db}.bench_sink").wait()
    seconds = time.monotonic() - started
    return seconds, cpu_seconds(jvm) - cpu_before, columns, sink_dir


def main(argv):
    if len(argv) != 2:
        sys.exit(f"usage: {argv[0]} JOB.json")
    with open(argv[1], encoding="utf-8") as f:
        job = json.load(f)
    os.environ["TZ"] = "UTC"
    work = tempfile.mkdtemp(prefix="flink-bench-")
    os.environ.setdefault("FLINK_LOG_DIR", os.path.join(work, "log"))
    opts = os.environ.get("FLINK_ENV_JAVA_OPTS", "")
    os.environ["FLINK_ENV_JAVA_OPTS"] = (opts + " -Duser.timezone=UTC").strip()
    from pyflink.table import EnvironmentSettings, TableEnvironment
    from pyflink.version import __version__

    started = time.monotonic()
    env = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
    jvm_start = time.monotonic() - started
    conf = env.get_config()
    parallelism = str(job["parallelism"])
    conf.set("parallelism.default", parallelism)
    conf.set("table.exec.resource.default-parallelism", parallelism)
    conf.set("table.local-time-zone", "UTC")
    jvm = find_jvm()
    from pyflink.java_gateway import get_gateway
    max_heap = get_gateway().jvm.java.lang.Runtime.getRuntime().maxMemory()

    try:
        first, _, _, _ = run_once(env, job, True, "first", work, jvm)
        full, full_cpu, columns, sink_dir = run_once(env, job, False, "full", work, jvm)
        fixed, fixed_cpu, _, _ = run_once(env, job, True, "fixed", work, jvm)
        rss = peak_rss_kb(jvm)
        rows = rfs.write_output({"output": job["output"]}, columns, sink_dir)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps({
        "name": job["name"], "parallelism": job["parallelism"], "flink": __version__,
        "java_max_heap_bytes": int(max_heap),
        "seconds": max(full - fixed, 1e-9), "cpu_seconds": max(full_cpu - fixed_cpu, 1e-9),
        "fixed_seconds": fixed, "fixed_cpu_seconds": fixed_cpu,
        "full_seconds": full, "full_cpu_seconds": full_cpu,
        "first_seconds": first, "jvm_start_seconds": jvm_start,
        "peak_rss_kb": rss, "rows": rows,
    }))


if __name__ == "__main__":
    main(sys.argv)
