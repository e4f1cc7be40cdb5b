"""Self-tests of the table reference (python3 -m unittest, standard library only).

    python3 -m unittest discover -s engine/tests/reference

The cases named after a QTT test are transcribed from ksqlDB's query-validation tests
(confluentinc/ksql ksqldb-functional-tests/src/test/resources/query-validation-tests/*.json),
inputs and expected outputs as they are in those files; DELIMITED values are written here as
dicts and turned back into DELIMITED text for the comparison. Where a file's stored copy
predates ksqlDB's move to Kafka Streams 3.5 (KIP-904, ksqlDB PR #9976), the QTT expectation is
checked with kip904=False and the KIP-904 outcome with kip904=True; engine/docs/ksqldb-tables.md
says which is which.
"""

import os
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from ksql_tables import (  # noqa: E402
    KsqlStatementError,
    check_table_aggregates,
    table_aggregate,
    table_select,
)


def delimited(row_values):
    """A DELIMITED value: fields joined by ',', null as the empty string."""
    return ",".join("" if v is None else str(v) for v in row_values)


def recs(cols, *rows):
    """(key, 'a,b,c' | None) pairs -> records with dict values for the given columns."""
    out = []
    for i, (key, text) in enumerate(rows):
        value = None
        if text is not None:
            parts = text.split(",")
            value = {}
            for c, p in zip(cols, parts):
                name, typ = c
                value[name] = None if p == "" else typ(p)
        out.append({"key": key, "value": value, "timestamp": 0, "offset": i})
    return out


def brief(outputs, cols):
    """Outputs as (key, DELIMITED value or None)."""
    res = []
    for o in outputs:
        v = o["value"]
        res.append((o["key"], None if v is None else delimited([v[c] for c in cols])))
    return res


class TableSelectQtt(unittest.TestCase):
    COLS = [("ID", int), ("NAME", str), ("VALUE", int)]

    def test_update_delete(self):
        # table.json "update-delete":
        # CREATE TABLE TEST (K STRING PRIMARY KEY, ID bigint, NAME varchar, VALUE int) ...;
        # CREATE TABLE T1 as SELECT K, NAME, VALUE FROM test;
        out, skipped = table_select(
            recs(self.COLS, ("1", "1,one,100"), ("2", "2,two,200"), ("1", "1,one,300"), ("1", None))
        )
        self.assertEqual(skipped, [])
        self.assertEqual(
            brief(out, ["NAME", "VALUE"]),
            [("1", "one,100"), ("2", "two,200"), ("1", "one,300"), ("1", None)],
        )

    def test_should_forward_nulls_in_changelog(self):
        # table.json "should forward nulls in changelog when table not materialized":
        # CREATE TABLE INPUT (K STRING PRIMARY KEY, ID bigint); CREATE TABLE OUTPUT as SELECT *
        out, _ = table_select(recs([("ID", int)], ("1", "1"), ("1", None), ("1", "2")))
        self.assertEqual(brief(out, ["ID"]), [("1", "1"), ("1", None), ("1", "2")])

    def test_should_not_blow_up_on_null_key(self):
        # table.json "should not blow up on null key"
        out, skipped = table_select(recs([("ID", int)], ("1", "1"), (None, "2"), ("1", "3")))
        self.assertEqual(brief(out, ["ID"]), [("1", "1"), ("1", "3")])
        self.assertEqual(len(skipped), 1)
        self.assertEqual(skipped[0]["reason"], "null key")


