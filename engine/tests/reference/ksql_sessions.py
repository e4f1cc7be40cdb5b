#!/usr/bin/env python3
"""An independent, standard-library-only reference of ksqlDB's SESSION-window aggregation.

It is written from the semantics documented (with sources) in engine/docs/ksqldb-sessions.md,
that is from Kafka Streams' KStreamSessionWindowAggregate and ksqlDB's UDAFs, never from the
engine's code. It models one query

    CREATE TABLE t AS SELECT k, <aggregates> FROM s
      WINDOW SESSION (gap [, RETENTION r] [, GRACE PERIOD g]) GROUP BY k EMIT CHANGES|FINAL;

run with the record cache off (cache.max.bytes.buffering / statestore.cache.max.bytes = 0),
so that every update is forwarded.

What it reproduces, per input record, in arrival order (KStreamSessionWindowAggregate.process):

* stream time: the largest record timestamp seen so far by the task (one task per partition
  of the aggregation's input; records may carry "partition", default 0);
* windowCloseTime = streamTime - grace - gap;
* the sessions of the key the record joins: every stored session with
  end >= recordTime - gap and start <= recordTime + gap (both bounds inclusive), among those
  the store still shows: end >= storeStreamTime - retention + 1 (the segmented store's
  retention cut-off, storeStreamTime being the largest session end put in that task's store);
* the merged window: [min(start, t), max(end, t)] over the found sessions and the record;
* late: the record is dropped when mergedWindow.end < windowCloseTime (strict); nothing is
  emitted; it is reported in the `late` list;
* otherwise, EMIT CHANGES output, in this order:
    - unless the merged window equals [t, t]: one tombstone per found session, in store order
      (ascending window end), each with that session's old window and timestamp = its end;
    - then the merged session's new value, timestamp = merged window end;
* the aggregate: initialize(), then merge() with each found session in store order, then
  aggregate() the new record last (so an out-of-order record lands at the END of a
  COLLECT_LIST, whatever its timestamp);
* EMIT FINAL (EmitStrategy.onWindowClose): no per-record updates; after each record, every
  stored session with max(0, lastEmitCloseTime) <= end <= windowCloseTime - 1 is emitted once,
  ordered by (end, start, key), timestamp = its end. Real Kafka Streams throttles that check to
  once per second of wall-clock time, so only the position of final rows in the output stream
  can differ; the set of rows and their contents do not. Sessions never closed by the end of
  the input are not emitted.

Defaults, as in ksqlDB's StreamAggregateBuilder: grace = max(24 h - gap, 0) when no GRACE
PERIOD is given; retention = gap + grace when no RETENTION is given (Kafka Streams' default).

Aggregates (each merge is the UDAF's merge()):
  COUNT(*) / COUNT(col)  count (COUNT(col) skips nulls); merge adds
  SUM(col)               starts at 0, skips nulls; merge adds
  MIN / MAX(col)         start null, skip nulls; merge = null-safe min / max
  AVG(col)               (sum, count), skips nulls; merge adds both; result sum/count, 0.0 if 0
  COLLECT_LIST(col)      keeps nulls, capped at `collect_limit`; merge concatenates (one + two)
  COLLECT_SET(col)       distinct values in first-seen order, capped; merge appends missing ones
  COUNT_DISTINCT(col)    exact here; ksqlDB uses HyperLogLog (log2m = 14), equal for small sets
  LATEST_BY_OFFSET(col)  value of the last PROCESSED non-null record (ignore_nulls, default)
  EARLIEST_BY_OFFSET(col) value of the first processed non-null record
  TOPK(col, k)           k largest, descending, duplicates kept; merge is a sorted merge

Interface
---------
    outputs, late = sessionize(records, gap_ms, grace_ms, aggregates,
                               retention_ms=None, emit="CHANGES", collect_limit=1000)

records: dicts {"key", "timestamp", "offset", "value": {column: value}} in arrival order
  (optionally "partition"). A null key or a null/negative timestamp is skipped (reported in
  `late` with its reason), as Kafka Streams and ksqlDB skip them.
aggregates: a list of (FUNC, column) or (FUNC, column, alias) or (FUNC, column, alias, param)
  tuples, or dicts {"func", "column", "alias", "param"}; column None means COUNT(*); param is
  K for TOPK and ignore_nulls (bool) for LATEST/EARLIEST_BY_OFFSET. Unaliased aggregates are
  named KSQL_COL_0, KSQL_COL_1, ... like ksqlDB's generated names.
outputs: dicts {"key", "window": {"start", "end"}, "value": {alias: ...} | None, "timestamp"}.
late: dicts {"record", "reason", "window", "close_time", "stream_time"}.

collect_limit: ksql.functions.collect_list.limit / collect_set.limit. 1000 is what issue 19
  asks for and what Confluent Cloud fixes; self-managed ksqlDB 0.8+ defaults to no limit
  (pass None).

Command line
------------
    python3 ksql_sessions.py --gap-ms N [--grace-ms N] [--retention-ms N] [--emit FINAL]
        [--collect-limit N|none] --aggregates JSON [--late FILE] < records.jsonl > outputs.jsonl

JSON for --aggregates: e.g. '[["COUNT",null,"EVENT_COUNT"],["COLLECT_LIST","page_url",
"PAGES_VISITED"]]'. Outputs go to standard output as JSON lines; late records to --late (JSON
lines) or, as a count, to standard error.
"""

