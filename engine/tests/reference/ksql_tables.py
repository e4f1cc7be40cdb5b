#!/usr/bin/env python3
"""An independent, standard-library-only reference of ksqlDB queries that read a TABLE.

It is written from the semantics documented (with sources) in engine/docs/ksqldb-tables.md,
that is from Kafka Streams' KTableSource / KTableFilter / KTableTransformValues /
KTableRepartitionMap / KTableAggregate and ksqlDB's table builders and UDAFs, never from the
engine's code. It models, with the record cache off (cache.max.bytes.buffering = 0, as ksqlDB's
query-validation tests run), the two query shapes

    CREATE TABLE x AS SELECT <projection> FROM a_table [WHERE <predicate>];          -- select
    CREATE TABLE x AS SELECT g..., <aggregates> FROM a_table [WHERE p]
        GROUP BY g... [HAVING h];                                                     -- aggregate

Source table (both shapes), per input record {key, value, timestamp}:

* key None: the record is skipped (KTableSource "Skipping record due to null key"); nothing is
  emitted and the table is unchanged. It is reported in `skipped`.
* value None is a tombstone: the row of that key is deleted (old row -> None).
* otherwise the value replaces the row of that key (old row -> new row).
  The source change is (old row, new row); old rows come from the materialized source table.

table_select (section 3 of the note):

* no WHERE: every change is forwarded: key, projection(new row) or None, timestamp of the input
  record. A tombstone for a key that had no row is forwarded too (Change(null, null) reaches
  the sink as a tombstone).
* WHERE: KTableFilter with old values (the source is materialized, so sendOldValues is on):
  new' = new row if it passes, else None; old' = old row if it passes, else None;
  nothing is emitted when old' and new' are both None; otherwise key, projection(new') or
  None (a tombstone), timestamp of the input record. So a failing row gives a tombstone only
  when the key's previous row passed. `send_old_values=False` gives the pre-KAFKA-10077
  behaviour (ksqlDB before PR #6405): every failing row gives a tombstone.

table_aggregate (section 4 of the note):

* group key = tuple of the GROUP BY values of a row; if any of them is None the row belongs to
  no group (GroupByParamsFactory: "... resolved to null. The source row will be excluded").
* per source change (old row, new row) with groups og (of old) and ng (of new):
    - kip904=True (Kafka Streams 3.5+, ksqlDB 7.5+ / QTT after PR #9976): if og and ng are both
      set and equal: ONE update of that group: undo(old) then add(new), one output;
    - otherwise (or always with kip904=False, the older behaviour): if og is set, undo(old) in
      og and emit og's row; then, if ng is set, add(new) in ng and emit ng's row. Subtract
      first, then add.
  A group whose last row leaves stays in the store with its undone aggregate (COUNT 0, SUM 0,
  COLLECT_LIST [], AVG 0.0): an update, not a tombstone. Only HAVING can remove it.
* timestamp of an output: the input record's timestamp, or the group's stored timestamp if that
  is larger (KTableAggregate: max(record.timestamp, oldAgg.timestamp) whenever the group
  already had an aggregate); the stored timestamp becomes that value.
* HAVING: KTableFilter over the (materialized) aggregate, with old values: for each update of a
  group, passes(old result) / passes(new result); both false: nothing; new passes: the row;
  otherwise a tombstone.

Aggregates (only those ksqlDB can undo; the others raise KsqlStatementError with ksqlDB's
message "The aggregation function(s) A, B and C cannot be applied to a table source, only to a
stream source."):

  COUNT(*) / COUNT()     +1 / -1 per row (ROWTIME, never null)
  COUNT(col)             +1 / -1 per non-null value
  SUM(col)               starts 0; +v / -v, nulls skipped
  AVG(col)               (sum, count), nulls skipped; result sum / count as float, 0.0 if count 0
  COLLECT_LIST(col)      keeps nulls; add appends while size < limit; undo removes the LAST
                         occurrence of the value (list.lastIndexOf), nothing if absent
  HISTOGRAM(col)         map value -> count (adds while < 1000 distinct values or value known);
                         undo decrements, removing the entry at 0
  STDDEV_SAMP / STDDEV_SAMPLE are undoable in ksqlDB too but are not modelled here.

Interface
---------
    outputs, skipped = table_select(records, projection=None, where=None,
                                    send_old_values=True)
    outputs, skipped = table_aggregate(records, group_by, aggregates, having=None,
                                       projection=None, where=None, kip904=True,
                                       collect_limit=None)

records:    dicts {"key", "value": {column: value} | None, "timestamp" (default 0)}, in order.
projection: table_select: callable(key, row) -> dict (default: the row itself);
            table_aggregate: callable(group_key_tuple, results_dict) -> dict (default: the
            results dict, aggregates by alias).
where:      callable(row) -> bool (a None result counts as false, as in SQL).
group_by:   list of column names or callables(row) -> value.
aggregates: list of (FUNC, column, alias) tuples; column None means COUNT(*).
having:     callable(group_key_tuple, results_dict) -> bool.
outputs:    dicts {"key", "value": dict | None, "timestamp"}; for table_aggregate "key" is the
            group key tuple.
"""

