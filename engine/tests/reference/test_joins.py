"""Self-tests of the join reference (python3 -m unittest, standard library only).

    python3 -m unittest discover -s engine/tests/reference

The cases named after a QTT test are transcribed from ksqlDB's query-validation tests,
confluentinc/ksql ksqldb-functional-tests/src/test/resources/query-validation-tests/:
bin12/joins.json and bin12/multi-joins.json at commit 3b352d11 (the current layout; joins.json at
d35dfe90 and the SQL-form "--@test: joins - ..." file have the same expectations for these cases),
and the JSON format variant where a case runs for several formats. Inputs are fed in the order of
the QTT file (TopologyTestDriver processes each record as it is piped); "key" is the join key
after any repartition. Expected outputs are ksqlDB's, with its projection applied by `proj`.
The cases named "docs ..." are transcribed from the semantics tables of ksqlDB's
docs/developer-guide/joins/join-streams-and-tables.md (commit 298bf398).
"""

import json
import os
import subprocess
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from ksql_joins import (  # noqa: E402
    KsqlStatementError,
    StreamStreamJoin,
    StreamTableJoin,
    TableTableJoin,
    flatten,
    foreign_key_join,
    multi_join,
    stream_stream_join,
    stream_table_join,
    table_table_join,
    validate_join,
)

SEC = 1000
MIN = 60 * SEC


def recs(*rows):
    """(source 'L'|'R', key, value, timestamp) -> records."""
    side = {"L": "left", "R": "right"}
    return [{"source": side[s], "key": k, "value": v, "timestamp": t} for s, k, v, t in rows]


def proj(outputs, left_cols=(), right_cols=(), names=None):
    """Outputs as (key, {column: value} | None, timestamp), projecting columns of each side.

    left_cols / right_cols: columns taken from that side (None when the side is missing);
    names: optional {source column: output name} renames (e.g. ksqlDB's L_ID aliases).
    """
    names = names or {}
    res = []
    for o in outputs:
        v = o["value"]
        if v is None:
            res.append((o["key"], None, o["timestamp"]))
            continue
        row = {}
        for side, cols in (("left", left_cols), ("right", right_cols)):
            src = v[side] or {}
            for c in cols:
                row[names.get((side, c), c)] = src.get(c) if v[side] is not None else None
        res.append((o["key"], row, o["timestamp"]))
    return res


# ---------------------------------------------------------------------------------------------
# Stream-table


class StreamTableQtt(unittest.TestCase):
    INPUTS = recs(
        ("R", 0, {"F1": "zero", "F2": 0}, 0),
        ("R", 10, {"F1": "100", "F2": 5}, 10000),
        ("L", 0, {"NAME": "blah", "VALUE": 50}, 10000),
        ("L", 0, {"NAME": "foo", "VALUE": 100}, 10000),
        ("R", 0, {"F1": "a", "F2": 10}, 15000),
        ("L", 0, {"NAME": "bar", "VALUE": 99}, 15000),
        ("L", 90, {"NAME": "ninety", "VALUE": 90}, 15000),
    )

    def row(self, name, value, f1, f2):
        return {"NAME": name, "VALUE": value, "F1": f1, "F2": f2}

    def test_stream_table_left_join(self):
        # joins.json "stream table left join" (JSON):
        # CREATE STREAM LEFT_JOIN as SELECT t.id, name, value, f1, f2
        #   FROM test t left join test_table tt on t.id = tt.id;
        out, skipped = stream_table_join(self.INPUTS, "left")
        self.assertEqual(skipped, [])
        self.assertEqual(
            proj(out, ["NAME", "VALUE"], ["F1", "F2"]),
            [
                (0, self.row("blah", 50, "zero", 0), 10000),
                (0, self.row("foo", 100, "zero", 0), 10000),
                (0, self.row("bar", 99, "a", 10), 15000),
                (90, self.row("ninety", 90, None, None), 15000),
            ],
        )

    def test_stream_table_inner_join(self):
        # joins.json "stream table inner join" (same inputs, INNER)
        out, _ = stream_table_join(self.INPUTS, "inner")
        self.assertEqual(
            proj(out, ["NAME", "VALUE"], ["F1", "F2"]),
            [
                (0, self.row("blah", 50, "zero", 0), 10000),
                (0, self.row("foo", 100, "zero", 0), 10000),
                (0, self.row("bar", 99, "a", 10), 15000),
            ],
        )

    def test_stream_to_table_wrapped_single_field(self):
        # joins.json "stream to table wrapped single field value schema on inputs":
        # a row whose NAME is null is a value (joins); the table's null value is a tombstone.
        out, _ = stream_table_join(
            recs(
                ("R", 0, {"NAME": "b"}, 0),
                ("L", 0, {"NAME": "a"}, 10),
                ("L", 0, {"NAME": None}, 20),
                ("R", 0, {"NAME": None}, 30),
                ("L", 0, {"NAME": None}, 40),
                ("R", 0, None, 50),
                ("L", 0, {"NAME": "a"}, 60),
            ),
            "inner",
        )
        self.assertEqual(
            proj(out, ["NAME"], ["NAME"], {("left", "NAME"): "NAME1", ("right", "NAME"): "NAME2"}),
            [
                (0, {"NAME1": "a", "NAME2": "b"}, 10),
                (0, {"NAME1": None, "NAME2": "b"}, 20),
                (0, {"NAME1": None, "NAME2": None}, 40),
            ],
        )

    def test_stream_to_table_unwrapped_single_field(self):
        # joins.json "stream to table unwrapped single field value schema on inputs":
        # a null stream value is skipped; the table's null is a tombstone.
        out, skipped = stream_table_join(
            recs(
                ("R", 0, {"NAME": "b"}, 0),
                ("L", 0, {"NAME": "a"}, 10),
                ("L", 0, None, 20),
                ("R", 0, None, 30),
                ("L", 0, None, 40),
            ),
            "inner",
        )
        self.assertEqual(
            proj(out, ["NAME"], ["NAME"], {("left", "NAME"): "NAME1", ("right", "NAME"): "NAME2"}),
            [(0, {"NAME1": "a", "NAME2": "b"}, 10)],
        )
        self.assertEqual([s["reason"] for s in skipped], ["null join key or value"] * 2)

    def test_on_non_string_value_column(self):
        # joins.json "on non-STRING value column": the stream is repartitioned on SF, so the
        # join key is SF; S_ROWTIME 300 / T_ROWTIME 200, output timestamp = the stream's.
        out, _ = stream_table_join(
            recs(
                ("R", 26589, {"TF": 1}, 0),
                ("L", 12589, {"K": "a"}, 100),
                ("R", 12589, {"TF": 12}, 200),
                ("L", 12589, {"K": "b"}, 300),
            ),
            "inner",
        )
        self.assertEqual(proj(out, ["K"], ["TF"]), [(12589, {"K": "b", "TF": 12}, 300)])

    def test_stream_table_table_left_left(self):
        # multi-joins.json "stream-table-table - left-left": S1 LEFT JOIN T2 LEFT JOIN T3, the
        # first join's output stream feeding the second as it is produced.
        first, second = StreamTableJoin("left"), StreamTableJoin("left")
        inputs = [
            ("S1", 0, {"V0": 1}, 9),
            ("T2", 0, {"V0": 2}, 10),
            ("S1", 0, {"V0": 1}, 11),
            ("T3", 0, {"V0": 3}, 12),
            ("S1", 0, {"V0": 1}, 13),
        ]
        out = []
        for src, k, v, t in inputs:
            if src == "T3":
                out += second.process({"source": "right", "key": k, "value": v, "timestamp": t})
                continue
            side = "left" if src == "S1" else "right"
            for o in first.process({"source": side, "key": k, "value": v, "timestamp": t}):
                out += second.process({"source": "left", "key": o["key"], "value": o["value"],
                                       "timestamp": o["timestamp"]})
        rows = [
            (o["key"], {
                "S1_V0": o["value"]["left"]["left"]["V0"],
                "T2_V0": (o["value"]["left"]["right"] or {}).get("V0"),
                "T3_V0": (o["value"]["right"] or {}).get("V0"),
            }, o["timestamp"])
            for o in out
        ]
        self.assertEqual(
            rows,
            [
                (0, {"S1_V0": 1, "T2_V0": None, "T3_V0": None}, 9),
                (0, {"S1_V0": 1, "T2_V0": 2, "T3_V0": None}, 11),
                (0, {"S1_V0": 1, "T2_V0": 2, "T3_V0": 3}, 13),
            ],
        )

    def test_docs_stream_table_semantics(self):
        # docs "Semantics of Stream-Table Joins" (all records same key, timestamp order).
        inputs = recs(
            ("L", 0, None, 1), ("R", 0, None, 2), ("L", 0, {"v": "A"}, 3), ("R", 0, {"v": "a"}, 4),
            ("L", 0, {"v": "B"}, 5), ("R", 0, {"v": "b"}, 6), ("L", 0, None, 7), ("R", 0, None, 8),
            ("L", 0, {"v": "C"}, 9), ("R", 0, {"v": "c"}, 10), ("R", 0, None, 11),
            ("L", 0, None, 12), ("R", 0, None, 13), ("R", 0, {"v": "d"}, 14),
            ("L", 0, {"v": "D"}, 15),
        )

        def brief(out):
            return [(o["timestamp"], o["value"]["left"]["v"],
                     o["value"]["right"] and o["value"]["right"]["v"]) for o in out]

        self.assertEqual(brief(stream_table_join(inputs, "inner")[0]), [(5, "B", "a"), (15, "D", "d")])
        self.assertEqual(
            brief(stream_table_join(inputs, "left")[0]),
            [(3, "A", None), (5, "B", "a"), (9, "C", None), (15, "D", "d")],
        )