import argparse
import json
import sys

DAY_MS = 24 * 60 * 60 * 1000


def default_grace_ms(gap_ms):
    """ksqlDB's default when no GRACE PERIOD is given (StreamAggregateBuilder.defaultGrace)."""
    return max(DAY_MS - gap_ms, 0)


# --------------------------------------------------------------------------------------------
# Aggregate functions: init / add / merge / result, mirroring the ksqlDB UDAFs.
# --------------------------------------------------------------------------------------------


class _Seq:
    """LatestByOffset / EarliestByOffset's process-wide sequence (KudafByOffsetUtils)."""

    def __init__(self):
        self.n = 0

    def next(self):
        n = self.n
        self.n += 1
        return n


class _Count:
    def __init__(self, star):
        self.star = star

    def init(self, seq):
        return 0

    def add(self, state, value, seq):
        # COUNT(*) counts ROWTIME, never null; COUNT(col) skips nulls (CountKudaf.aggregate).
        return state + 1 if (self.star or value is not None) else state

    def merge(self, one, two, seq):
        return one + two

    def result(self, state):
        return state


class _Sum:
    def init(self, seq):
        return 0  # LongSumKudaf / DoubleSumKudaf start at 0

    def add(self, state, value, seq):
        return state if value is None else state + value

    def merge(self, one, two, seq):
        return one + two

    def result(self, state):
        return state


class _MinMax:
    def __init__(self, pick):
        self.pick = pick

    def init(self, seq):
        return None

    def add(self, state, value, seq):
        if value is None:
            return state
        if state is None:
            return value
        return self.pick(state, value)

    def merge(self, one, two, seq):
        # BaseComparableKudaf.getMerger: (a, b) -> aggregate(a, b), null-safe.
        return self.add(two, one, seq)

    def result(self, state):
        return state


class _Avg:
    def init(self, seq):
        return (0, 0)

    def add(self, state, value, seq):
        if value is None:
            return state
        return (state[0] + value, state[1] + 1)

    def merge(self, one, two, seq):
        return (one[0] + two[0], one[1] + two[1])

    def result(self, state):
        return 0.0 if state[1] == 0 else state[0] / state[1]


class _CollectList:
    def __init__(self, limit):
        self.limit = limit

    def init(self, seq):
        return []

    def add(self, state, value, seq):
        if self.limit is None or len(state) < self.limit:
            state = state + [value]  # nulls are collected too
        return state

    def merge(self, one, two, seq):
        if self.limit is None:
            return one + two
        room = max(self.limit - len(one), 0)
        return one + two[:room]

    def result(self, state):
        return list(state)


class _CollectSet:
    def __init__(self, limit):
        self.limit = limit

    def init(self, seq):
        return []

    def add(self, state, value, seq):
        if (self.limit is None or len(state) < self.limit) and value not in state:
            state = state + [value]
        return state

    def merge(self, one, two, seq):
        out = list(one)
        for v in two:
            if self.limit is not None and len(out) == self.limit:
                break
            if v not in out:
                out.append(v)
        return out

    def result(self, state):
        return list(state)


class _CountDistinct:
    def init(self, seq):
        return frozenset()

    def add(self, state, value, seq):
        return state if value is None else state | {_hashable(value)}

    def merge(self, one, two, seq):
        return one | two

    def result(self, state):
        return len(state)


class _Latest:
    """LatestByOffset.latest: a (seq, value) struct; merge keeps the higher sequence."""

    def __init__(self, ignore_nulls):
        self.ignore_nulls = ignore_nulls

    def init(self, seq):
        return (seq.next(), None)  # initialize() takes a sequence number too

    def add(self, state, value, seq):
        if value is None and self.ignore_nulls:
            return state
        return (seq.next(), value)

    def _compare(self, a, b):
        if self.ignore_nulls:
            if a[1] is None and b[1] is None:
                return 0
            if a[1] is None:
                return -1
            if b[1] is None:
                return 1
        return (a[0] > b[0]) - (a[0] < b[0])

    def merge(self, one, two, seq):
        return one if self._compare(one, two) >= 0 else two

    def result(self, state):
        return state[1]


