#!/usr/bin/env python3
"""An independent, standard-library-only reference of ksqlDB's JOINs.

It is written from the semantics documented (with sources) in engine/docs/ksqldb-joins.md, that
is from Kafka Streams' KStreamKTableJoinProcessor, KStreamKStreamJoin (with the segmented window
stores behind it) and the KTableKTable*Join processors, plus ksqlDB's join builders, never from the
engine's code. It models, with the record cache off (as ksqlDB's query-validation tests run),

    CREATE STREAM o AS SELECT ... FROM s [INNER|LEFT] JOIN t ON s.k = t.pk;                 -- stream-table
    CREATE STREAM o AS SELECT ... FROM a [INNER|LEFT|RIGHT|FULL OUTER] JOIN b
        WITHIN n | WITHIN (before, after) [GRACE PERIOD g] ON a.k = b.k;                     -- stream-stream
    CREATE TABLE o AS SELECT ... FROM l [INNER|LEFT|RIGHT|FULL OUTER] JOIN r ON l.pk = r.pk;  -- table-table
    CREATE TABLE o AS SELECT ... FROM l [INNER|LEFT] JOIN r ON <l expression> = r.pk;         -- foreign-key

Input records are {"source": "left"|"right", "key", "value": dict | None, "timestamp" (default 0),
"partition" (default 0)} in PROCESSING order (the order one Kafka Streams task would process them,
see section 2 of the note); "key" is the join key (after any repartition). Each partition is an
independent task with its own state. Outputs are {"key", "value", "timestamp"} where "value" is
{"left": row | None, "right": row | None} (the two sides' rows; None for the missing side of an
outer row) or None for a tombstone (table-table only). ``flatten`` turns a value into ksqlDB's
``SELECT *`` style ``ALIAS_COLUMN`` names.

Stream-table (note section 3):
* a table record upserts (value None: deletes) the table row of its key; it emits nothing;
* a stream record with a null key or a null value is skipped (KStreamKTableJoinProcessor
  "Skipping record due to null join key or value"); a table record with a null key is skipped;
* otherwise the stream record looks the key up in the table as it is now: INNER emits only on a
  hit, LEFT always (right None on a miss); timestamp = the stream record's timestamp.

Stream-stream (note section 4), per task:
* records with a null key or value are skipped and change nothing (not even stream time);
* before/after are ksqlDB's WITHIN (before, after) (WITHIN n: both n); ksqlDB passes them to
  Kafka Streams unchanged, and for RIGHT JOIN it calls right.leftJoin(left), so the "Kafka left"
  side is the ksqlDB right side and the window is taken relative to it;
* a record of the Kafka-left side at time t matches other-side records of its key with
  t - before <= ts <= t + after (both inclusive); a Kafka-right record matches Kafka-left records
  with t - after <= ts <= t + before; every match is emitted, in (timestamp, arrival) order of the
  stored other-side records, with timestamp max(t, ts);
* window stores: retention = before + after + grace, segment interval = max(retention / 2, 60 s);
  a record is stored only if its segment is live (segment id >= id of storeTime - retention, where
  storeTime is the largest timestamp put into that side's store), and expired segments are dropped
  on every put. strict_retention=True also hides stored records older than
  storeTime - retention + 1 from fetches (Kafka's KAFKA-12960); ksqlDB's QTT cases expect False;
* grace None (no GRACE PERIOD): the deprecated JoinWindows.of(before).after(after): grace =
  max(24 h - 2 * before, 0) and EAGER outer rows: an unmatched record of an outer side is emitted
  at once, null-padded, with its own timestamp;
* grace given: JoinWindows.ofTimeDifferenceAndGrace (the KAFKA-10847 fix): an unmatched record of
  an outer side is emitted at once only if t + after_own < streamTime (its window already ended);
  otherwise it is buffered in the shared "outer" store and emitted, null-padded with its own
  timestamp, once a later record r (either side) with r.timestamp == streamTime finds
  ts + after_r + grace < streamTime (after_r: the processing side's "after"); buffered records go
  out in (timestamp, right side before left side, key) order, before r's own join results; a
  matching record from the other side removes a buffered record. streamTime is the largest
  timestamp processed by either side of the task. The wall-clock throttle of that check
  (emit.interval.ms, 1 s) is not modelled: every check runs.

Table-table on primary keys (note section 5), per task; Kafka's processors, RIGHT = the LEFT join
with the sides swapped:
* INNER: an update of one side joins the other side's current row; nothing if the other side
  has no row; a delete gives a tombstone (if the other side has a row);
* LEFT, update of the left table: the joined row (right None if absent); a delete gives a
  tombstone, except that nothing is emitted when neither the left row (old or new) nor the right
  row exists; update of the right table: nothing if the left row is absent, else the joined row
  (right None on a delete: never a tombstone);
* FULL OUTER: either side: nothing if neither the updated side (old or new) nor the other side
  has a row; the row with None for a missing side; a tombstone only when both are now absent;
* timestamp = max(record timestamp, the other side's row timestamp) when the other row exists,
  else the record timestamp.

Foreign-key table-table (note section 6): left records also carry "foreign_key" (the ON
expression's value); the output key is the left key; the note's six cases for a left change, and a
right change answering every left row whose current value subscribed to its key (INNER: a
tombstone for a right delete, LEFT: right None), in Kafka's serialized-key order, with the right
record's timestamp; left-triggered rows at max(t, right row's timestamp).

Multi-way (note section 7): ``MultiJoin`` chains the two-source joins above, left-deep in
written order; each step's outputs are the next step's left records, keyed by the step's key
when the next condition is equivalent to it, else by the named column (a stream repartition).

Interface
---------
    outputs, skipped = stream_table_join(records, join_type)
    outputs, skipped = stream_stream_join(records, join_type, before_ms, after_ms=None,
                                          grace_ms=None, strict_retention=False)
    outputs, skipped = table_table_join(records, join_type)
    outputs, skipped = foreign_key_join(records, join_type)

or incrementally with StreamTableJoin / StreamStreamJoin / TableTableJoin objects:
``j.process(record) -> list of outputs``, ``j.skipped`` (records not joined, with a reason).

Command line
------------
    python3 ksql_joins.py --kind stream-table|stream-stream|table-table|foreign-key --type inner|left|right|outer
        [--within-ms N | --before-ms B --after-ms A] [--grace-ms G] [--strict-retention]
        [--left-alias L --right-alias R] [--skipped FILE] < records.json > outputs.json

stdin is a JSON list of records, stdout the JSON list of outputs. With both aliases the values are
flattened to ALIAS_COLUMN names (a missing side contributes no columns).
"""