# ---------------------------------------------------------------------------------------------
# Stream-stream


class StreamStreamQtt(unittest.TestCase):
    # The inputs of joins.json "stream stream left join" / "inner join" / "outer join" (JSON)
    # TEST (ID BIGINT KEY, NAME varchar, VALUE bigint), TEST_STREAM (ID BIGINT KEY, F1, F2).
    BASE = [
        ("L", 0, {"NAME": "zero", "VALUE": 0}, 0),
        ("R", 0, {"F1": "blah", "F2": 50}, 10000),
        ("L", 10, {"NAME": "100", "VALUE": 5}, 11000),
        ("L", 0, {"NAME": "foo", "VALUE": 100}, 13000),
        ("R", 0, {"F1": "a", "F2": 10}, 15000),
        ("R", 100, {"F1": "newblah", "F2": 150}, 16000),
        ("L", 90, {"NAME": "ninety", "VALUE": 90}, 17000),
        ("L", 0, {"NAME": "bar", "VALUE": 99}, 30000),
    ]

    @staticmethod
    def row(name, value, f1, f2):
        return {"NAME": name, "VALUE": value, "F1": f1, "F2": f2}

    def brief(self, out):
        return proj(out, ["NAME", "VALUE"], ["F1", "F2"])

    def test_stream_stream_left_join(self):
        # joins.json "stream stream left join" (JSON), WITHIN 11 seconds, no GRACE: the
        # left-null rows come out at once (eager), with the left record's timestamp.
        out, _ = stream_stream_join(recs(*self.BASE), "left", 11 * SEC)
        r = self.row
        self.assertEqual(
            self.brief(out),
            [
                (0, r("zero", 0, None, None), 0),
                (0, r("zero", 0, "blah", 50), 10000),
                (10, r("100", 5, None, None), 11000),
                (0, r("foo", 100, "blah", 50), 13000),
                (0, r("foo", 100, "a", 10), 15000),
                (90, r("ninety", 90, None, None), 17000),
                (0, r("bar", 99, None, None), 30000),
            ],
        )

    def test_stream_stream_inner_join(self):
        # joins.json "stream stream inner join" (JSON), WITHIN 11 SECONDS
        out, _ = stream_stream_join(recs(*self.BASE), "inner", 11 * SEC)
        r = self.row
        self.assertEqual(
            self.brief(out),
            [
                (0, r("zero", 0, "blah", 50), 10000),
                (0, r("foo", 100, "blah", 50), 13000),
                (0, r("foo", 100, "a", 10), 15000),
            ],
        )

    def test_stream_stream_outer_join(self):
        # joins.json "stream stream outer join" (JSON): FULL OUTER, WITHIN 11 seconds, no GRACE,
        # with the left record at 17000 arriving after the one at 30000.
        inputs = self.BASE[:5] + [
            ("L", 0, {"NAME": "bar", "VALUE": 99}, 30000),
            ("L", 90, {"NAME": "ninety", "VALUE": 90}, 17000),
            ("R", 100, {"F1": "newblah", "F2": 150}, 20000),
        ]
        out, _ = stream_stream_join(recs(*inputs), "outer", 11 * SEC)
        r = self.row
        self.assertEqual(
            self.brief(out),
            [
                (0, r("zero", 0, None, None), 0),
                (0, r("zero", 0, "blah", 50), 10000),
                (10, r("100", 5, None, None), 11000),
                (0, r("foo", 100, "blah", 50), 13000),
                (0, r("foo", 100, "a", 10), 15000),
                (0, r("bar", 99, None, None), 30000),
                (90, r("ninety", 90, None, None), 17000),
                (100, r(None, None, "newblah", 150), 20000),
            ],
        )

    def test_stream_stream_right_join_rekey(self):
        # joins - stream stream right join - rekey - JSON (SQL-form QTT file; joined on ID, so
        # the key is ID): RIGHT JOIN ... WITHIN 11 seconds, eager right-null rows.
        out, _ = stream_stream_join(recs(*self.BASE), "right", 11 * SEC)
        r = self.row
        self.assertEqual(
            self.brief(out),
            [
                (0, r("zero", 0, "blah", 50), 10000),
                (0, r("foo", 100, "blah", 50), 13000),
                (0, r("foo", 100, "a", 10), 15000),
                (100, r(None, None, "newblah", 150), 16000),
            ],
        )

    def test_different_before_and_after_windows(self):
        # joins.json "stream stream inner join with different before and after windows":
        # WITHIN (11 seconds, 10 seconds): right ts in [left - 11 s, left + 10 s].
        inputs = [
            ("L", 0, {"NAME": "zero", "VALUE": 0}, 0),
            ("R", 0, {"F1": "blah", "F2": 50}, 11000),
            ("L", 10, {"NAME": "100", "VALUE": 5}, 12000),
            ("L", 0, {"NAME": "foo", "VALUE": 100}, 13000),
            ("R", 0, {"F1": "a", "F2": 10}, 15000),
            ("R", 100, {"F1": "newblah", "F2": 150}, 16000),
            ("L", 90, {"NAME": "ninety", "VALUE": 90}, 17000),
            ("L", 0, {"NAME": "bar", "VALUE": 99}, 30000),
        ]
        out, _ = stream_stream_join(recs(*inputs), "inner", 11 * SEC, 10 * SEC)
        r = self.row
        self.assertEqual(
            self.brief(out),
            [(0, r("foo", 100, "blah", 50), 13000), (0, r("foo", 100, "a", 10), 15000)],
        )

    def test_out_of_order_messages(self):
        # joins.json "stream stream inner join with out of order messages": WITHIN 10 seconds,
        # a left record at 6000 after stream time 30000 still joins (default 24 h grace).
        inputs = [
            ("L", 0, {"NAME": "zero", "VALUE": 0}, 0),
            ("R", 0, {"F1": "blah", "F2": 50}, 9999),
        ] + self.BASE[2:] + [("L", 0, {"NAME": "late-message", "VALUE": 10000}, 6000)]
        out, _ = stream_stream_join(recs(*inputs), "inner", 10 * SEC)
        r = self.row
        self.assertEqual(
            self.brief(out),
            [
                (0, r("zero", 0, "blah", 50), 9999),
                (0, r("foo", 100, "blah", 50), 13000),
                (0, r("foo", 100, "a", 10), 15000),
                (0, r("late-message", 10000, "blah", 50), 9999),
                (0, r("late-message", 10000, "a", 10), 15000),
            ],
        )

    # joins.json "stream stream ... join with out of order and custom grace period" (JSON):
    # WITHIN 1 minute GRACE PERIOD 1 minute; columns L1 / L2.
    GRACE_INPUTS = [
        ("L", 0, {"L1": "A"}, 0),
        ("R", 0, {"L2": "a"}, 60000),
        ("L", 1, {"L1": "B"}, 330000),
        ("L", 2, {"L1": "C"}, 90000),
        ("R", 2, {"L2": "c"}, 90000),
        ("L", 3, {"L1": "D"}, 60000),
        ("R", 3, {"L2": "d"}, 60000),
    ]

    def grace_join(self, join_type, inputs):
        out, _ = stream_stream_join(recs(*inputs), join_type, 1 * MIN, grace_ms=1 * MIN)
        return proj(out, ["L1"], ["L2"])

    def test_inner_join_out_of_order_custom_grace(self):
        self.assertEqual(
            self.grace_join("inner", self.GRACE_INPUTS),
            [(0, {"L1": "A", "L2": "a"}, 60000), (2, {"L1": "C", "L2": "c"}, 90000)],
        )

    def test_left_join_out_of_order_custom_grace(self):
        # B (key 1) stays buffered (its window never closes); C and D are already past their
        # window end (t + 1 min < stream time 330000), so their left-null rows come out at once,
        # and C still joins c afterwards (C's segment is still live in the left store).
        self.assertEqual(
            self.grace_join("left", self.GRACE_INPUTS),
            [
                (0, {"L1": "A", "L2": "a"}, 60000),
                (2, {"L1": "C", "L2": None}, 90000),
                (2, {"L1": "C", "L2": "c"}, 90000),
                (3, {"L1": "D", "L2": None}, 60000),
            ],
        )

    def test_right_join_out_of_order_custom_grace(self):
        inputs = self.GRACE_INPUTS[:5] + [("R", 3, {"L2": "d"}, 60000), ("L", 3, {"L1": "D"}, 90000)]
        self.assertEqual(
            self.grace_join("right", inputs),
            [
                (0, {"L1": "A", "L2": "a"}, 60000),
                (2, {"L1": "C", "L2": "c"}, 90000),
                (3, {"L1": None, "L2": "d"}, 60000),
                (3, {"L1": "D", "L2": "d"}, 90000),
            ],
        )

    def test_full_outer_join_out_of_order_custom_grace(self):
        inputs = [
            ("L", 0, {"L1": "A"}, 0),
            ("R", 0, {"L2": "a"}, 60000),
            ("R", 1, {"L2": "b"}, 330000),
            ("R", 2, {"L2": "c"}, 90000),
            ("L", 2, {"L1": "C"}, 90000),
            ("R", 3, {"L2": "d"}, 60000),
            ("L", 3, {"L1": "D"}, 60000),
        ]
        self.assertEqual(
            self.grace_join("outer", inputs),
            [
                (0, {"L1": "A", "L2": "a"}, 60000),
                (2, {"L1": None, "L2": "c"}, 90000),
                (2, {"L1": "C", "L2": "c"}, 90000),
                (3, {"L1": None, "L2": "d"}, 60000),
                (3, {"L1": "D", "L2": None}, 60000),
            ],
        )

    def test_strict_retention_would_drop_the_late_join(self):
        # Not a QTT expectation: with KAFKA-12960's strict fetch cut-off the late C/c pair of
        # the grace cases would not join (see the note, section 4.4).
        out, _ = stream_stream_join(
            recs(*self.GRACE_INPUTS), "inner", 1 * MIN, grace_ms=1 * MIN, strict_retention=True
        )
        self.assertEqual(proj(out, ["L1"], ["L2"]), [(0, {"L1": "A", "L2": "a"}, 60000)])

    def test_wrapped_single_field_value_schema(self):
        # joins.json "stream to stream wrapped single field value schema on inputs": WITHIN
        # 1 second; several matches come out in the stored records' timestamp order.
        out, _ = stream_stream_join(
            recs(
                ("L", 0, {"NAME": "a"}, 0),
                ("R", 0, {"NAME": "b"}, 10),
                ("L", 0, {"NAME": None}, 20),
                ("R", 0, {"NAME": None}, 30),
            ),
            "inner",
            1 * SEC,
        )
        self.assertEqual(
            proj(out, ["NAME"], ["NAME"], {("left", "NAME"): "NAME1", ("right", "NAME"): "NAME2"}),
            [
                (0, {"NAME1": "a", "NAME2": "b"}, 10),
                (0, {"NAME1": None, "NAME2": "b"}, 20),
                (0, {"NAME1": "a", "NAME2": None}, 30),
                (0, {"NAME1": None, "NAME2": None}, 30),
            ],
        )

    def test_unwrapped_single_field_null_values_ignored(self):
        # joins.json "stream to stream unwrapped single field value schema on inputs"
        out, skipped = stream_stream_join(
            recs(("L", 0, {"NAME": "a"}, 0), ("R", 0, {"NAME": "b"}, 10), ("L", 0, None, 20),
                 ("R", 0, None, 30)),
            "inner",
            1 * SEC,
        )
        self.assertEqual(len(out), 1)
        self.assertEqual(len(skipped), 2)

    def test_left_join_with_synthetic_join_column(self):
        # joins.json "left join - with synthetic join column in projection": WITHIN 1 SECOND
        out, _ = stream_stream_join(
            recs(("L", 1, {"V0": 2, "V1": 3}, 0), ("R", 1, {"V0": 4, "V1": 5}, 100)), "left", SEC
        )
        self.assertEqual(
            proj(out, ["V0"], ["V1"], {("left", "V0"): "L_V0", ("right", "V1"): "R_V1"}),
            [(1, {"L_V0": 2, "R_V1": None}, 0), (1, {"L_V0": 2, "R_V1": 5}, 100)],
        )

    def test_full_join_with_both_join_columns(self):
        # joins.json "full join - with both join column in projection": WITHIN 10 SECONDS
        out, _ = stream_stream_join(
            recs(("R", 0, {"B": -1, "C": -2}, 9), ("L", 0, {"B": 1, "C": 2}, 10)), "outer", 10 * SEC
        )
        self.assertEqual(
            [(o["key"], flatten(o["value"], "L", "R"), o["timestamp"]) for o in out],
            [(0, {"R_B": -1, "R_C": -2}, 9), (0, {"L_B": 1, "L_C": 2, "R_B": -1, "R_C": -2}, 10)],
        )