class TableFilterSemantics(unittest.TestCase):
    """WHERE on a table: KTableFilter with old values (derived from code, see note section 3)."""

    def test_where_tombstone_only_for_rows_that_passed(self):
        rows = recs(
            [("COL1", int)],
            ("1", "0"),  # fails, key never passed -> nothing
            ("1", "1"),  # passes -> row
            ("1", "0"),  # fails, previous row passed -> tombstone
            ("1", None),  # tombstone, previous row failed -> nothing
            ("2", None),  # tombstone of an absent key -> nothing
            ("2", "5"),  # passes -> row
            ("2", None),  # tombstone, previous row passed -> tombstone
        )
        out, _ = table_select(rows, where=lambda r: r["COL1"] > 0)
        self.assertEqual(
            brief(out, ["COL1"]), [("1", "1"), ("1", None), ("2", "5"), ("2", None)]
        )

    def test_where_without_old_values_legacy(self):
        # ksqlDB before PR #6405 / Kafka before KAFKA-10077: every failing row is a tombstone.
        rows = recs([("COL1", int)], ("1", "0"), ("1", "1"), ("1", "0"))
        out, _ = table_select(rows, where=lambda r: r["COL1"] > 0, send_old_values=False)
        self.assertEqual(brief(out, ["COL1"]), [("1", None), ("1", "1"), ("1", None)])

    def test_no_where_forwards_tombstone_of_absent_key(self):
        out, _ = table_select(recs([("COL1", int)], ("9", None)))
        self.assertEqual(brief(out, ["COL1"]), [("9", None)])

    def test_null_predicate_is_false(self):
        out, _ = table_select(
            recs([("COL1", int)], ("1", ""), ("1", "3")),
            where=lambda r: None if r["COL1"] is None else r["COL1"] > 0,
        )
        self.assertEqual(brief(out, ["COL1"]), [("1", "3")])

    def test_timestamps_follow_the_input(self):
        rows = recs([("COL1", int)], ("1", "1"), ("1", "0"))
        rows[0]["timestamp"], rows[1]["timestamp"] = 10, 7
        out, _ = table_select(rows, where=lambda r: r["COL1"] > 0)
        self.assertEqual([o["timestamp"] for o in out], [10, 7])


def counts(out):
    return [(o["key"], None if o["value"] is None else o["value"]["C"]) for o in out]


