#!/usr/bin/env python3
"""Run Flink SQL SELECTs over JSON-lines files with Apache Flink (PyFlink) and write each
statement's result rows as JSON lines: the reference that the engine's OVER-window and
MATCH_RECOGNIZE tests compare with, live (engine/docs/flink-semantics.md says what Flink
does; cases.json holds the cases).

Run it with the Python of the Flink virtualenv that scripts/lib/test-deps.sh installs
(apache-flink==2.3.0; Java 17 on PATH or JAVA_HOME). Standard library and pyflink only.

    PY=$HOME/.cache/advisor/flink-venv/bin/python
    $PY engine/tests/flink/run_flink_sql.py JOB.json
    $PY engine/tests/flink/run_flink_sql.py - < JOB.json      the job on standard input
    $PY engine/tests/flink/run_flink_sql.py JOB.json --only NAME [--only NAME2 ...]
    $PY engine/tests/flink/run_flink_sql.py JOB.json --out-dir DIR
    $PY engine/tests/flink/run_flink_sql.py JOB.json --batch  batch mode, for comparison only

The job
-------
A JSON list of cases, or an object {"comment": "...", "cases": [...]}. A case:

    {
      "name": "over_range_fraud",              unique; names the case in every message
      "input": "inputs/logins.jsonl",          a JSON-lines file, one object per line
      "columns": [["ip", "STRING"], ["status", "STRING"], ["event_time", "BIGINT"]],
                                               the input's columns, Flink types
      "event_time_column": "event_time",       one of them: BIGINT epoch milliseconds
      "sql": "SELECT ... FROM input ...",      one Flink SELECT over the table `input`;
                                               a list of strings is joined with newlines
      "output": "out/over_range_fraud.jsonl",  where the result rows go
      "watermark_delay_ms": 0,                 optional, default 0 (see Watermarks)
      "expect_error": "Greedy quantifiers",    optional: Flink must refuse the statement
                                               with a message containing this text
      "partition_columns": ["ip"],             optional, not used by the runner: tells a
                                               test which output columns identify a
                                               partition (see The output)
      "comment": "..."                         optional, ignored
    }

Relative paths are taken from the job file's folder (from the current folder for a job on
standard input). With --out-dir DIR every output goes to DIR/<file name of "output">
(DIR/<name>.jsonl without one), so a test runs the committed job into a temporary folder.

For each case the runner declares, in a database of the case's own (so each case has its
own `input`):

    CREATE TABLE input (
      <columns>,
      ts AS TO_TIMESTAMP_LTZ(<event_time_column>, 3),
      WATERMARK FOR ts AS ts - INTERVAL '<watermark_delay_ms + 1 ms>' SECOND
    ) WITH ('connector' = 'filesystem', 'path' = '<input>', 'format' = 'json')

so `ts` is a TIMESTAMP_LTZ(3) rowtime attribute and the SQL orders by it (ORDER BY ts in
an OVER window or a MATCH_RECOGNIZE; Flink accepts no other order there). No column may be
called ts. An input field missing from a line is NULL; a line that is not JSON fails the
job.

The output
----------
One JSON object per result row, keys in the SELECT's column order, rows in the order Flink
emitted them (parallelism 1, one sink writer per case). TIMESTAMP and TIMESTAMP_LTZ values
(a selected ts, MATCH_ROWTIME()) are written as epoch milliseconds, integers that compare
with the BIGINT event times; DECIMAL values keep the digits Flink wrote (scale included:
1.250000); DOUBLE values are JSON numbers; NULL is null. Only append-only results can be
written (OVER windows and MATCH_RECOGNIZE are); a query that produces updates is refused
with Flink's message.

Order: within one partition the rows come in Flink's order. Rows of different partitions
that Flink emits on the same watermark come in the order of its timer heap (stable from run
to run, but not arrival order and not anything an engine would reproduce), so compare rows
in order per partition (partition_columns) and as a multiset across partitions.

On standard output the runner prints a JSON summary, one case a line:

    {"flink": "2.3.0", "mode": "streaming", "seconds": 41.3, "cases": [
    {"name": "a", "output": "/abs/out/a.jsonl", "columns": [["ip", "STRING"], ...], "rows": 4},
    {"name": "b", "output": "/abs/out/b.jsonl", "error": "TableException: ..."},
    {"name": "c", "refused": "TableException: Greedy quantifiers are not allowed ..."}
    ]}

"columns" are the result's names and Flink types ("BIGINT NOT NULL", "DECIMAL(38, 6)", so a
test can check that AVG of a BIGINT is a BIGINT). "refused" is an expect_error case that
Flink refused as expected.

Errors and exit codes: 0 when every case ran (or was refused as expected), 1 when any case
has an "error", 2 when the job file is unusable (nothing runs). A case Flink refuses (parse
error with line and column, validation error, a pattern ending in a greedy quantifier...)
fails alone: its error is on standard error prefixed with the case name, its output file is
removed so that no stale rows are read, and the other cases still run. An error while the
job runs (input that is not JSON, AFTER MATCH SKIP TO a variable that matched no row) fails
every case of the run, since they share one Flink job; --only narrows it down.

How it runs, and why this way
-----------------------------
All cases run as ONE Flink job in ONE JVM: a StatementSet with an INSERT INTO per case, each
into a filesystem sink (JSON format) in a temporary folder, executed once by the local mini
cluster inside the PyFlink JVM (TableEnvironment.create(EnvironmentSettings
.in_streaming_mode())). Starting the JVM costs about 5 s and a job about as much again, so
the cost is paid once for all cases; each case adds its planning, about 0.3 s. (Flink
refuses some statements only when it translates the whole plan; then the runner plans each
case alone to find them and submits the rest again.)

Streaming mode, not batch, because streaming is what the engine does and what the engine
must match: records are read in file order, event time moves with watermarks, the OVER
window and MATCH_RECOGNIZE operators buffer rows until the watermark passes them, emit
then, and drop late rows. The file source is bounded: at its end Flink sends the final
watermark (Long.MAX_VALUE), which fires every pending timer, so every row still waiting is
processed before the job ends. Batch mode (--batch) was tried: MATCH_RECOGNIZE runs, but it
sorts the whole input first (no late rows, output grouped by partition), RANGE intervals
over a TIMESTAMP_LTZ fail ("Unsupported temporal arithmetic") and MATCH_ROWTIME(ts) is
refused, so it shows nothing of the streaming behaviour.

Settings that make runs deterministic and engine-like:
- parallelism 1 (parallelism.default, table.exec.resource.default-parallelism): one
  source, one operator instance, one sink writer per case, so order is Flink's order;
- table.local-time-zone UTC, and TZ=UTC and -Duser.timezone=UTC for the JVM;
- pipeline.auto-watermark-interval 0: Flink's watermark assigner then emits a watermark
  right after every record that advances it, instead of on a 200 ms processing-time
  timer, so which rows are late never depends on timing.

Watermarks: the watermark is the largest ts so far minus (watermark_delay_ms + 1) ms,
Flink's own WatermarkStrategy.forBoundedOutOfOrderness(delay) (max - delay - 1). Flink
treats a row at or behind the watermark as late, so with the default delay 0 a row with the
same time as the latest row is on time (a peer), and a row earlier than the latest row is
late (MATCH_RECOGNIZE drops it; an OVER window drops it only if its partition has already
emitted a row at that time or later). With a delay D, rows up to D ms out of order are
sorted back into place.
"""