class StreamStreamDerived(unittest.TestCase):
    """Rules derived from KStreamKStreamJoin (no QTT case exercises them)."""

    def test_window_bounds_inclusive(self):
        # WITHIN 1 second around a left record at 5000: right at 6000 and 4000 join (both
        # bounds inclusive), right at 6001 and 3999 do not.
        out, _ = stream_stream_join(
            recs(("L", 1, {"x": 1}, 5000), ("R", 1, {"y": 6000}, 6000), ("R", 1, {"y": 6001}, 6001),
                 ("R", 1, {"y": 4000}, 4000), ("R", 1, {"y": 3999}, 3999)),
            "inner",
            1000,
        )
        self.assertEqual([(o["value"]["right"]["y"], o["timestamp"]) for o in out],
                         [(6000, 6000), (4000, 5000)])

    def test_left_null_after_window_close_plus_grace(self):
        # WITHIN 10 s GRACE PERIOD 5 s: A@0 is emitted by the first record at stream time
        # > 0 + 10 s + 5 s, with A's timestamp, before that record's own results.
        j = StreamStreamJoin("left", 10 * SEC, grace_ms=5 * SEC)
        emitted = [j.process(r) for r in recs(
            ("L", "k", {"v": "A"}, 0),
            ("L", "z", {"v": "X"}, 15000),  # 0 + 10000 + 5000 >= 15000: not yet
            ("R", "z", {"w": "x"}, 15001),  # now 15000 < 15001: A comes out, then X joins x
        )]
        self.assertEqual(emitted[0], [])
        self.assertEqual(emitted[1], [])
        self.assertEqual(
            [(o["key"], o["value"], o["timestamp"]) for o in emitted[2]],
            [("k", {"left": {"v": "A"}, "right": None}, 0),
             ("z", {"left": {"v": "X"}, "right": {"w": "x"}}, 15001)],
        )

    def test_buffered_left_record_matched_later_is_not_emitted_null_padded(self):
        out, _ = stream_stream_join(
            recs(("L", 1, {"v": "A"}, 0), ("R", 1, {"w": "a"}, 9000), ("L", 2, {"v": "B"}, 100000)),
            "left", 10 * SEC, grace_ms=0,
        )
        self.assertEqual([(o["key"], o["timestamp"]) for o in out], [(1, 9000)])

    def test_right_join_window_is_relative_to_the_right_record(self):
        # ksqlDB passes WITHIN (before, after) unchanged to right.leftJoin(left): for RIGHT JOIN
        # a left record matches when left.ts is in [right.ts - before, right.ts + after]
        # (from StreamStreamJoinBuilder; no QTT case checks an asymmetric RIGHT join).
        out, _ = stream_stream_join(
            recs(("L", 1, {"v": "early"}, 0), ("L", 1, {"v": "late"}, 5500),
                 ("R", 1, {"w": "r"}, 4000)),
            "right", 5000, 1000, grace_ms=0,
        )
        self.assertEqual([(o["value"]["left"]["v"], o["timestamp"]) for o in out],
                         [("early", 4000)])

    def test_null_key_skipped(self):
        out, skipped = stream_stream_join(recs(("L", None, {"v": 1}, 0), ("R", None, {"w": 1}, 0)),
                                          "outer", SEC, grace_ms=0)
        self.assertEqual(out, [])
        self.assertEqual(len(skipped), 2)