from __future__ import annotations

import argparse
import json
import sys

DAY_MS = 24 * 60 * 60 * 1000
MIN_SEGMENT_INTERVAL_MS = 60_000
NO_TIMESTAMP = -1
LONG_MAX = 2**63 - 1
JOIN_TYPES = ("inner", "left", "right", "outer")


class KsqlStatementError(Exception):
    """The statement is refused, with ksqlDB's message."""


def _hashable(v):
    if isinstance(v, dict):
        return tuple(sorted((k, _hashable(x)) for k, x in v.items()))
    if isinstance(v, list):
        return tuple(_hashable(x) for x in v)
    return v


def _key_token(key):
    """Stand-in for the serialized key bytes (orders buffered outer records of equal time)."""
    return json.dumps(key, sort_keys=True, separators=(",", ":")).encode("utf-8")


def _jdiv(a, b):
    """Java long division (truncates toward zero)."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q


def _norm_type(join_type):
    jt = join_type.lower().replace("full outer", "outer").replace("full", "outer").strip()
    if jt not in JOIN_TYPES:
        raise ValueError("unknown join type: %r" % (join_type,))
    return jt


def _other(side):
    return "right" if side == "left" else "left"


def _pair(side, this_value, other_value):
    return {side: this_value, _other(side): other_value}


# ---------------------------------------------------------------------------------------------
# ksqlDB's refusals (note section 10), for the shapes the reference models

KSQL_TYPE_NAMES = {
    "inner": "[INNER] JOIN",
    "left": "LEFT [OUTER] JOIN",
    "right": "RIGHT [OUTER] JOIN",
    "outer": "[FULL] OUTER JOIN",
}


def validate_join(left_kind, right_kind, join_type, left_name="L", right_name="R", within=False):
    """Raise KsqlStatementError with ksqlDB's message when it refuses the join.

    left_kind / right_kind: "stream" or "table" (the FROM source first).
    """
    jt = _norm_type(join_type)
    name = KSQL_TYPE_NAMES[jt]
    if left_kind == "table" and right_kind == "stream":
        raise KsqlStatementError(
            "Invalid join order: table-stream joins are not supported; only stream-table joins. "
            "Got %s %s %s." % (left_name, name, right_name)
        )
    if left_kind == "stream" and right_kind == "table":
        if jt == "outer":
            raise KsqlStatementError(
                "Invalid join type: full-outer join not supported for stream-table join. "
                "Got %s %s %s." % (left_name, name, right_name)
            )
        if within:
            raise KsqlStatementError(
                "A window definition was provided for a Stream-Table join. These joins are not "
                "windowed. Please drop the window definition (ie. the WITHIN clause) and try to "
                "execute your join again."
            )
        if jt == "right":
            # LogicalPlanner lets RIGHT through; JoinNode.StreamToTableJoiner's default branch.
            raise KsqlStatementError("Invalid join type encountered: " + name)
    if left_kind == "stream" and right_kind == "stream" and not within:
        raise KsqlStatementError(
            "Stream-Stream joins must have a WITHIN clause specified. None was provided. To learn "
            "about how to specify a WITHIN clause with a stream-stream join, please visit: "
            "https://docs.confluent.io/current/ksql/docs/syntax-reference.html"
            "#create-stream-as-select"
        )
    if left_kind == "table" and right_kind == "table" and within:
        raise KsqlStatementError(
            "A window definition was provided for a Table-Table join. These joins are not "
            "windowed. Please drop the window definition (i.e. the WITHIN clause) and try to "
            "execute your Table-Table join again."
        )


# ---------------------------------------------------------------------------------------------
# Stream-table


class StreamTableJoin:
    def __init__(self, join_type):
        self.join_type = _norm_type(join_type)
        if self.join_type not in ("inner", "left"):
            validate_join("stream", "table", self.join_type)
        self.tables = {}  # partition -> {hkey: (value, ts)}
        self.skipped = []

    def process(self, rec):
        part = rec.get("partition", 0)
        table = self.tables.setdefault(part, {})
        key, value, ts = rec.get("key"), rec.get("value"), rec.get("timestamp", 0)
        if rec["source"] == "right":
            if key is None:
                self.skipped.append({"record": rec, "reason": "null key"})
                return []
            if value is None:
                table.pop(_hashable(key), None)
            else:
                table[_hashable(key)] = (value, ts)
            return []
        if key is None or value is None:
            self.skipped.append({"record": rec, "reason": "null join key or value"})
            return []
        row = table.get(_hashable(key))
        if row is None and self.join_type == "inner":
            return []
        return [{"key": key, "value": {"left": value, "right": row and row[0]}, "timestamp": ts}]


# ---------------------------------------------------------------------------------------------
# Stream-stream


class _WindowStore:
    """A RocksDB segmented window store with retainDuplicates (one side of a stream-stream join)."""

    def __init__(self, retention, segment_interval, strict):
        self.retention = retention
        self.interval = segment_interval
        self.strict = strict
        self.observed = NO_TIMESTAMP
        self.rows = {}  # hkey -> [(ts, seq, value)]
        self.seq = 0

    def put(self, key, value, ts):
        """Returns False when the record's segment is already expired (the record is dropped)."""
        self.observed = max(self.observed, ts)
        min_live = _jdiv(self.observed - self.retention, self.interval)
        stored = _jdiv(ts, self.interval) >= min_live
        if stored:
            self.seq += 1
            self.rows.setdefault(_hashable(key), []).append((ts, self.seq, value))
        for hk in list(self.rows):  # cleanupEarlierThan(minLiveSegment)
            kept = [r for r in self.rows[hk] if _jdiv(r[0], self.interval) >= min_live]
            if kept:
                self.rows[hk] = kept
            else:
                del self.rows[hk]
        return stored

    def fetch(self, key, t_from, t_to):
        if self.strict:
            t_from = max(t_from, self.observed - self.retention + 1)
            if t_to < t_from:
                return []
        rows = self.rows.get(_hashable(key), [])
        return [(ts, v) for ts, _s, v in sorted(rows, key=lambda r: (r[0], r[1]))
                if t_from <= ts <= t_to]