import argparse
import decimal
import json
import os
import re
import shutil
import sys
import tempfile
import time

FLINK_SETTINGS = {
    "parallelism.default": "1",
    "table.exec.resource.default-parallelism": "1",
    "table.local-time-zone": "UTC",
    "pipeline.auto-watermark-interval": "0 ms",
}

CASE_KEYS = {"name", "input", "columns", "event_time_column", "sql", "output",
             "watermark_delay_ms", "expect_error", "partition_columns", "comment"}
SINK_TABLE = "advisor_result"


class JobError(Exception):
    """The job description is unusable (exit code 2)."""


def quote_ident(name):
    return "`" + name.replace("`", "``") + "`"


def quote_string(text):
    return "'" + text.replace("'", "''") + "'"


def load_job(args):
    if args.job == "-":
        text = sys.stdin.read()
        base = os.getcwd()
    else:
        try:
            with open(args.job, encoding="utf-8") as f:
                text = f.read()
        except OSError as e:
            raise JobError(f"cannot read the job file: {e}")
        base = os.path.dirname(os.path.abspath(args.job))
    try:
        job = json.loads(text)
    except ValueError as e:
        raise JobError(f"the job is not JSON: {e}")
    if isinstance(job, dict):
        unknown = set(job) - {"cases", "comment"}
        if unknown:
            raise JobError(f"unknown top-level keys {sorted(unknown)}")
        cases = job.get("cases")
    else:
        cases = job
    if not isinstance(cases, list) or not cases:
        raise JobError('the job must be a non-empty list of cases or {"cases": [...]}')
    seen = set()
    checked = []
    for i, case in enumerate(cases):
        where = f"case {i + 1}"
        if not isinstance(case, dict):
            raise JobError(f"{where}: not an object")
        name = case.get("name")
        if not isinstance(name, str) or not name:
            raise JobError(f"{where}: needs a \"name\"")
        where = f"case {name!r}"
        if name in seen:
            raise JobError(f"{where}: the name is used twice")
        seen.add(name)
        unknown = set(case) - CASE_KEYS
        if unknown:
            raise JobError(f"{where}: unknown keys {sorted(unknown)}")
        sql = case.get("sql")
        if isinstance(sql, list) and sql and all(isinstance(x, str) for x in sql):
            case = dict(case, sql="\n".join(sql))
        for key in ("input", "event_time_column", "sql"):
            if not isinstance(case.get(key), str) or not case[key].strip():
                hint = " (a string, or a list of lines)" if key == "sql" else " (a string)"
                raise JobError(f"{where}: needs \"{key}\"{hint}")
        columns = case.get("columns")
        if (not isinstance(columns, list) or not columns
                or not all(isinstance(c, list) and len(c) == 2
                           and all(isinstance(x, str) and x for x in c) for c in columns)):
            raise JobError(f"{where}: \"columns\" must be a list of [name, flink type]")
        names = [c[0] for c in columns]
        if "ts" in (n.lower() for n in names):
            raise JobError(f"{where}: a column may not be called ts (the runner's rowtime)")
        if case["event_time_column"] not in names:
            raise JobError(f"{where}: event_time_column {case['event_time_column']!r} "
                           "is not one of the columns")
        expect = case.get("expect_error")
        if expect is not None and (not isinstance(expect, str) or not expect):
            raise JobError(f"{where}: expect_error must be a non-empty string")
        parts = case.get("partition_columns", [])
        if not isinstance(parts, list) or not all(isinstance(p, str) for p in parts):
            raise JobError(f"{where}: partition_columns must be a list of column names")
        delay = case.get("watermark_delay_ms", 0)
        if not isinstance(delay, int) or isinstance(delay, bool) or delay < 0:
            raise JobError(f"{where}: watermark_delay_ms must be an integer >= 0")
        input_path = os.path.join(base, case["input"])
        if not os.path.isfile(input_path):
            raise JobError(f"{where}: input file {input_path} does not exist")
        if expect is not None:
            output = None  # a statement Flink must refuse writes nothing
        elif args.out_dir:
            out_name = os.path.basename(case.get("output") or f"{name}.jsonl")
            output = os.path.join(args.out_dir, out_name)
        elif isinstance(case.get("output"), str) and case["output"]:
            output = os.path.join(base, case["output"])
        else:
            raise JobError(f"{where}: needs \"output\" (or run with --out-dir)")
        checked.append(dict(case, input=os.path.abspath(input_path),
                            output=output and os.path.abspath(output),
                            watermark_delay_ms=delay))
    if args.only:
        missing = set(args.only) - seen
        if missing:
            raise JobError(f"--only names no such case: {sorted(missing)}")
        checked = [c for c in checked if c["name"] in args.only]
    outputs = [c["output"] for c in checked if c["output"]]
    if len(set(outputs)) != len(outputs):
        raise JobError("two cases write the same output file")
    return checked