# ---------------------------------------------------------------------------------------------
# Table-table


class TableTableQtt(unittest.TestCase):
    @staticmethod
    def row(name, value, f1, f2):
        return {"NAME": name, "VALUE": value, "F1": f1, "F2": f2}

    def brief(self, out):
        return proj(out, ["NAME", "VALUE"], ["F1", "F2"])

    def test_table_table_left_join(self):
        # joins.json "table table left join" (JSON)
        out, _ = table_table_join(
            recs(
                ("L", 0, {"NAME": "zero", "VALUE": 0}, 0),
                ("R", 0, {"F1": "blah", "F2": 50}, 10000),
                ("L", 10, {"NAME": "100", "VALUE": 5}, 11000),
                ("L", 0, {"NAME": "foo", "VALUE": 100}, 13000),
                ("R", 0, {"F1": "a", "F2": 10}, 15000),
                ("L", 0, {"NAME": "bar", "VALUE": 99}, 16000),
                ("L", 90, {"NAME": "ninety", "VALUE": 90}, 17000),
            ),
            "left",
        )
        r = self.row
        self.assertEqual(
            self.brief(out),
            [
                (0, r("zero", 0, None, None), 0),
                (0, r("zero", 0, "blah", 50), 10000),
                (10, r("100", 5, None, None), 11000),
                (0, r("foo", 100, "blah", 50), 13000),
                (0, r("foo", 100, "a", 10), 15000),
                (0, r("bar", 99, "a", 10), 16000),
                (90, r("ninety", 90, None, None), 17000),
            ],
        )

    INNER_OUTER_INPUTS = recs(
        ("L", 0, {"NAME": "zero", "VALUE": 0}, 0),
        ("R", 0, {"F1": "blah", "F2": 50}, 10000),
        ("L", 10, {"NAME": "100", "VALUE": 5}, 11000),
        ("L", 0, {"NAME": "foo", "VALUE": 100}, 13000),
        ("R", 0, {"F1": "a", "F2": 10}, 15000),
        ("R", 15, {"F1": "c", "F2": 20}, 15500),
        ("L", 0, {"NAME": "bar", "VALUE": 99}, 16000),
    )

    def test_table_table_inner_join(self):
        # joins.json "table table inner join" (JSON); its last input (key 90) matches nothing
        inputs = self.INNER_OUTER_INPUTS + recs(("L", 90, {"NAME": "ninety", "VALUE": 90}, 17000))
        out, _ = table_table_join(inputs, "inner")
        r = self.row
        self.assertEqual(
            self.brief(out),
            [
                (0, r("zero", 0, "blah", 50), 10000),
                (0, r("foo", 100, "blah", 50), 13000),
                (0, r("foo", 100, "a", 10), 15000),
                (0, r("bar", 99, "a", 10), 16000),
            ],
        )

    def test_table_table_outer_join(self):
        # joins.json "table table outer join" (JSON): SELECT ROWKEY AS ID, name, value, f1, f2
        out, _ = table_table_join(self.INNER_OUTER_INPUTS, "outer")
        r = self.row
        self.assertEqual(
            self.brief(out),
            [
                (0, r("zero", 0, None, None), 0),
                (0, r("zero", 0, "blah", 50), 10000),
                (10, r("100", 5, None, None), 11000),
                (0, r("foo", 100, "blah", 50), 13000),
                (0, r("foo", 100, "a", 10), 15000),
                (15, r(None, None, "c", 20), 15500),
                (0, r("bar", 99, "a", 10), 16000),
            ],
        )

    def test_table_to_table_wrapped_single_field(self):
        # joins.json "table to table wrapped single field value schema on inputs" (INNER)
        out, _ = table_table_join(
            recs(
                ("L", 0, {"NAME": "a"}, 0),
                ("R", 0, {"NAME": "b"}, 10),
                ("L", 0, {"NAME": None}, 20),
                ("R", 0, {"NAME": None}, 30),
                ("L", 0, {"NAME": None}, 40),
                ("L", 0, None, 50),
                ("R", 0, None, 60),
            ),
            "inner",
        )
        self.assertEqual(
            proj(out, ["NAME"], ["NAME"], {("left", "NAME"): "NAME1", ("right", "NAME"): "NAME2"}),
            [
                (0, {"NAME1": "a", "NAME2": "b"}, 10),
                (0, {"NAME1": None, "NAME2": "b"}, 20),
                (0, {"NAME1": None, "NAME2": None}, 30),
                (0, {"NAME1": None, "NAME2": None}, 40),
                (0, None, 50),
            ],
        )

    def test_table_to_table_unwrapped_single_field(self):
        # joins.json "table to table unwrapped single field value schema on inputs" (INNER)
        out, _ = table_table_join(
            recs(("L", 0, {"NAME": "a"}, 0), ("R", 0, {"NAME": "b"}, 10), ("L", 0, None, 20),
                 ("R", 0, None, 30), ("L", 0, None, 40)),
            "inner",
        )
        self.assertEqual(
            proj(out, ["NAME"], ["NAME"], {("left", "NAME"): "NAME1", ("right", "NAME"): "NAME2"}),
            [(0, {"NAME1": "a", "NAME2": "b"}, 10), (0, None, 20)],
        )

    def test_sr_enabled_key_format_with_nulls(self):
        # joins.json "table-table - SR-enabled key format - with nulls" (LEFT; no timestamps,
        # so all are 0): right delete -> row with nulls; left delete -> tombstone; a right row
        # with no left row -> nothing.
        out, _ = table_table_join(
            recs(
                ("L", 0, {"NAME": "zero"}, 0),
                ("R", 0, {"F1": "blah"}, 0),
                ("R", 0, None, 0),
                ("L", 0, None, 0),
                ("R", 0, {"F1": "foo"}, 0),
                ("L", 0, {"NAME": "goo"}, 0),
            ),
            "left",
        )
        self.assertEqual(
            proj(out, ["NAME"], ["F1"]),
            [
                (0, {"NAME": "zero", "F1": None}, 0),
                (0, {"NAME": "zero", "F1": "blah"}, 0),
                (0, {"NAME": "zero", "F1": None}, 0),
                (0, None, 0),
                (0, {"NAME": "goo", "F1": "foo"}, 0),
            ],
        )

    def test_unaliased_synthetic_join_key(self):
        # joins.json "unaliased synthetic join key": FULL OUTER on ID; key column ROWKEY
        out, _ = table_table_join(
            recs(("L", 1, {"ID": 1, "V0": 2, "V1": 3}, 0), ("R", 1, {"ID": 1, "V0": 4, "V1": 5}, 100)),
            "outer",
        )
        self.assertEqual(
            proj(out, ["ID", "V0"], ["ID", "V1"], {("left", "ID"): "L_ID", ("right", "ID"): "R_ID",
                                                   ("left", "V0"): "L_V0", ("right", "V1"): "R_V1"}),
            [(1, {"L_ID": 1, "L_V0": 2, "R_ID": None, "R_V1": None}, 0),
             (1, {"L_ID": 1, "L_V0": 2, "R_ID": 1, "R_V1": 5}, 100)],
        )

    def test_table_table_table_inner_full(self):
        # multi-joins.json "table-table-table - inner-full": T1 JOIN T2 FULL JOIN T3, the first
        # join's changes feeding the second (timestamps are max of the inputs).
        first, second = TableTableJoin("inner"), TableTableJoin("outer")
        out = []
        for src, k, v, t in [("T1", 0, {"V0": 1}, 0), ("T3", 0, {"V0": 3}, 2),
                             ("T2", 0, {"V0": 2}, 3), ("T1", 0, {"V0": 4}, 1000)]:
            if src == "T3":
                out += second.process({"source": "right", "key": k, "value": v, "timestamp": t})
                continue
            side = "left" if src == "T1" else "right"
            for o in first.process({"source": side, "key": k, "value": v, "timestamp": t}):
                out += second.process({"source": "left", "key": o["key"], "value": o["value"],
                                       "timestamp": o["timestamp"]})

        def cols(o):
            left = o["value"]["left"]
            return {"T1_V0": left and left["left"]["V0"], "T2_V0": left and left["right"]["V0"],
                    "T3_V0": (o["value"]["right"] or {}).get("V0")}

        self.assertEqual(
            [(o["key"], cols(o), o["timestamp"]) for o in out],
            [
                (0, {"T1_V0": None, "T2_V0": None, "T3_V0": 3}, 2),
                (0, {"T1_V0": 1, "T2_V0": 2, "T3_V0": 3}, 3),
                (0, {"T1_V0": 4, "T2_V0": 2, "T3_V0": 3}, 1000),
            ],
        )