class _Earliest:
    """EarliestByOffset.earliest: null until the first (non-null) value; lower sequence wins."""

    def __init__(self, ignore_nulls):
        self.ignore_nulls = ignore_nulls

    def init(self, seq):
        return None

    def add(self, state, value, seq):
        if state is not None:
            return state
        if value is None and self.ignore_nulls:
            return None
        return (seq.next(), value)

    def merge(self, one, two, seq):
        if one is None:
            return two
        if two is None:
            return one
        return one if one[0] < two[0] else two

    def result(self, state):
        return None if state is None else state[1]


class _TopK:
    def __init__(self, k):
        if not isinstance(k, int) or k < 1:
            raise ValueError("TOPK needs a positive K as its param")
        self.k = k

    def init(self, seq):
        return []

    def add(self, state, value, seq):
        if value is None:
            return state
        return sorted(state + [value], reverse=True)[: self.k]

    def merge(self, one, two, seq):
        return sorted(one + two, reverse=True)[: self.k]

    def result(self, state):
        return list(state)


def _hashable(v):
    if isinstance(v, (list, dict)):
        return json.dumps(v, sort_keys=True)
    return v


def _make_function(name, column, param, collect_limit):
    name = name.upper()
    if name == "COUNT":
        return _Count(star=column is None)
    if column is None:
        raise ValueError(f"{name} needs a column")
    if name == "SUM":
        return _Sum()
    if name == "MIN":
        return _MinMax(min)
    if name == "MAX":
        return _MinMax(max)
    if name == "AVG":
        return _Avg()
    if name == "COLLECT_LIST":
        return _CollectList(collect_limit)
    if name == "COLLECT_SET":
        return _CollectSet(collect_limit)
    if name == "COUNT_DISTINCT":
        return _CountDistinct()
    if name == "LATEST_BY_OFFSET":
        return _Latest(True if param is None else bool(param))
    if name == "EARLIEST_BY_OFFSET":
        return _Earliest(True if param is None else bool(param))
    if name == "TOPK":
        return _TopK(param)
    raise ValueError(f"unsupported aggregate {name}")


def _parse_aggregates(aggregates, collect_limit):
    parsed = []
    generated = 0
    for spec in aggregates:
        if isinstance(spec, dict):
            name = spec["func"]
            column = spec.get("column")
            alias = spec.get("alias")
            param = spec.get("param")
        else:
            spec = list(spec)
            name = spec[0]
            column = spec[1] if len(spec) > 1 else None
            alias = spec[2] if len(spec) > 2 else None
            param = spec[3] if len(spec) > 3 else None
        if alias is None:
            alias = f"KSQL_COL_{generated}"
            generated += 1
        parsed.append((alias, column, _make_function(name, column, param, collect_limit)))
    return parsed


# --------------------------------------------------------------------------------------------
# The session aggregation.
# --------------------------------------------------------------------------------------------


class _Row:
    """The aggregate row of one session: one state per aggregate function."""

    def __init__(self, states):
        self.states = states


def _key_bytes(key):
    return key.encode("utf-8") if isinstance(key, str) else json.dumps(key).encode("utf-8")