def java_message(exc):
    """Flink's own message for an exception raised through py4j: the chain of causes,
    without the Java stack traces."""
    java = getattr(exc, "java_exception", None)
    if java is None:
        # pyflink converts some Java exceptions into Python ones holding the stack trace
        text = str(exc)
        lines = [ln for ln in text.splitlines() if not ln.lstrip().startswith("at ")
                 and not ln.lstrip().startswith("... ")]
        return "\n".join(lines).strip()
    parts = []
    seen = set()
    while java is not None and id(java) not in seen and len(parts) < 30:
        seen.add(id(java))
        cls = java.getClass().getName()
        msg = java.getMessage()
        text = f"{cls.rsplit('.', 1)[-1]}: {msg}" if msg else cls
        if not parts or msg not in parts[-1]:
            parts.append(text)
        java = java.getCause()
    return "\ncaused by ".join(parts)


def flink_exception_text(exc):
    return java_message(exc)


def watermark_interval(delay_ms):
    total = delay_ms + 1
    return f"{total // 1000}.{total % 1000:03d}"


def input_ddl(case, table):
    cols = [f"  {quote_ident(n)} {t}" for n, t in case["columns"]]
    cols.append(f"  ts AS TO_TIMESTAMP_LTZ({quote_ident(case['event_time_column'])}, 3)")
    cols.append(f"  WATERMARK FOR ts AS ts - INTERVAL "
                f"'{watermark_interval(case['watermark_delay_ms'])}' SECOND")
    return (f"CREATE TABLE {table} (\n" + ",\n".join(cols) + "\n) WITH (\n"
            f"  'connector' = 'filesystem',\n  'path' = {quote_string(case['input'])},\n"
            "  'format' = 'json',\n  'json.fail-on-missing-field' = 'false',\n"
            "  'json.ignore-parse-errors' = 'false'\n)")