class TableTableDocs(unittest.TestCase):
    """docs "Semantics of Primary-Key Table-Table Joins" (the table with RIGHT JOIN)."""

    INPUTS = recs(
        ("L", 0, None, 1), ("R", 0, None, 2), ("L", 0, {"v": "A"}, 3), ("R", 0, {"v": "a"}, 4),
        ("L", 0, {"v": "B"}, 5), ("R", 0, {"v": "b"}, 6), ("L", 0, None, 7), ("R", 0, None, 8),
        ("L", 0, {"v": "C"}, 9), ("R", 0, {"v": "c"}, 10), ("R", 0, None, 11), ("L", 0, None, 12),
        ("R", 0, None, 13), ("R", 0, {"v": "d"}, 14), ("L", 0, {"v": "D"}, 15),
        ("R", 0, {"v": "d"}, 17),
    )

    def brief(self, join_type):
        out, _ = table_table_join(self.INPUTS, join_type)
        res = []
        for o in out:
            v = o["value"]
            if v is None:
                res.append((o["timestamp"], "tombstone"))
            else:
                res.append((o["timestamp"], (v["left"] or {}).get("v"), (v["right"] or {}).get("v")))
        return res

    def test_inner(self):
        self.assertEqual(self.brief("inner"), [
            (4, "A", "a"), (5, "B", "a"), (6, "B", "b"), (7, "tombstone"), (10, "C", "c"),
            (11, "tombstone"), (15, "D", "d"), (17, "D", "d")])

    def test_left(self):
        self.assertEqual(self.brief("left"), [
            (3, "A", None), (4, "A", "a"), (5, "B", "a"), (6, "B", "b"), (7, "tombstone"),
            (9, "C", None), (10, "C", "c"), (11, "C", None), (12, "tombstone"), (15, "D", "d"),
            (17, "D", "d")])

    def test_right(self):
        self.assertEqual(self.brief("right"), [
            (4, "A", "a"), (5, "B", "a"), (6, "B", "b"), (7, None, "b"), (8, "tombstone"),
            (10, "C", "c"), (11, "tombstone"), (14, None, "d"), (15, "D", "d"), (17, "D", "d")])

    def test_outer(self):
        self.assertEqual(self.brief("outer"), [
            (3, "A", None), (4, "A", "a"), (5, "B", "a"), (6, "B", "b"), (7, None, "b"),
            (8, "tombstone"), (9, "C", None), (10, "C", "c"), (11, "C", None), (12, "tombstone"),
            (14, None, "d"), (15, "D", "d"), (17, "D", "d")])