class TableAggregateQtt(unittest.TestCase):
    def test_count_table(self):
        # count.json "count table":
        # CREATE TABLE INPUT (ID STRING PRIMARY KEY, name STRING) ... DELIMITED;
        # CREATE TABLE OUTPUT as SELECT NAME, count(1) FROM input group by name;
        rows = recs([("NAME", str)], ("0", "bob"), ("0", "john"), ("100", "john"), ("100", None))
        expected = [(("bob",), 1), (("bob",), 0), (("john",), 1), (("john",), 2), (("john",), 1)]
        for kip904 in (True, False):
            out, _ = table_aggregate(rows, ["NAME"], [("COUNT", None, "C")], kip904=kip904)
            self.assertEqual(counts(out), expected)

    def test_should_count_back_to_zero(self):
        # count.json "should count back to zero": a group's last row leaving gives COUNT 0.
        rows = recs([("ID", int)], ("1", "3"), ("2", "3"), ("1", None), ("2", None))
        out, _ = table_aggregate(rows, ["ID"], [("COUNT", None, "C")])
        self.assertEqual(counts(out), [((3,), 1), ((3,), 2), ((3,), 1), ((3,), 0)])

    def test_should_support_removing_zero_counts_from_table(self):
        # count.json "should support removing zero counts from table": ... HAVING COUNT() > 0
        rows = recs([("ID", int)], ("1", "3"), ("2", "3"), ("1", None), ("2", None))
        out, _ = table_aggregate(
            rows, ["ID"], [("COUNT", None, "C")], having=lambda g, r: r["C"] > 0
        )
        self.assertEqual(counts(out), [((3,), 1), ((3,), 2), ((3,), 1), ((3,), None)])

    def test_fields_table_to_table(self):
        # group-by.json "fields (table->table)":
        # CREATE TABLE TEST (ID INT PRIMARY KEY, f1 INT, f2 VARCHAR) WITH (format='DELIMITED');
        # CREATE TABLE OUTPUT AS SELECT f1, f2, COUNT(*) FROM TEST GROUP BY f2, f1;
        rows = recs(
            [("F1", int), ("F2", str)],
            ("1", "1,a"), ("2", "2,b"), ("1", "1,b"), ("2", None), ("1", "1,a"),
        )
        for kip904 in (True, False):
            out, _ = table_aggregate(rows, ["F2", "F1"], [("COUNT", None, "C")], kip904=kip904)
            got = [(delimited(k), v) for k, v in counts(out)]
            self.assertEqual(
                got,
                [("a,1", 1), ("b,2", 1), ("a,1", 0), ("b,1", 1), ("b,2", 0), ("b,1", 0),
                 ("a,1", 1)],
            )

    def test_field_with_rekey_table_to_table(self):
        # group-by.json "field with re-key (table->table)": ... SELECT region, COUNT(*) ...
        rows = recs(
            [("USER", int), ("REGION", str)],
            (1, "1,r0"), (2, "2,r1"), (3, "3,r0"), (1, None), (2, "2,r0"),
        )
        out, _ = table_aggregate(rows, ["REGION"], [("COUNT", None, "C")])
        self.assertEqual(
            [(k[0], v) for k, v in counts(out)],
            [("r0", 1), ("r1", 1), ("r0", 2), ("r0", 1), ("r1", 0), ("r0", 2)],
        )

    def test_aggregate_arithmetic_source_field(self):
        # group-by.json "with aggregate arithmetic involving source field (table->table)":
        # CREATE TABLE OUTPUT AS SELECT f0, f0 * SUM(f1) FROM TEST GROUP BY f0;
        rows = recs([("F0", int), ("F1", int)], (2, "2,10"), (2, "2,20"), (2, "2,30"), (2, None))
        proj = lambda g, r: {"KSQL_COL_0": g[0] * r["S"]}  # noqa: E731
        legacy, _ = table_aggregate(
            rows, ["F0"], [("SUM", "F1", "S")], projection=proj, kip904=False
        )
        # The stored QTT file (and the 7.1.0 historical plan) expects two outputs per update:
        self.assertEqual(
            [o["value"]["KSQL_COL_0"] for o in legacy], [20, 0, 40, 0, 60, 0]
        )
        current, _ = table_aggregate(rows, ["F0"], [("SUM", "F1", "S")], projection=proj)
        # Kafka Streams 3.5+ (KIP-904): one output per same-group update.
        self.assertEqual([o["value"]["KSQL_COL_0"] for o in current], [20, 40, 60, 0])

    def test_multiple_expressions_table_aggregate(self):
        # group-by.json "multiple expressions - table aggregate":
        # CREATE TABLE OUTPUT as SELECT 1 as k, value, count(1) AS ID FROM INPUT group by value, 1;
        data = [(10, 0), (1666, 0), (98, 0), (98, 1), (2, None)]
        rows = [{"key": k, "value": {"VALUE": v}, "timestamp": 0} for k, v in data]
        rows.append({"key": 2, "value": None, "timestamp": 0})
        out, _ = table_aggregate(
            rows, ["VALUE", lambda r: 1], [("COUNT", None, "ID")]
        )
        self.assertEqual(
            [({"VALUE": o["key"][0], "K": o["key"][1]}, o["value"]["ID"]) for o in out],
            [({"VALUE": 0, "K": 1}, 1), ({"VALUE": 0, "K": 1}, 2), ({"VALUE": 0, "K": 1}, 3),
             ({"VALUE": 0, "K": 1}, 2), ({"VALUE": 1, "K": 1}, 1)],
        )

    def test_sum_int_left_join_of_table_emulated(self):
        # sum.json "sum int left join of table": SUM(t2.total) ... FROM T1 LEFT JOIN T2 ...
        # GROUP BY t1.id. The join is emulated by feeding its result rows (keyed by T1.ID)
        # as the aggregated table: (100, null), (101, null), then T2 updates.
        joined = [(0, None), (1, None), (0, 5), (1, 10), (0, 20), (0, None)]
        rows = [{"key": k, "value": {"T1_ID": k, "T2_TOTAL": t}, "timestamp": 0}
                for k, t in joined]
        current, _ = table_aggregate(rows, ["T1_ID"], [("SUM", "T2_TOTAL", "SUM")])
        # current sum.json (after PR #9976):
        self.assertEqual(
            [(o["key"][0], o["value"]["SUM"]) for o in current],
            [(0, 0), (1, 0), (0, 5), (1, 10), (0, 20), (0, 0)],
        )
        legacy, _ = table_aggregate(
            rows, ["T1_ID"], [("SUM", "T2_TOTAL", "SUM")], kip904=False
        )
        # historical_plans/sum_-_sum_int_left_join_of_table/7.1.0_1633126023245/spec.json:
        self.assertEqual(
            [(o["key"][0], o["value"]["SUM"]) for o in legacy],
            [(0, 0), (1, 0), (0, 0), (0, 5), (1, 0), (1, 10), (0, 0), (0, 20), (0, 0),
             (0, 0)],
        )

    def test_collect_list_int_table(self):
        # collect-list.json "collect_list int table":
        # CREATE TABLE TEST (ID BIGINT PRIMARY KEY, VALUE integer); ... collect_list(value) ...
        data = [(0, 0), (0, 100), (100, 500), (100, 100)]
        rows = [{"key": k, "value": {"ID": k, "VALUE": v}, "timestamp": 0} for k, v in data]
        legacy, _ = table_aggregate(
            rows, ["ID"], [("COLLECT_LIST", "VALUE", "COLLECTED")], kip904=False
        )
        self.assertEqual(
            [(o["key"][0], o["value"]["COLLECTED"]) for o in legacy],
            [(0, [0]), (0, []), (0, [100]), (100, [500]), (100, []), (100, [100])],
        )
        current, _ = table_aggregate(rows, ["ID"], [("COLLECT_LIST", "VALUE", "COLLECTED")])
        self.assertEqual(
            [(o["key"][0], o["value"]["COLLECTED"]) for o in current],
            [(0, [0]), (0, [100]), (100, [500]), (100, [100])],
        )

    def test_collect_list_string_table(self):
        # collect-list.json "collect_list string table"
        data = [(0, "foo"), (100, "baz"), (0, "bar"), (100, "baz"), (100, "foo")]
        rows = [{"key": k, "value": {"ID": k, "VALUE": v}, "timestamp": 0} for k, v in data]
        legacy, _ = table_aggregate(
            rows, ["ID"], [("COLLECT_LIST", "VALUE", "COLLECTED")], kip904=False
        )
        self.assertEqual(
            [(o["key"][0], o["value"]["COLLECTED"]) for o in legacy],
            [(0, ["foo"]), (100, ["baz"]), (0, []), (0, ["bar"]), (100, []), (100, ["baz"]),
             (100, []), (100, ["foo"])],
        )

    def test_non_table_udaf_on_table(self):
        # group-by.json "non-table udaf on table"
        with self.assertRaises(KsqlStatementError) as ctx:
            check_table_aggregates(["LATEST_BY_OFFSET", "MIN", "MAX"])
        self.assertEqual(
            str(ctx.exception),
            "The aggregation functions LATEST_BY_OFFSET, MIN and MAX cannot be applied to a "
            "table source, only to a stream source.",
        )
        with self.assertRaises(KsqlStatementError) as ctx:
            table_aggregate([], ["K"], [("COLLECT_SET", "V", "S")])
        self.assertEqual(
            str(ctx.exception),
            "The aggregation function COLLECT_SET cannot be applied to a table source, "
            "only to a stream source.",
        )