from __future__ import annotations

UNDOABLE = ("COUNT", "SUM", "AVG", "COLLECT_LIST", "HISTOGRAM")
NOT_UNDOABLE = (
    "MIN",
    "MAX",
    "LATEST_BY_OFFSET",
    "EARLIEST_BY_OFFSET",
    "COLLECT_SET",
    "TOPK",
    "TOPKDISTINCT",
    "COUNT_DISTINCT",
    "CORRELATION",
)
HISTOGRAM_LIMIT = 1000


class KsqlStatementError(Exception):
    """The statement is refused, with ksqlDB's message."""


def _joined(names):
    """GrammaticalJoiner.and(): 'A', 'A and B', 'A, B and C'."""
    if len(names) == 1:
        return names[0]
    return ", ".join(names[:-1]) + " and " + names[-1]


def check_table_aggregates(func_names):
    """Raise ksqlDB's SchemaKGroupedTable.aggregate error for functions without undo."""
    bad = []
    for name in func_names:
        name = name.upper()
        if name not in UNDOABLE and name not in bad:
            bad.append(name)
    if bad:
        plural = "" if len(bad) == 1 else "s"
        raise KsqlStatementError(
            "The aggregation function%s %s cannot be applied to a table source, "
            "only to a stream source." % (plural, _joined(bad))
        )


# ---------------------------------------------------------------------------------------------
# The source table


def _source_changes(records, skipped):
    """Yield (record, key, old_row, new_row) for a ksqlDB source table, in order."""
    state = {}
    for rec in records:
        key = rec.get("key")
        if key is None:
            skipped.append({"record": rec, "reason": "null key"})
            continue
        hkey = _hashable(key)
        old = state.get(hkey)
        new = rec.get("value")
        if new is None:
            state.pop(hkey, None)
        else:
            state[hkey] = new
        yield rec, key, old, new


def _hashable(v):
    if isinstance(v, dict):
        return tuple(sorted((k, _hashable(x)) for k, x in v.items()))
    if isinstance(v, list):
        return tuple(_hashable(x) for x in v)
    return v


def _passes(pred, *args):
    return pred(*args) is True


# ---------------------------------------------------------------------------------------------
# CREATE TABLE x AS SELECT ... FROM a_table [WHERE ...]


def table_select(records, projection=None, where=None, send_old_values=True):
    outputs, skipped = [], []
    project = projection or (lambda key, row: dict(row))
    for rec, key, old, new in _source_changes(records, skipped):
        ts = rec.get("timestamp", 0)
        if where is None:
            new_f, old_f = new, old
            forward = True
        else:
            new_f = new if new is not None and _passes(where, new) else None
            old_f = old if old is not None and _passes(where, old) else None
            forward = not (send_old_values and old_f is None and new_f is None)
        if not forward:
            continue
        value = None if new_f is None else project(key, new_f)
        outputs.append({"key": key, "value": value, "timestamp": ts})
    return outputs, skipped


# ---------------------------------------------------------------------------------------------
# Aggregates with undo


class _Count:
    def __init__(self, star):
        self.star = star

    def init(self):
        return 0

    def add(self, agg, v):
        return agg + 1 if (self.star or v is not None) else agg

    def undo(self, agg, v):
        return agg - 1 if (self.star or v is not None) else agg

    def result(self, agg):
        return agg


class _Sum:
    def init(self):
        return 0

    def add(self, agg, v):
        return agg if v is None else agg + v

    def undo(self, agg, v):
        return agg if v is None else agg - v

    def result(self, agg):
        return agg


class _Avg:
    def init(self):
        return (0, 0)

    def add(self, agg, v):
        return agg if v is None else (agg[0] + v, agg[1] + 1)

    def undo(self, agg, v):
        return agg if v is None else (agg[0] - v, agg[1] - 1)

    def result(self, agg):
        return 0.0 if agg[1] == 0 else agg[0] / float(agg[1])