class TableTableDerived(unittest.TestCase):
    def test_timestamp_is_max_of_both_rows(self):
        out, _ = table_table_join(recs(("R", 1, {"r": 1}, 500), ("L", 1, {"l": 1}, 100)), "inner")
        self.assertEqual([o["timestamp"] for o in out], [500])

    def test_inner_tombstone_for_absent_left_key_when_right_exists(self):
        # KTableKTableInnerJoin forwards Change(null, null): the sink writes a tombstone.
        out, _ = table_table_join(recs(("R", 1, {"r": 1}, 0), ("L", 1, None, 5)), "inner")
        self.assertEqual(out, [{"key": 1, "value": None, "timestamp": 5}])

    def test_null_key_skipped(self):
        out, skipped = table_table_join(recs(("L", None, {"l": 1}, 0)), "outer")
        self.assertEqual((out, len(skipped)), ([], 1))


# ---------------------------------------------------------------------------------------------
# Foreign-key table-table (note section 6)


def fk_recs(*rows):
    """(source 'L'|'R', key, value, timestamp) -> records; a left value's FOREIGN_KEY is its
    foreign key (the ON expression of the QTT cases)."""
    out = recs(*rows)
    for r in out:
        if r["source"] == "left" and r["value"] is not None:
            r["foreign_key"] = r["value"].get("FOREIGN_KEY")
    return out