def sink_ddl(table, columns, path):
    cols = ",\n".join(f"  {quote_ident(n)} {t}" for n, t in columns)
    return (f"CREATE TABLE {table} (\n{cols}\n) WITH (\n"
            f"  'connector' = 'filesystem',\n  'path' = {quote_string(path)},\n"
            "  'format' = 'json',\n  'json.timestamp-format.standard' = 'ISO-8601',\n"
            "  'json.encode.decimal-as-plain-number' = 'true',\n"
            "  'sink.rolling-policy.file-size' = '1gb',\n"
            "  'sink.rolling-policy.rollover-interval' = '1 d'\n)")


def plain_times(env, table):
    """The table with every time attribute (a selected ts, MATCH_ROWTIME()) cast to its
    plain timestamp type: a sink takes at most one rowtime column, and the values are the
    same."""
    schema = table._j_table.getResolvedSchema()
    names = list(schema.getColumnNames())
    types = [c.getDataType().getLogicalType().toString() for c in schema.getColumns()]
    if not any("*ROWTIME*" in t or "*PROCTIME*" in t for t in types):
        return table
    view = "advisor_query"
    env.create_temporary_view(view, table)
    items = []
    for n, t in zip(names, types):
        if "*ROWTIME*" in t or "*PROCTIME*" in t:
            plain = re.sub(r"\s+", " ", t.replace("*ROWTIME*", "").replace("*PROCTIME*", ""))
            plain = plain.replace(" NOT NULL", "").strip()
            items.append(f"CAST({quote_ident(n)} AS {plain}) AS {quote_ident(n)}")
        else:
            items.append(quote_ident(n))
    return env.sql_query(f"SELECT {', '.join(items)} FROM {view}")


def result_columns(table):
    """(name, DDL type, display type) of each result column; a time attribute (the rowtime
    that MATCH_ROWTIME() or a selected ts carries) becomes its plain timestamp type."""
    schema = table._j_table.getResolvedSchema()
    out = []
    for col in schema.getColumns():
        logical = col.getDataType().getLogicalType()
        text = logical.toString()
        if "*ROWTIME*" in text or "*PROCTIME*" in text:
            plain = text.replace("*ROWTIME*", "").replace("*PROCTIME*", "").strip()
            plain = re.sub(r"\s+", " ", plain)
            out.append((col.getName(), plain, plain))
        else:
            out.append((col.getName(), logical.asSerializableString(),
                        logical.asSummaryString()))
    return out


def part_files(folder):
    """The sink's finished files in the order they were written (part-<uuid>-<task>-<n>)."""
    files = []
    for root, _dirs, names in os.walk(folder):
        for n in names:
            if n.startswith(".") or n.startswith("_"):
                continue
            m = re.search(r"-(\d+)-(\d+)(?:\.\w+)?$", n)
            key = (int(m.group(1)), int(m.group(2))) if m else (0, 0)
            files.append((key, os.path.join(root, n)))
    return [p for _k, p in sorted(files)]


def convert_value(value, flink_type):
    if value is None:
        return None
    base = flink_type.upper()
    if base.startswith("TIMESTAMP") and isinstance(value, str):
        return timestamp_millis(value)
    if base.startswith("DECIMAL") or base.startswith("NUMERIC"):
        return value  # a decimal.Decimal from the parser: its digits as Flink wrote them
    if isinstance(value, decimal.Decimal):
        if base.startswith(("FLOAT", "DOUBLE", "REAL")):
            return float(value)
        return value
    return value