class _SSTask:
    def __init__(self, retention, interval, strict):
        self.stores = {side: _WindowStore(retention, interval, strict) for side in ("left", "right")}
        self.stream_time = NO_TIMESTAMP
        self.min_time = LONG_MAX
        self.outer = {}  # (ts, 1 if Kafka-left else 0, key token) -> {"key", "side", "values"}


class StreamStreamJoin:
    def __init__(self, join_type, before_ms, after_ms=None, grace_ms=None, strict_retention=False):
        self.join_type = _norm_type(join_type)
        if after_ms is None:
            after_ms = before_ms
        self.before = int(before_ms)
        self.after = int(after_ms)
        # ksqlDB: RIGHT JOIN is right.leftJoin(left) with the same JoinWindows.
        self.kafka_left = "right" if self.join_type == "right" else "left"
        self.left_outer = self.join_type in ("left", "right", "outer")  # Kafka-left side outer
        self.right_outer = self.join_type == "outer"  # Kafka-right side outer
        self.spurious_fix = grace_ms is not None
        self.grace = int(grace_ms) if grace_ms is not None else max(DAY_MS - 2 * self.before, 0)
        self.retention = self.before + self.after + self.grace
        self.segment_interval = max(self.retention // 2, MIN_SEGMENT_INTERVAL_MS)
        self.strict = strict_retention
        self.has_outer_store = self.spurious_fix and (self.left_outer or self.right_outer)
        self.tasks = {}
        self.skipped = []

    def _task(self, part):
        if part not in self.tasks:
            self.tasks[part] = _SSTask(self.retention, self.segment_interval, self.strict)
        return self.tasks[part]

    def _side_params(self, kafka_is_left):
        """(before, after, lookback, outer) of the processor of that Kafka side."""
        if kafka_is_left:
            return self.before, self.after, self.before, self.left_outer
        return self.after, self.before, self.after, self.right_outer

    def process(self, rec):
        side = rec["source"]
        key, value, ts = rec.get("key"), rec.get("value"), rec.get("timestamp", 0)
        if key is None or value is None:
            self.skipped.append({"record": rec, "reason": "null key or value"})
            return []
        task = self._task(rec.get("partition", 0))
        kafka_is_left = side == self.kafka_left
        before_s, after_s, lookback, outer = self._side_params(kafka_is_left)
        other_store = task.stores[_other(side)]
        t_from = max(0, ts - before_s)
        t_to = max(0, ts + after_s)
        task.stream_time = max(task.stream_time, ts)
        out = []
        if self.has_outer_store and ts == task.stream_time:
            out.extend(self._emit_non_joined(task, lookback, after_s))
        matches = other_store.fetch(key, t_from, t_to)
        for other_ts, other_value in matches:
            if self.has_outer_store:
                task.outer.pop((other_ts, 0 if kafka_is_left else 1, _key_token(key)), None)
            out.append({"key": key, "value": _pair(side, value, other_value),
                        "timestamp": max(ts, other_ts)})
        if outer and not matches:
            if not self.has_outer_store or t_to < task.stream_time:
                out.append({"key": key, "value": _pair(side, value, None), "timestamp": ts})
            else:
                task.min_time = min(task.min_time, ts)
                entry = task.outer.setdefault(
                    (ts, 1 if kafka_is_left else 0, _key_token(key)),
                    {"key": key, "side": side, "values": []},
                )
                entry["values"].append(value)
        # KStreamJoinWindow: forward to the join, then put into this side's window store.
        if not task.stores[side].put(key, value, ts):
            self.skipped.append({"record": rec, "reason": "expired segment (not stored)"})
        return out

    def _emit_non_joined(self, task, lookback, after_s):
        if task.min_time >= task.stream_time - lookback - self.grace:
            return []
        task.min_time = LONG_MAX
        out = []
        for entry_key in sorted(task.outer):
            ts = entry_key[0]
            task.min_time = ts
            if ts + after_s + self.grace >= task.stream_time:
                break
            entry = task.outer.pop(entry_key)
            for v in entry["values"]:
                out.append({"key": entry["key"], "value": _pair(entry["side"], v, None),
                            "timestamp": ts})
        return out


# ---------------------------------------------------------------------------------------------
# Table-table on primary keys


class TableTableJoin:
    def __init__(self, join_type):
        self.join_type = _norm_type(join_type)
        self.kafka_left = "right" if self.join_type == "right" else "left"
        self.kafka_type = {"inner": "inner", "outer": "outer"}.get(self.join_type, "left")
        # KTableImpl.doJoin: leftOuter -> this.enableSendingOldValues; rightOuter -> other's.
        self.sends_old = {
            self.kafka_left: self.kafka_type in ("left", "outer"),
            _other(self.kafka_left): self.kafka_type == "outer",
        }
        self.tasks = {}  # partition -> {"left": {hkey: (value, ts)}, "right": {...}}
        self.skipped = []

    def process(self, rec):
        side = rec["source"]
        key, value, ts = rec.get("key"), rec.get("value"), rec.get("timestamp", 0)
        if key is None:
            self.skipped.append({"record": rec, "reason": "null key"})
            return []
        task = self.tasks.setdefault(rec.get("partition", 0), {"left": {}, "right": {}})
        hk = _hashable(key)
        this_table, other_table = task[side], task[_other(side)]
        old = this_table.get(hk)
        if value is None:
            this_table.pop(hk, None)
        else:
            this_table[hk] = (value, ts)
        old_value = old[0] if (old is not None and self.sends_old[side]) else None
        other = other_table.get(hk)
        other_value = other[0] if other is not None else None
        kafka_is_left = side == self.kafka_left

        def joined(this_v, other_v):
            return _pair(side, this_v, other_v)

        if self.kafka_type == "inner":  # KTableKTableInnerJoin, both sides
            if other_value is None:
                return []
            result_ts = max(ts, other[1])
            new = joined(value, other_value) if value is not None else None
        elif self.kafka_type == "left" and kafka_is_left:  # KTableKTableLeftJoin
            if other_value is None:
                if value is None and old_value is None:
                    return []
                result_ts = ts
            else:
                result_ts = max(ts, other[1])
            new = joined(value, other_value) if value is not None else None
        elif self.kafka_type == "left":  # KTableKTableRightJoin (the other side of a left join)
            if other_value is None:
                return []
            result_ts = max(ts, other[1])
            new = joined(value, other_value)
        else:  # KTableKTableOuterJoin, both sides
            if other_value is None:
                if value is None and old_value is None:
                    return []
                result_ts = ts
            else:
                result_ts = max(ts, other[1])
            if other_value is not None or value is not None:
                new = joined(value, other_value)
            else:
                new = None
        return [{"key": key, "value": new, "timestamp": result_ts}]


# ---------------------------------------------------------------------------------------------
# Foreign-key table-table (note section 6)


class ForeignKeyJoin:
    """``l [INNER|LEFT] JOIN r ON <l expression> = r.pk``, keyed by l's primary key.

    Left records carry ``"foreign_key"``: the ON expression's value for their value (None when
    null, ignored for deletes); their "key" is the left primary key. Right records' "key" is the
    right primary key. Subscriptions, as the note's numbered cases say:
    """

    def __init__(self, join_type):
        self.join_type = _norm_type(join_type)
        if self.join_type == "right":
            raise KsqlStatementError("RIGHT OUTER JOIN on a foreign key is not supported")
        if self.join_type == "outer":
            raise KsqlStatementError(
                "Invalid join type: full-outer join not supported for foreign-key table-table "
                "join. Got L [FULL] OUTER JOIN R."
            )
        self.left = {}  # hkey -> {"key", "value", "fk"}
        self.right = {}  # hfk -> (value, ts)
        self.subscribed = {}  # hkey -> hfk of the subscription its current value made
        self.skipped = []

    def _right(self, fk):
        return self.right.get(_hashable(fk)) if fk is not None else None

    def process(self, rec):
        key, value, ts = rec.get("key"), rec.get("value"), rec.get("timestamp", 0)
        if key is None:
            self.skipped.append({"record": rec, "reason": "null key"})
            return []
        hk = _hashable(key)
        if rec["source"] == "right":
            if value is None:
                self.right.pop(hk, None)
            else:
                self.right[hk] = (value, ts)
            # Every left row whose current value subscribed to this key, in key order.
            subscribers = sorted(
                (row["key"] for k, row in self.left.items() if self.subscribed.get(k) == hk),
                key=_order,
            )
            out = []
            for left_key in subscribers:
                row = self.left[_hashable(left_key)]
                if value is None and self.join_type == "inner":
                    out.append({"key": left_key, "value": None, "timestamp": ts})
                else:
                    out.append({"key": left_key, "value": {"left": row["value"], "right": value},
                                "timestamp": ts})
            return out
        old = self.left.get(hk)
        fk = rec.get("foreign_key") if value is not None else None
        if value is None:
            self.left.pop(hk, None)
        else:
            self.left[hk] = {"key": key, "value": value, "fk": fk}
        # 1. a delete of a missing row
        if old is None and value is None:
            return []
        # 2. the old value's foreign key is null: skipped
        if old is not None and old["fk"] is None:
            self.skipped.append({"record": rec, "reason": "null old foreign key"})
            return []
        # 3. the new value's foreign key is null: skipped, the old subscription answers no more
        if value is not None and fk is None:
            self.subscribed.pop(hk, None)
            self.skipped.append({"record": rec, "reason": "null foreign key"})
            return []
        self.subscribed.pop(hk, None)
        if value is None:  # 4. a delete: a tombstone
            right = self._right(old["fk"])
            return [{"key": key, "value": None,
                     "timestamp": max(ts, right[1]) if right else ts}]
        self.subscribed[hk] = _hashable(fk)
        right = self._right(fk)
        if right is not None:
            return [{"key": key, "value": {"left": value, "right": right[0]},
                     "timestamp": max(ts, right[1])}]
        if self.join_type == "left":  # 5. and 6., LEFT
            return [{"key": key, "value": {"left": value, "right": None}, "timestamp": ts}]
        if old is not None:  # 5., INNER: retract
            return [{"key": key, "value": None, "timestamp": ts}]
        return []  # 6., INNER


def _order(key):
    """Kafka's serialized-key order: strings by their UTF-8 bytes, numbers big-endian signed."""
    if isinstance(key, str):
        return (0, key.encode("utf-8"))
    if isinstance(key, bool):
        return (1, bytes([key]))
    if isinstance(key, int):
        return (1, (key % 2**64).to_bytes(8, "big"))
    return (2, _key_token(key))


def foreign_key_join(records, join_type):
    return _run(ForeignKeyJoin(join_type), records)


# ---------------------------------------------------------------------------------------------
# Multi-way joins (note section 7)


def _merge(left_flat, right_row, right_alias):
    out = dict(left_flat or {})
    for col, v in (right_row or {}).items():
        out["%s_%s" % (right_alias, col)] = v
    return out


class MultiJoin:
    """A left-deep n-way join: step i joins the rows so far with source i + 1, each step a
    two-source join under its own rules (StreamTableJoin, StreamStreamJoin, TableTableJoin).

    steps: [{"kind": "stream-table"|"stream-stream"|"table-table", "type", "alias",
    "within_ms", "grace_ms", "left_key"}]; "left_key" names the flattened column of the rows so
    far that the step joins on, or is None when the condition is equivalent to the previous
    step's key (the rows so far are keyed by it). Records: {"source": 0..n-1, "key", "value",
    "timestamp"}; source 0's "key" is its first join key, the others' their join key. Outputs:
    {"key": the last step's key, "value": {ALIAS_COLUMN: ..} | None, "timestamp"}.
    """

    def __init__(self, first_alias, steps):
        self.first_alias = first_alias
        self.steps = steps
        self.joiners = []
        for st in steps:
            if st["kind"] == "stream-table":
                j = StreamTableJoin(st["type"])
            elif st["kind"] == "stream-stream":
                j = StreamStreamJoin(st["type"], st["within_ms"], st["within_ms"],
                                     st.get("grace_ms"))
            else:
                j = TableTableJoin(st["type"])
            self.joiners.append(j)
        self.skipped = []

    def _feed(self, at, rec):
        """Feeds step `at`; returns the outputs of the whole."""
        outs = self.joiners[at].process(rec)
        alias = self.steps[at]["alias"]
        results = []
        for o in outs:
            v = o["value"]
            flat = None if v is None else _merge(v["left"], v["right"], alias)
            if at + 1 == len(self.joiners):
                results.append({"key": o["key"], "value": flat, "timestamp": o["timestamp"]})
                continue
            nxt = self.steps[at + 1]["left_key"]
            key = o["key"] if nxt is None else (flat or {}).get(nxt)
            results.extend(self._feed(at + 1, {"source": "left", "key": key, "value": flat,
                                               "timestamp": o["timestamp"]}))
        return results

    def process(self, rec):
        s = rec["source"]
        if s == 0:
            flat = None if rec.get("value") is None else {
                "%s_%s" % (self.first_alias, c): v for c, v in rec["value"].items()}
            return self._feed(0, {"source": "left", "key": rec.get("key"), "value": flat,
                                  "timestamp": rec.get("timestamp", 0)})
        return self._feed(s - 1, {"source": "right", "key": rec.get("key"),
                                  "value": rec.get("value"), "timestamp": rec.get("timestamp", 0)})


def multi_join(records, first_alias, steps):
    joiner = MultiJoin(first_alias, steps)
    outputs = []
    for rec in records:
        outputs.extend(joiner.process(rec))
    skipped = [s for j in joiner.joiners for s in j.skipped]
    return outputs, skipped


# ---------------------------------------------------------------------------------------------
# List helpers and output shaping


def _run(joiner, records):
    outputs = []
    for rec in records:
        outputs.extend(joiner.process(rec))
    return outputs, joiner.skipped


def stream_table_join(records, join_type):
    return _run(StreamTableJoin(join_type), records)


def stream_stream_join(records, join_type, before_ms, after_ms=None, grace_ms=None,
                       strict_retention=False):
    return _run(StreamStreamJoin(join_type, before_ms, after_ms, grace_ms, strict_retention),
                records)


def table_table_join(records, join_type):
    return _run(TableTableJoin(join_type), records)


def flatten(value, left_alias, right_alias):
    """{"left": row, "right": row} -> {"L_COL": .., "R_COL": ..}; None stays None."""
    if value is None:
        return None
    out = {}
    for side, alias in (("left", left_alias), ("right", right_alias)):
        row = value.get(side)
        if row:
            for col, v in row.items():
                out["%s_%s" % (alias, col)] = v
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kind", required=True,
                    choices=["stream-table", "stream-stream", "table-table", "foreign-key",
                             "multi"])
    ap.add_argument("--type", default=None, choices=list(JOIN_TYPES))
    ap.add_argument("--steps", default=None, help="--kind multi: the steps, as JSON")
    ap.add_argument("--within-ms", type=int, default=None, help="WITHIN n (before = after = n)")
    ap.add_argument("--before-ms", type=int, default=None, help="WITHIN (before, after)")
    ap.add_argument("--after-ms", type=int, default=None)
    ap.add_argument("--grace-ms", type=int, default=None,
                    help="GRACE PERIOD; omit for ksqlDB's no-GRACE (eager) behaviour")
    ap.add_argument("--strict-retention", action="store_true",
                    help="hide records older than storeTime - retention from fetches (KAFKA-12960)")
    ap.add_argument("--left-alias", default=None)
    ap.add_argument("--right-alias", default=None)
    ap.add_argument("--skipped", default=None, help="write skipped records here (JSON list)")
    args = ap.parse_args(argv)

    records = json.load(sys.stdin)
    try:
        if args.kind == "stream-table":
            outputs, skipped = stream_table_join(records, args.type)
        elif args.kind == "table-table":
            outputs, skipped = table_table_join(records, args.type)
        elif args.kind == "foreign-key":
            outputs, skipped = foreign_key_join(records, args.type)
        elif args.kind == "multi":
            outputs, skipped = multi_join(records, args.left_alias, json.loads(args.steps))
        else:
            before = args.within_ms if args.within_ms is not None else args.before_ms
            after = args.within_ms if args.within_ms is not None else args.after_ms
            if before is None:
                validate_join("stream", "stream", args.type, within=False)
            outputs, skipped = stream_stream_join(
                records, args.type, before, after, args.grace_ms, args.strict_retention
            )
    except KsqlStatementError as e:
        print(str(e), file=sys.stderr)
        return 1
    if args.left_alias and args.right_alias and args.kind != "multi":
        for o in outputs:
            o["value"] = flatten(o["value"], args.left_alias, args.right_alias)
    json.dump(outputs, sys.stdout, indent=1)
    sys.stdout.write("\n")
    if args.skipped:
        with open(args.skipped, "w") as f:
            json.dump(skipped, f, indent=1)
    else:
        print("%d skipped records" % len(skipped), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