class ForeignKeyQtt(unittest.TestCase):
    """fk-join.json at 5e3349e9: SELECT l_id, r_id, name, f1 ... ON foreign_key = r_id."""

    def test_inner_join_with_left_value_column_expression(self):
        out, _ = foreign_key_join(fk_recs(
            ("R", 0, {"R_ID": 0, "F1": "blah", "F2": 4}, 0),
            ("L", 1, {"NAME": "zero", "FOREIGN_KEY": 0}, 10000),
            ("L", 0, {"NAME": "foo", "FOREIGN_KEY": 100}, 13000),
            ("R", 0, {"R_ID": 0, "F1": "a", "F2": 10}, 15000),
            ("L", 10, {"NAME": "bar", "FOREIGN_KEY": 0}, 16000),
            ("R", 0, None, 17000),
            ("L", 1, None, 18000),
        ), "inner")
        self.assertEqual(proj(out, ("NAME",), ("R_ID", "F1")), [
            (1, {"R_ID": 0, "NAME": "zero", "F1": "blah"}, 10000),
            (1, {"R_ID": 0, "NAME": "zero", "F1": "a"}, 15000),
            (10, {"R_ID": 0, "NAME": "bar", "F1": "a"}, 16000),
            (1, None, 17000),
            (10, None, 17000),
            (1, None, 18000),
        ])

    def test_left_join_with_left_value_column_expression(self):
        out, _ = foreign_key_join(fk_recs(
            ("L", 1, {"NAME": "zero", "FOREIGN_KEY": 0}, 0),
            ("R", 0, {"R_ID": 0, "F1": "blah", "F2": 4}, 10000),
            ("L", 1, {"NAME": "zero", "FOREIGN_KEY": 0}, 11000),
            ("L", 0, {"NAME": "foo", "FOREIGN_KEY": 100}, 13000),
            ("R", 0, {"R_ID": 0, "F1": "a", "F2": 10}, 15000),
            ("L", 10, {"NAME": "bar", "FOREIGN_KEY": 0}, 16000),
            ("R", 0, None, 17000),
            ("L", 1, None, 18000),
            ("L", 0, None, 19000),
        ), "left")
        self.assertEqual(proj(out, ("NAME",), ("R_ID", "F1")), [
            (1, {"R_ID": None, "NAME": "zero", "F1": None}, 0),
            (1, {"R_ID": 0, "NAME": "zero", "F1": "blah"}, 10000),
            (1, {"R_ID": 0, "NAME": "zero", "F1": "blah"}, 11000),
            (0, {"R_ID": None, "NAME": "foo", "F1": None}, 13000),
            (1, {"R_ID": 0, "NAME": "zero", "F1": "a"}, 15000),
            (10, {"R_ID": 0, "NAME": "bar", "F1": "a"}, 16000),
            (1, {"R_ID": None, "NAME": "zero", "F1": None}, 17000),
            (10, {"R_ID": None, "NAME": "bar", "F1": None}, 17000),
            (1, None, 18000),
            (0, None, 19000),
        ])

    def test_right_and_full_refused(self):
        with self.assertRaises(KsqlStatementError) as cm:
            foreign_key_join([], "right")
        self.assertIn("RIGHT OUTER JOIN on a foreign key is not supported", str(cm.exception))
        with self.assertRaises(KsqlStatementError) as cm:
            foreign_key_join([], "outer")
        self.assertIn("full-outer join not supported for foreign-key", str(cm.exception))


class ForeignKeyDerived(unittest.TestCase):
    """The note's numbered cases of section 6 (Kafka's pre-KIP-962 subscriptions)."""

    R = ("R", "r1", {"V": 1}, 0)

    def test_foreign_key_change_retracts_inner_row(self):
        out, _ = foreign_key_join(fk_recs(
            self.R,
            ("L", "a", {"FOREIGN_KEY": "r1"}, 5),
            ("L", "a", {"FOREIGN_KEY": "r2"}, 6),
            ("R", "r1", {"V": 2}, 7),
        ), "inner")
        # Case 5: no right row for r2 -> a tombstone; r1's change reaches "a" no more.
        self.assertEqual([(o["key"], o["value"] is None, o["timestamp"]) for o in out],
                         [("a", False, 5), ("a", True, 6)])

    def test_inner_update_without_right_row_is_a_tombstone(self):
        out, _ = foreign_key_join(fk_recs(
            ("L", "a", {"FOREIGN_KEY": "r9"}, 5),
            ("L", "a", {"FOREIGN_KEY": "r9"}, 6),
        ), "inner")
        self.assertEqual(out, [{"key": "a", "value": None, "timestamp": 6}])

    def test_null_foreign_keys_are_skipped(self):
        out, skipped = foreign_key_join(fk_recs(
            self.R,
            ("L", "a", {"FOREIGN_KEY": "r1"}, 5),
            ("L", "a", {"FOREIGN_KEY": None}, 6),   # case 3: skipped, the row stays
            ("R", "r1", {"V": 2}, 7),               # no answer: the hash no longer matches
            ("L", "a", {"FOREIGN_KEY": "r1"}, 8),   # case 2: old foreign key null, skipped
            ("L", "a", {"FOREIGN_KEY": "r1"}, 9),   # case 5 again
        ), "left")
        self.assertEqual([(o["key"], o["timestamp"]) for o in out], [("a", 5), ("a", 9)])
        self.assertEqual(len(skipped), 2)

    def test_timestamps(self):
        out, _ = foreign_key_join(fk_recs(
            ("R", "r1", {"V": 1}, 50),
            ("L", "a", {"FOREIGN_KEY": "r1"}, 10),
            ("R", "r1", {"V": 2}, 20),
        ), "inner")
        # Left-triggered: max of both rows' times; right-triggered: the right record's.
        self.assertEqual([o["timestamp"] for o in out], [50, 20])

    def test_right_change_in_key_order(self):
        out, _ = foreign_key_join(fk_recs(
            ("L", "b", {"FOREIGN_KEY": "r1"}, 1),
            ("L", "ab", {"FOREIGN_KEY": "r1"}, 2),
            ("L", "a", {"FOREIGN_KEY": "r1"}, 3),
            ("R", "r1", {"V": 1}, 4),
        ), "left")
        self.assertEqual([o["key"] for o in out][3:], ["a", "ab", "b"])

    def test_delete_of_unjoined_row_is_a_tombstone(self):
        out, _ = foreign_key_join(fk_recs(
            ("L", "a", {"FOREIGN_KEY": "r9"}, 1),
            ("L", "a", None, 2),
            ("L", "a", None, 3),
        ), "inner")
        self.assertEqual(out, [{"key": "a", "value": None, "timestamp": 2}])