def timestamp_millis(text):
    """Epoch ms of Flink's ISO-8601 JSON timestamp ('2024-01-01T00:00:01.5Z' for LTZ, without
    the Z for TIMESTAMP, read as UTC since the session time zone is UTC). Any year, also the
    far-off ones Flink writes for a time near Long.MAX_VALUE."""
    t = text.strip().replace(" ", "T")
    if t.endswith("Z"):
        t = t[:-1]
    m = re.match(r"^([+-]?\d{4,})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2}))?(?:\.(\d+))?$", t)
    if not m:
        raise ValueError(f"unexpected timestamp text from Flink: {text!r}")
    year, month, day, hour, minute = (int(m.group(i)) for i in range(1, 6))
    second = int(m.group(6) or 0)
    millis = int(((m.group(7) or "") + "000")[:3])
    days = days_from_civil(year, month, day)
    return (((days * 24 + hour) * 60 + minute) * 60 + second) * 1000 + millis


def days_from_civil(y, m, d):
    """Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm)."""
    y -= m <= 2
    era = (y if y >= 0 else y - 399) // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def dump_value(v):
    if isinstance(v, decimal.Decimal):
        return str(v) if v.is_finite() else json.dumps(str(v))
    if isinstance(v, float):
        return json.dumps(v)
    if isinstance(v, dict):
        return "{" + ", ".join(f"{json.dumps(k)}: {dump_value(x)}" for k, x in v.items()) + "}"
    if isinstance(v, list):
        return "[" + ", ".join(dump_value(x) for x in v) + "]"
    return json.dumps(v, ensure_ascii=False)


def dump_row(row):
    return "{" + ", ".join(f"{json.dumps(k, ensure_ascii=False)}: {dump_value(v)}"
                           for k, v in row.items()) + "}"


def write_output(case, columns, sink_dir):
    rows = []
    for path in part_files(sink_dir):
        with open(path, encoding="utf-8") as f:
            for line in f:
                if not line.strip():
                    continue
                raw = json.loads(line, parse_float=decimal.Decimal)
                rows.append({n: convert_value(raw.get(n), t) for n, t, _ in columns})
    os.makedirs(os.path.dirname(case["output"]), exist_ok=True)
    tmp = case["output"] + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(dump_row(r) + "\n")
    os.replace(tmp, case["output"])
    return len(rows)


def start_flink(work, batch=False):
    os.environ["TZ"] = "UTC"
    log_dir = os.path.join(work, "log")
    os.makedirs(log_dir, exist_ok=True)
    os.environ.setdefault("FLINK_LOG_DIR", log_dir)
    opts = os.environ.get("FLINK_ENV_JAVA_OPTS", "")
    if "user.timezone" not in opts:
        os.environ["FLINK_ENV_JAVA_OPTS"] = (opts + " -Duser.timezone=UTC").strip()
    from pyflink.table import EnvironmentSettings, TableEnvironment
    settings = (EnvironmentSettings.in_batch_mode() if batch
                else EnvironmentSettings.in_streaming_mode())
    env = TableEnvironment.create(settings)
    conf = env.get_config()
    for k, v in FLINK_SETTINGS.items():
        conf.set(k, v)
    return env


def flink_version():
    try:
        from pyflink.version import __version__
        return __version__
    except Exception:  # pragma: no cover
        return "unknown"


def refusal(case, entry, exc):
    """Records Flink refusing a case's statement; returns True when the case expected it."""
    message = flink_exception_text(exc)
    expected = case.get("expect_error")
    if expected and expected in message:
        entry["refused"] = message
        return True
    entry.pop("columns", None)
    if expected:
        entry["error"] = (f"expected Flink to refuse the statement with {expected!r}, but it "
                          f"said: {message}")
    else:
        entry["error"] = message
    print(f"case {case['name']!r}: Flink refused the statement:\n{entry['error']}",
          file=sys.stderr)
    return False