def sessionize(
    records,
    gap_ms,
    grace_ms=None,
    aggregates=(("COUNT", None),),
    retention_ms=None,
    emit="CHANGES",
    collect_limit=1000,
):
    """Run the session aggregation; see the module docstring. Returns (outputs, late)."""
    if grace_ms is None:
        grace_ms = default_grace_ms(gap_ms)
    if retention_ms is None:
        retention_ms = gap_ms + grace_ms
    if retention_ms < gap_ms + grace_ms:
        # SessionWindowedKStreamImpl refuses this at build time.
        raise ValueError("retention must be no smaller than gap + grace")
    emit = emit.upper()
    if emit not in ("CHANGES", "FINAL"):
        raise ValueError("emit must be CHANGES or FINAL")

    funcs = _parse_aggregates(aggregates, collect_limit)
    seq = _Seq()
    outputs = []
    late = []

    # Per task (partition): processor stream time, store stream time, last EMIT FINAL close
    # time, and the sessions: {key: {(start, end): _Row}}.
    NO_TS = -1
    stream_time = {}
    store_time = {}
    last_emit = {}
    store = {}

    def value_of(row):
        return {alias: f.result(s) for (alias, _, f), s in zip(funcs, row.states)}

    def out(key, start, end, row):
        outputs.append(
            {
                "key": key,
                "window": {"start": start, "end": end},
                "value": None if row is None else value_of(row),
                "timestamp": end,
            }
        )

    for rec in records:
        key = rec.get("key")
        t = rec.get("timestamp")
        p = rec.get("partition", 0)
        if key is None:
            late.append({"record": rec, "reason": "null key"})
            continue
        if t is None or t < 0:
            late.append({"record": rec, "reason": "invalid timestamp"})
            continue

        st = stream_time[p] = max(stream_time.get(p, NO_TS), t)
        close = st - grace_ms - gap_ms
        sessions = store.setdefault(p, {}).setdefault(key, {})

        # findSessions(key, t - gap, t + gap), with the store's retention cut-off.
        visible_from = max(t - gap_ms, store_time.get(p, NO_TS) - retention_ms + 1)
        found = sorted(
            (
                (s, e)
                for (s, e) in sessions
                if e >= visible_from and s <= t + gap_ms
            ),
            key=lambda w: (w[1], w[0]),
        )
        m_start = min([t] + [s for s, _ in found])
        m_end = max([t] + [e for _, e in found])

        if m_end < close:
            late.append(
                {
                    "record": rec,
                    "reason": "late",
                    "window": {"start": m_start, "end": m_end},
                    "close_time": close,
                    "stream_time": st,
                }
            )
        else:
            states = [f.init(seq) for _, _, f in funcs]
            for w in found:
                old = sessions[w]
                states = [
                    f.merge(a, b, seq) for (_, _, f), a, b in zip(funcs, states, old.states)
                ]
            if (m_start, m_end) != (t, t):
                for w in found:
                    del sessions[w]
                    if emit == "CHANGES":
                        out(key, w[0], w[1], None)
            value = rec.get("value") or {}
            states = [
                f.add(s, None if col is None else value.get(col), seq)
                for (_, col, f), s in zip(funcs, states)
            ]
            row = _Row(states)
            sessions[(m_start, m_end)] = row  # a put replaces a session with the same window
            store_time[p] = max(store_time.get(p, NO_TS), m_end)
            if emit == "CHANGES":
                out(key, m_start, m_end, row)

        if emit == "FINAL":
            last = last_emit.get(p, NO_TS)
            if last == NO_TS or last < close:
                upper = close - 1
                if upper >= 0:
                    lower = max(0, last)
                    if upper >= lower:
                        closed = [
                            (e, s, _key_bytes(k), k, r)
                            for k, ss in store[p].items()
                            for (s, e), r in ss.items()
                            if lower <= e <= upper
                        ]
                        for e, s, _, k, r in sorted(closed, key=lambda c: c[:3]):
                            out(k, s, e, r)
                        last_emit[p] = close

    return outputs, late


def key_bytes(key_serialized, start, end):
    """The Kafka key of a session-windowed row: key bytes, then end, then start, 8 bytes
    big-endian each (SessionKeySchema.toBinary via SessionWindowedSerializer)."""
    return key_serialized + int(end).to_bytes(8, "big", signed=True) + int(start).to_bytes(
        8, "big", signed=True
    )


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--gap-ms", type=int, required=True)
    ap.add_argument("--grace-ms", type=int, default=None, help="default: max(24h - gap, 0)")
    ap.add_argument("--retention-ms", type=int, default=None, help="default: gap + grace")
    ap.add_argument("--emit", default="CHANGES", choices=["CHANGES", "FINAL", "changes", "final"])
    ap.add_argument("--collect-limit", default="1000", help="N, or 'none' for no limit")
    ap.add_argument("--aggregates", required=True, help="JSON list of aggregate specs")
    ap.add_argument("--late", default=None, help="write late/skipped records here (JSON lines)")
    args = ap.parse_args(argv)

    limit = None if args.collect_limit.lower() == "none" else int(args.collect_limit)
    records = [json.loads(line) for line in sys.stdin if line.strip()]
    outputs, late = sessionize(
        records,
        args.gap_ms,
        args.grace_ms,
        json.loads(args.aggregates),
        retention_ms=args.retention_ms,
        emit=args.emit,
        collect_limit=limit,
    )
    for o in outputs:
        sys.stdout.write(json.dumps(o) + "\n")
    if args.late:
        with open(args.late, "w") as f:
            for entry in late:
                f.write(json.dumps(entry) + "\n")
    else:
        print(f"{len(late)} late or skipped records", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