class TableAggregateSemantics(unittest.TestCase):
    """Derived from KTableAggregate / the UDAFs' undo (note section 4), not from QTT files."""

    def test_collect_list_undo_removes_last_occurrence(self):
        rows = [
            {"key": "a", "value": {"G": 1, "V": "x"}},
            {"key": "b", "value": {"G": 1, "V": "y"}},
            {"key": "c", "value": {"G": 1, "V": "x"}},
            {"key": "a", "value": None},  # removes the LAST "x", i.e. c's, not a's
        ]
        out, _ = table_aggregate(rows, ["G"], [("COLLECT_LIST", "V", "L")])
        self.assertEqual([o["value"]["L"] for o in out],
                         [["x"], ["x", "y"], ["x", "y", "x"], ["x", "y"]])

    def test_avg_undo_and_empty_group(self):
        rows = [
            {"key": "a", "value": {"G": 1, "V": 2}},
            {"key": "b", "value": {"G": 1, "V": None}},
            {"key": "a", "value": None},
        ]
        out, _ = table_aggregate(rows, ["G"], [("AVG", "V", "A"), ("COUNT", "V", "N"),
                                               ("COUNT", None, "C"), ("SUM", "V", "S")])
        self.assertEqual(
            [(o["value"]["A"], o["value"]["N"], o["value"]["C"], o["value"]["S"]) for o in out],
            [(2.0, 1, 1, 2), (2.0, 1, 2, 2), (0.0, 0, 1, 0)],
        )

    def test_histogram_undo(self):
        rows = [
            {"key": "a", "value": {"G": 1, "V": "x"}},
            {"key": "b", "value": {"G": 1, "V": "x"}},
            {"key": "a", "value": {"G": 1, "V": "y"}},
            {"key": "b", "value": None},
        ]
        out, _ = table_aggregate(rows, ["G"], [("HISTOGRAM", "V", "H")])
        self.assertEqual([o["value"]["H"] for o in out],
                         [{"x": 1}, {"x": 2}, {"x": 1, "y": 1}, {"y": 1}])

    def test_group_change_order_and_timestamps(self):
        rows = [
            {"key": "a", "value": {"G": "g1"}, "timestamp": 100},
            {"key": "b", "value": {"G": "g2"}, "timestamp": 300},
            {"key": "a", "value": {"G": "g2"}, "timestamp": 200},  # leaves g1, joins g2
            {"key": "a", "value": {"G": "g2"}, "timestamp": 50},  # same group: one output
        ]
        out, _ = table_aggregate(rows, ["G"], [("COUNT", None, "C")])
        self.assertEqual(
            [(o["key"][0], o["value"]["C"], o["timestamp"]) for o in out],
            [("g1", 1, 100), ("g2", 1, 300), ("g1", 0, 200), ("g2", 2, 300), ("g2", 2, 300)],
        )
        legacy, _ = table_aggregate(rows, ["G"], [("COUNT", None, "C")], kip904=False)
        self.assertEqual(
            [(o["key"][0], o["value"]["C"], o["timestamp"]) for o in legacy],
            [("g1", 1, 100), ("g2", 1, 300), ("g1", 0, 200), ("g2", 2, 300), ("g2", 1, 300),
             ("g2", 2, 300)],
        )

    def test_null_group_key_rows_are_excluded(self):
        rows = [
            {"key": "a", "value": {"G": None}},
            {"key": "a", "value": {"G": "g"}},  # only an add
            {"key": "a", "value": {"G": None}},  # only a subtract
            {"key": "a", "value": None},  # nothing
        ]
        out, _ = table_aggregate(rows, ["G"], [("COUNT", None, "C")])
        self.assertEqual([(o["key"], o["value"]["C"]) for o in out], [(("g",), 1), (("g",), 0)])

    def test_having_only_emits_tombstones_for_rows_that_passed(self):
        rows = [
            {"key": "a", "value": {"G": 1, "V": -5}},  # SUM -5: fails, never passed: nothing
            {"key": "b", "value": {"G": 1, "V": 6}},  # SUM 1: row
            {"key": "c", "value": {"G": 1, "V": -2}},  # SUM -1: tombstone
            {"key": "d", "value": {"G": 1, "V": -1}},  # SUM -2: nothing
        ]
        out, _ = table_aggregate(rows, ["G"], [("SUM", "V", "S")],
                                 having=lambda g, r: r["S"] > 0)
        self.assertEqual([o["value"] for o in out], [{"S": 1}, None])


if __name__ == "__main__":
    unittest.main()