class _CollectList:
    def __init__(self, limit):
        self.limit = limit

    def init(self):
        return []

    def add(self, agg, v):
        if self.limit is None or len(agg) < self.limit:
            agg = agg + [v]
        return agg

    def undo(self, agg, v):
        for i in range(len(agg) - 1, -1, -1):  # lastIndexOf
            if agg[i] == v and (agg[i] is None) == (v is None):
                return agg[:i] + agg[i + 1:]
        return agg

    def result(self, agg):
        return list(agg)


class _Histogram:
    def init(self):
        return {}

    def add(self, agg, v):
        agg = dict(agg)
        if len(agg) < HISTOGRAM_LIMIT or v in agg:
            agg[v] = agg.get(v, 0) + 1
        return agg

    def undo(self, agg, v):
        agg = dict(agg)
        if v not in agg:
            # ksqlDB's HistogramUdaf.undo unboxes a null count here (NullPointerException).
            raise RuntimeError("HISTOGRAM undo of a value never counted: %r" % (v,))
        agg[v] -= 1
        if agg[v] < 1:
            del agg[v]
        return agg

    def result(self, agg):
        return dict(agg)


def _make_agg(func, column, collect_limit):
    func = func.upper()
    if func == "COUNT":
        return _Count(star=column is None)
    if func == "SUM":
        return _Sum()
    if func == "AVG":
        return _Avg()
    if func == "COLLECT_LIST":
        return _CollectList(collect_limit)
    if func == "HISTOGRAM":
        return _Histogram()
    raise AssertionError(func)


def _group_of(row, group_by):
    if row is None:
        return None
    key = []
    for g in group_by:
        v = g(row) if callable(g) else row.get(g)
        if v is None:
            return None
        key.append(v)
    return tuple(key)


# ---------------------------------------------------------------------------------------------
# CREATE TABLE x AS SELECT g, agg(...) FROM a_table GROUP BY g [HAVING ...]


def table_aggregate(
    records,
    group_by,
    aggregates,
    having=None,
    projection=None,
    where=None,
    kip904=True,
    collect_limit=None,
):
    check_table_aggregates([a[0] for a in aggregates])
    funcs = [(_make_agg(f, col, collect_limit), col, alias) for f, col, alias in aggregates]
    project = projection or (lambda gkey, results: dict(results))

    store = {}  # group key -> (list of agg states, timestamp)
    outputs, skipped = [], []

    def results_of(states):
        return {alias: fn.result(s) for (fn, _col, alias), s in zip(funcs, states)}

    def emit(gkey, old_states, new_states, ts):
        new_res = results_of(new_states)
        if having is not None:
            old_pass = old_states is not None and _passes(having, gkey, results_of(old_states))
            new_pass = _passes(having, gkey, new_res)
            if not old_pass and not new_pass:
                return
            if not new_pass:
                outputs.append({"key": gkey, "value": None, "timestamp": ts})
                return
        outputs.append({"key": gkey, "value": project(gkey, new_res), "timestamp": ts})

    def arg(row, col):
        return None if col is None else row.get(col)

    def update(gkey, old_row, new_row, rec_ts):
        """One KTableAggregate.process call for group gkey (undo old_row, then add new_row)."""
        prev = store.get(gkey)
        old_states = None if prev is None else prev[0]
        states = old_states
        ts = rec_ts
        if old_row is not None and old_states is not None:
            states = [fn.undo(s, arg(old_row, col)) for (fn, col, _a), s in zip(funcs, states)]
            ts = max(rec_ts, prev[1])
        if new_row is not None:
            if states is None:
                states = [fn.init() for fn, _c, _a in funcs]
            states = [fn.add(s, arg(new_row, col)) for (fn, col, _a), s in zip(funcs, states)]
            if prev is not None:
                ts = max(rec_ts, prev[1])
        if states is None:
            return
        store[gkey] = (states, ts)
        emit(gkey, old_states, states, ts)

    for rec, _key, old, new in _source_changes(records, skipped):
        ts = rec.get("timestamp", 0)
        if where is not None:
            # A WHERE before GROUP BY is a KTableFilter with old values (forced on by groupBy).
            old = old if old is not None and _passes(where, old) else None
            new = new if new is not None and _passes(where, new) else None
        og = _group_of(old, group_by)
        ng = _group_of(new, group_by)
        if kip904 and og is not None and ng is not None and og == ng:
            update(og, old, new, ts)
            continue
        if og is not None:
            update(og, old, None, ts)
        if ng is not None:
            update(ng, None, new, ts)
    return outputs, skipped