# ---------------------------------------------------------------------------------------------
# Multi-way (note section 7)


class MultiJoinQtt(unittest.TestCase):
    """multi-joins.json "stream-table-table - ...": SELECT S1.ID, s1.V0, t2.V0, t3.V0 FROM S1
    [LEFT] JOIN T2 ON S1.ID = T2.ID [LEFT] JOIN T3 ON S1.ID = T3.ID."""

    INPUTS = [
        {"source": 0, "key": 0, "value": {"V0": 1}, "timestamp": 9},
        {"source": 1, "key": 0, "value": {"V0": 2}, "timestamp": 10},
        {"source": 0, "key": 0, "value": {"V0": 1}, "timestamp": 11},
        {"source": 2, "key": 0, "value": {"V0": 3}, "timestamp": 12},
        {"source": 0, "key": 0, "value": {"V0": 1}, "timestamp": 13},
    ]

    def run_types(self, first, second):
        steps = [
            {"kind": "stream-table", "type": first, "alias": "T2", "left_key": None},
            {"kind": "stream-table", "type": second, "alias": "T3", "left_key": None},
        ]
        out, _ = multi_join(self.INPUTS, "S1", steps)
        return [(o["key"], [o["value"].get(c) for c in ("S1_V0", "T2_V0", "T3_V0")],
                 o["timestamp"]) for o in out]

    def test_left_left(self):
        self.assertEqual(self.run_types("left", "left"), [
            (0, [1, None, None], 9), (0, [1, 2, None], 11), (0, [1, 2, 3], 13)])

    def test_left_inner(self):
        self.assertEqual(self.run_types("left", "inner"), [(0, [1, 2, 3], 13)])

    def test_inner_left(self):
        self.assertEqual(self.run_types("inner", "left"), [
            (0, [1, 2, None], 11), (0, [1, 2, 3], 13)])

    def test_rekey_by_a_column_of_the_rows_so_far(self):
        steps = [
            {"kind": "stream-table", "type": "left", "alias": "C", "left_key": None},
            {"kind": "stream-table", "type": "inner", "alias": "R", "left_key": "C_REGION"},
        ]
        out, skipped = multi_join([
            {"source": 1, "key": "c1", "value": {"REGION": "eu"}, "timestamp": 1},
            {"source": 2, "key": "eu", "value": {"M": "eve"}, "timestamp": 2},
            {"source": 0, "key": "c1", "value": {"X": 1}, "timestamp": 3},
            {"source": 0, "key": "c2", "value": {"X": 2}, "timestamp": 4},
        ], "O", steps)
        self.assertEqual([(o["key"], o["value"]["R_M"]) for o in out], [("eu", "eve")])
        self.assertEqual(len(skipped), 1)  # c2 has no customer: a null key for the second step


# ---------------------------------------------------------------------------------------------
# Refusals and the command line


class Refusals(unittest.TestCase):
    def assertRefused(self, message, *args, **kwargs):
        with self.assertRaises(KsqlStatementError) as cm:
            validate_join(*args, **kwargs)
        self.assertEqual(str(cm.exception), message)

    def test_stream_table_full_outer(self):
        # stream-table-join.json "Should fail on outer-join"
        self.assertRefused(
            "Invalid join type: full-outer join not supported for stream-table join. "
            "Got TEST_STREAM [FULL] OUTER JOIN TEST_TABLE.",
            "stream", "table", "outer", "TEST_STREAM", "TEST_TABLE",
        )

    def test_table_stream_order(self):
        # stream-table-join.json "Should fail on incorrect join order for left-join"
        self.assertRefused(
            "Invalid join order: table-stream joins are not supported; only stream-table joins. "
            "Got TEST_TABLE LEFT [OUTER] JOIN TEST_STREAM.",
            "table", "stream", "left", "TEST_TABLE", "TEST_STREAM",
        )

    def test_within_missing_and_present(self):
        with self.assertRaises(KsqlStatementError) as cm:
            validate_join("stream", "stream", "inner")
        self.assertTrue(str(cm.exception).startswith(
            "Stream-Stream joins must have a WITHIN clause specified. None was provided."))
        with self.assertRaises(KsqlStatementError) as cm:
            validate_join("stream", "table", "left", within=True)
        self.assertTrue(str(cm.exception).startswith(
            "A window definition was provided for a Stream-Table join."))
        with self.assertRaises(KsqlStatementError):
            StreamTableJoin("right")


class CommandLine(unittest.TestCase):
    def test_cli_stream_stream(self):
        records = [{"source": s, "key": k, "value": v, "timestamp": t}
                   for s, k, v, t in [("left", 1, {"A": 1}, 0), ("right", 1, {"B": 2}, 10)]]
        res = subprocess.run(
            [sys.executable, os.path.join(HERE, "ksql_joins.py"), "--kind", "stream-stream",
             "--type", "left", "--within-ms", "1000", "--left-alias", "L", "--right-alias", "R"],
            input=json.dumps(records), capture_output=True, text=True, check=True,
        )
        self.assertEqual(json.loads(res.stdout), [
            {"key": 1, "value": {"L_A": 1}, "timestamp": 0},
            {"key": 1, "value": {"L_A": 1, "R_B": 2}, "timestamp": 10},
        ])


if __name__ == "__main__":
    unittest.main()