def run(cases, batch=False):
    started = time.monotonic()
    work = tempfile.mkdtemp(prefix="run-flink-sql-")
    results = []
    try:
        env = start_flink(work, batch)
        planned = []
        for i, case in enumerate(cases):
            entry = {"name": case["name"]}
            if case["output"]:
                entry["output"] = case["output"]
                if os.path.exists(case["output"]):
                    os.remove(case["output"])
            results.append(entry)
            db = f"case_{i}"
            sink = f"{db}.{SINK_TABLE}"
            try:
                env.execute_sql(f"CREATE DATABASE {db}")
                env.use_database(db)
                env.execute_sql(input_ddl(case, "input"))
                table = plain_times(env, env.sql_query(case["sql"]))
                columns = result_columns(table)
                sink_dir = os.path.join(work, f"out_{i}")
                env.execute_sql(sink_ddl(SINK_TABLE, [(n, t) for n, t, _ in columns],
                                         sink_dir))
                if case.get("expect_error"):
                    # Some refusals come only when Flink translates the plan to operators
                    # (a greedy quantifier at the end of a PATTERN): plan it alone.
                    alone = env.create_statement_set()
                    alone.add_insert(sink, table)
                    alone.explain()
            except Exception as e:  # Flink refused the statement
                refusal(case, entry, e)
                continue
            if case.get("expect_error"):
                entry["error"] = (f"expected Flink to refuse the statement with "
                                  f"{case['expect_error']!r}, but Flink accepted it")
                print(f"case {case['name']!r}: {entry['error']}", file=sys.stderr)
                continue
            entry["columns"] = [[n, shown] for n, _t, shown in columns]
            planned.append((case, entry, columns, sink_dir, sink, table))
        planned = execute(env, planned)
        for case, entry, columns, sink_dir, _sink, _table in planned:
            try:
                entry["rows"] = write_output(case, columns, sink_dir)
            except (OSError, ValueError) as e:
                entry["error"] = f"reading Flink's result failed: {e}"
                print(f"case {case['name']!r}: {entry['error']}", file=sys.stderr)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return {"flink": flink_version(), "mode": "batch" if batch else "streaming",
            "seconds": round(time.monotonic() - started, 1), "cases": results}


def execute(env, planned):
    """Runs the planned cases as one Flink job; returns those whose rows were written.

    Flink checks some statements only when it translates the whole plan to operators
    (execute() raises before any job starts, e.g. for a greedy quantifier at the end of a
    PATTERN). Then each case is planned alone to find the ones Flink refuses, and the job is
    submitted again without them, so one bad case does not cost the others."""
    for attempt in (1, 2):
        if not planned:
            return []
        statements = env.create_statement_set()
        for *_rest, sink, table in planned:
            statements.add_insert(sink, table)
        try:
            result = statements.execute()
        except Exception as e:
            if attempt == 2:
                fail_all(planned, "Flink refused the job: " + flink_exception_text(e))
                return []
            kept = []
            for item in planned:
                case, entry, *_mid, sink, table = item
                alone = env.create_statement_set()
                alone.add_insert(sink, table)
                try:
                    alone.explain()
                    kept.append(item)
                except Exception as e2:
                    refusal(case, entry, e2)
            if len(kept) == len(planned):
                fail_all(planned, "Flink refused the job: " + flink_exception_text(e))
                return []
            planned = kept
            continue
        try:
            result.wait()
        except Exception as e:
            fail_all(planned, "the Flink job failed: " + flink_exception_text(e))
            return []
        return planned
    return []


def fail_all(planned, message):
    names = ", ".join(repr(item[0]["name"]) for item in planned)
    print(f"cases {names}: {message}", file=sys.stderr)
    for _case, entry, *_rest in planned:
        entry.pop("columns", None)
        entry["error"] = message


def main(argv=None):
    parser = argparse.ArgumentParser(
        description="Run Flink SQL cases over JSON-lines files (see the module docstring).")
    parser.add_argument("job", help="the job file (JSON), or - for standard input")
    parser.add_argument("--only", action="append", metavar="NAME",
                        help="run only this case (repeatable)")
    parser.add_argument("--batch", action="store_true",
                        help="batch mode instead of streaming, for comparison only")
    parser.add_argument("--out-dir", metavar="DIR",
                        help="write each output as DIR/<file name of its output>")
    args = parser.parse_args(argv)
    try:
        cases = load_job(args)
    except JobError as e:
        print(f"run_flink_sql: {e}", file=sys.stderr)
        return 2
    summary = run(cases, args.batch)
    head = {k: v for k, v in summary.items() if k != "cases"}
    lines = [json.dumps(c, ensure_ascii=False) for c in summary["cases"]]
    print(json.dumps(head)[:-1] + ', "cases": [\n' + ",\n".join(lines) + "\n]}")
    return 1 if any("error" in c for c in summary["cases"]) else 0


if __name__ == "__main__":
    sys.exit(main())
