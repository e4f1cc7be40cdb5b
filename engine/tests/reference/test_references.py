"""Self-tests of the two plain-Python references (python3 -m unittest, standard library only).

    cd engine/tests/reference && python3 -m unittest -v test_references

The first three session cases are transcribed from ksqlDB's own query-validation tests
(ksqldb-functional-tests/.../query-validation-tests/session-windows.json and the SQL-based
session-windows test with "out of order - no grace period" / "explicit grace period"), so
they check the reference against ksqlDB's expected outputs, not against itself.
"""

import json
import os
import subprocess
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import fraud_detector  # noqa: E402
import ksql_sessions  # noqa: E402
from ksql_sessions import sessionize  # noqa: E402

SEC = 1000
MIN = 60 * SEC


def recs(*rows, column="v"):
    """(key, timestamp, value) triples -> records with offsets in arrival order."""
    return [
        {"key": k, "timestamp": t, "offset": i, "value": {column: v}}
        for i, (k, t, v) in enumerate(rows)
    ]


def brief(outputs, col=None):
    """Outputs as (key, start, end, value-or-None, timestamp) tuples."""
    res = []
    for o in outputs:
        v = o["value"]
        if v is not None and col is not None:
            v = v[col]
        res.append((o["key"], o["window"]["start"], o["window"]["end"], v, o["timestamp"]))
    return res


class KsqlDbQueryValidationTests(unittest.TestCase):
    def test_max_session(self):
        # session-windows.json "max session": WINDOW SESSION (30 SECONDS), no grace.
        out, late = sessionize(
            recs((0, 0, 0), (0, 10000, 5), (1, 10000, 100), (1, 40000, 200)),
            30 * SEC,
            None,
            [("MAX", "v", "M")],
        )
        self.assertEqual(late, [])
        self.assertEqual(
            brief(out, "M"),
            [
                (0, 0, 0, 0, 0),
                (0, 0, 0, None, 0),  # tombstone of the old window, timestamp = its end
                (0, 0, 10000, 5, 10000),
                (1, 10000, 10000, 100, 10000),
                (1, 10000, 10000, None, 10000),
                # 40000 - 10000 == gap exactly: merged (inclusive bound)
                (1, 10000, 40000, 200, 40000),
            ],
        )

    def test_out_of_order_default_grace(self):
        # "out of order - no grace period": the default grace (24 h - gap) accepts them.
        out, late = sessionize(
            recs(
                (0, 0, 0), (0, 70010, 1), (0, 10009, 5), (0, 10010, 6),
                (1, 10009, 100), (1, 10010, 101), (1, 86412022, 200), (1, 60000, 200),
            ),
            30 * SEC,
            None,
            [("MAX", "v", "M")],
        )
        self.assertEqual(late, [])
        self.assertEqual(
            [(k, s, e, v) for k, s, e, v, _ in brief(out, "M")],
            [
                (0, 0, 0, 0),
                (0, 70010, 70010, 1),
                (0, 0, 0, None),
                (0, 0, 10009, 5),
                (0, 0, 10009, None),
                (0, 0, 10010, 6),
                (1, 10009, 10009, 100),
                (1, 10009, 10009, None),
                (1, 10009, 10010, 101),
                (1, 86412022, 86412022, 200),
                (1, 60000, 60000, 200),
            ],
        )

    def test_out_of_order_explicit_grace(self):
        # "out of order - explicit grace period": GRACE PERIOD 1 MINUTE, so retention 90 s.
        out, late = sessionize(
            recs(
                (0, 0, 0), (0, 100010, 1), (0, 10009, 5), (0, 10010, 6),
                (1, 10009, 100), (1, 10010, 101), (1, 86412022, 200), (1, 60000, 200),
            ),
            30 * SEC,
            1 * MIN,
            [("MAX", "v", "M")],
        )
        self.assertEqual(
            [(k, s, e, v) for k, s, e, v, _ in brief(out, "M")],
            [
                (0, 0, 0, 0),
                (0, 100010, 100010, 1),
                # [0,0] is past retention, so 10010 starts a session of its own (a split)
                (0, 10010, 10010, 6),
                (1, 10010, 10010, 101),
                (1, 86412022, 86412022, 200),
            ],
        )
        self.assertEqual(
            [(e["record"]["key"], e["record"]["timestamp"]) for e in late],
            [(0, 10009), (1, 10009), (1, 60000)],
        )
        self.assertTrue(all(e["reason"] == "late" for e in late))
        self.assertEqual(late[0]["close_time"], 100010 - 60000 - 30000)


class SessionSemantics(unittest.TestCase):
    GAP = 30 * MIN

    def test_gaps_shorter_and_longer_than_the_gap(self):
        out, _ = sessionize(
            recs(("u", 1_000_000, "a"),
                 ("u", 1_000_000 + self.GAP - 1, "b"),      # within: merges
                 ("u", 1_000_000 + 2 * self.GAP + 1, "c")),  # 30 min + 2 ms after b: new
            self.GAP, 0, [("COUNT", None, "N")],
        )
        self.assertEqual(
            brief(out, "N"),
            [
                ("u", 1_000_000, 1_000_000, 1, 1_000_000),
                ("u", 1_000_000, 1_000_000, None, 1_000_000),
                ("u", 1_000_000, 2_799_999, 2, 2_799_999),
                ("u", 4_600_001, 4_600_001, 1, 4_600_001),
            ],
        )

    def test_exactly_gap_apart_is_inclusive_both_ways(self):
        # After: t + gap joins [t, t]. Before: an out-of-order t - gap joins too.
        out, _ = sessionize(
            recs(("u", 100 * MIN, 1), ("u", 100 * MIN + self.GAP, 2),
                 ("u", 100 * MIN - self.GAP, 3)),
            self.GAP, self.GAP, [("COUNT", None, "N")],
        )
        self.assertEqual(brief(out, "N")[-1], ("u", 100 * MIN - self.GAP, 100 * MIN + self.GAP, 3,
                                               100 * MIN + self.GAP))

    def test_out_of_order_event_bridges_two_sessions(self):
        aggs = [
            ("COUNT", None, "EVENT_COUNT"),
            ("COLLECT_LIST", "page", "PAGES"),
            ("MIN", "at", "FIRST_AT"),
            ("MAX", "at", "LAST_AT"),
            ("LATEST_BY_OFFSET", "page", "LATEST"),
            ("EARLIEST_BY_OFFSET", "page", "EARLIEST"),
        ]
        rows = [("u", 0, "p1"), ("u", 10 * MIN, "p2"), ("u", 50 * MIN, "p3"), ("u", 55 * MIN, "p4"),
                ("u", 30 * MIN, "bridge")]
        records = [
            {"key": k, "timestamp": t, "offset": i, "value": {"page": v, "at": t}}
            for i, (k, t, v) in enumerate(rows)
        ]
        out, late = sessionize(records, self.GAP, 60 * MIN, aggs)
        self.assertEqual(late, [])
        tail = out[-3:]
        # one tombstone per replaced session, in ascending time, each stamped with its own end
        self.assertEqual(
            [(o["window"], o["value"], o["timestamp"]) for o in tail[:2]],
            [({"start": 0, "end": 10 * MIN}, None, 10 * MIN),
             ({"start": 50 * MIN, "end": 55 * MIN}, None, 55 * MIN)],
        )
        merged = tail[2]
        self.assertEqual(merged["window"], {"start": 0, "end": 55 * MIN})
        self.assertEqual(merged["timestamp"], 55 * MIN)
        self.assertEqual(
            merged["value"],
            {
                "EVENT_COUNT": 5,
                # first session, second session, then the bridging record (applied last)
                "PAGES": ["p1", "p2", "p3", "p4", "bridge"],
                "FIRST_AT": 0,
                "LAST_AT": 55 * MIN,
                "LATEST": "bridge",  # last processed, not latest event time
                "EARLIEST": "p1",
            },
        )

    def test_a_session_past_retention_is_split_off_not_merged(self):
        # Same events, grace 10 min: stream time 55 min, retention 40 min, so the store no
        # longer shows [0, 10 min] (end <= 55 - 40); the bridge joins only [50, 55] min.
        rows = [("u", 0, "p1"), ("u", 10 * MIN, "p2"), ("u", 50 * MIN, "p3"),
                ("u", 55 * MIN, "p4"), ("u", 30 * MIN, "bridge")]
        out, late = sessionize(recs(*rows), self.GAP, 10 * MIN, [("COLLECT_LIST", "v", "L")])
        self.assertEqual(late, [])
        self.assertEqual(
            brief(out, "L")[-2:],
            [("u", 50 * MIN, 55 * MIN, None, 55 * MIN),
             ("u", 30 * MIN, 55 * MIN, ["p3", "p4", "bridge"], 55 * MIN)],
        )

    def test_out_of_order_event_inside_a_session(self):
        out, _ = sessionize(
            recs(("u", 0, "a"), ("u", 20 * MIN, "b"), ("u", 10 * MIN, "inside")),
            self.GAP, 0, [("COLLECT_LIST", "v", "L")],
        )
        # the window does not change, yet a tombstone for it precedes the update
        self.assertEqual(
            brief(out, "L")[-2:],
            [("u", 0, 20 * MIN, None, 20 * MIN), ("u", 0, 20 * MIN, ["a", "b", "inside"], 20 * MIN)],
        )

    def test_same_timestamp_single_point_session_has_no_tombstone(self):
        out, _ = sessionize(recs(("u", 5, 1), ("u", 5, 2)), self.GAP, 0, [("SUM", "v", "S")])
        self.assertEqual(brief(out, "S"), [("u", 5, 5, 1, 5), ("u", 5, 5, 3, 5)])

    def test_late_events_past_grace(self):
        grace = 5 * MIN
        # stream time 100 min -> close time 100 - 5 - 30 = 65 min
        base = recs(("a", 100 * MIN, 1))
        at_close = {"key": "b", "timestamp": 65 * MIN, "offset": 1, "value": {"v": 2}}
        before_close = {"key": "c", "timestamp": 65 * MIN - 1, "offset": 2, "value": {"v": 3}}
        out, late = sessionize(base + [at_close, before_close], self.GAP, grace,
                               [("COUNT", None, "N")])
        self.assertEqual([o["key"] for o in out], ["a", "b"])  # end == close is kept
        self.assertEqual(len(late), 1)
        self.assertEqual(late[0]["record"]["key"], "c")  # end < close is dropped
        self.assertEqual(late[0]["close_time"], 65 * MIN)
        self.assertEqual(late[0]["stream_time"], 100 * MIN)

    def test_old_record_joining_an_open_session_is_not_late(self):
        # lateness is judged on the merged window's end, not on the record's own time
        gap, grace = 10, 0
        rows = [("u", t, t) for t in range(0, 101, 5)] + [("u", 3, 3)]
        out, late = sessionize(recs(*rows), gap, grace, [("COUNT", None, "N")])
        self.assertEqual(late, [])
        self.assertEqual(brief(out, "N")[-1], ("u", 0, 100, 22, 100))

    def test_stream_time_is_per_partition(self):
        records = [
            {"key": "a", "timestamp": 100 * MIN, "offset": 0, "partition": 0, "value": {}},
            {"key": "b", "timestamp": 1 * MIN, "offset": 0, "partition": 1, "value": {}},
        ]
        out, late = sessionize(records, self.GAP, 0, [("COUNT", None, "N")])
        self.assertEqual(late, [])
        records[1]["partition"] = 0
        out, late = sessionize(records, self.GAP, 0, [("COUNT", None, "N")])
        self.assertEqual([e["record"]["key"] for e in late], ["b"])

    def test_null_key_and_bad_timestamp_are_skipped(self):
        records = [
            {"key": None, "timestamp": 1, "offset": 0, "value": {}},
            {"key": "k", "timestamp": None, "offset": 1, "value": {}},
            {"key": "k", "timestamp": -5, "offset": 2, "value": {}},
        ]
        out, late = sessionize(records, self.GAP, 0, [("COUNT", None, "N")])
        self.assertEqual(out, [])
        self.assertEqual([e["reason"] for e in late],
                         ["null key", "invalid timestamp", "invalid timestamp"])

    def test_default_grace_and_retention(self):
        self.assertEqual(ksql_sessions.default_grace_ms(30 * MIN), 24 * 60 * MIN - 30 * MIN)
        self.assertEqual(ksql_sessions.default_grace_ms(25 * 60 * MIN), 0)
        with self.assertRaises(ValueError):
            sessionize([], 30 * MIN, 0, [("COUNT", None)], retention_ms=10 * MIN)


class EmitFinal(unittest.TestCase):
    def test_each_session_once_after_gap_plus_grace(self):
        gap, grace = 10, 5
        rows = [("a", 100, 1), ("a", 105, 1), ("b", 110, 1),
                ("x", 119, 0),   # stream time 119: close 104, a ends 105 -> not yet
                ("x", 120, 0),   # close 105: a's end 105 is not < 105 -> not yet
                ("x", 121, 0),   # close 106: a [100,105] is emitted
                ("x", 200, 0)]   # close 185: b [110,110] and x [119,121] are emitted
        out, late = sessionize(recs(*rows), gap, grace, [("COUNT", None, "N")], emit="FINAL")
        self.assertEqual(late, [])
        self.assertEqual(
            brief(out, "N"),
            [("a", 100, 105, 2, 105), ("b", 110, 110, 1, 110), ("x", 119, 121, 3, 121)],
        )

    def test_final_drops_late_records_like_changes(self):
        rows = [("a", 100, 1), ("z", 1000, 0), ("a", 101, 1)]
        out, late = sessionize(recs(*rows), 10, 0, [("COUNT", None, "N")], emit="FINAL")
        self.assertEqual(brief(out, "N"), [("a", 100, 100, 1, 100)])
        self.assertEqual([e["record"]["timestamp"] for e in late], [101])


class Aggregates(unittest.TestCase):
    def run_aggs(self, values, aggs, **kw):
        records = [{"key": "k", "timestamp": 10 + i, "offset": i, "value": {"v": v}}
                   for i, v in enumerate(values)]
        out, _ = sessionize(records, 1000, 0, aggs, **kw)
        return out[-1]["value"]

    def test_null_handling_and_numeric_aggregates(self):
        v = self.run_aggs(
            [3, None, 5, 3],
            [("COUNT", None, "STAR"), ("COUNT", "v", "C"), ("SUM", "v", "S"), ("AVG", "v", "A"),
             ("MIN", "v", "LO"), ("MAX", "v", "HI"), ("COUNT_DISTINCT", "v", "D"),
             ("COLLECT_LIST", "v", "L"), ("COLLECT_SET", "v", "SET"), ("TOPK", "v", "T", 2),
             ("LATEST_BY_OFFSET", "v", "LAST"), ("EARLIEST_BY_OFFSET", "v", "FIRST")],
        )
        self.assertEqual(
            v,
            {"STAR": 4, "C": 3, "S": 11, "A": 11 / 3, "LO": 3, "HI": 5, "D": 2,
             "L": [3, None, 5, 3], "SET": [3, None, 5], "T": [5, 3], "LAST": 3, "FIRST": 3},
        )

    def test_all_null_inputs(self):
        v = self.run_aggs([None, None], [("SUM", "v", "S"), ("AVG", "v", "A"), ("MAX", "v", "M"),
                                         ("LATEST_BY_OFFSET", "v", "L"),
                                         ("EARLIEST_BY_OFFSET", "v", "E")])
        self.assertEqual(v, {"S": 0, "A": 0.0, "M": None, "L": None, "E": None})

    def test_generated_names(self):
        v = self.run_aggs([1], [("COUNT", None), ("SUM", "v", "S"), ("MAX", "v")])
        self.assertEqual(list(v), ["KSQL_COL_0", "S", "KSQL_COL_1"])

    def test_collect_list_limit_across_a_merge(self):
        records = recs(("k", 0, "a"), ("k", 1, "b"), ("k", 20, "c"), ("k", 21, "d"),
                       ("k", 10, "bridge"))
        out, _ = sessionize(records, 10, 100, [("COLLECT_LIST", "v", "L")], collect_limit=3)
        self.assertEqual(out[-1]["value"]["L"], ["a", "b", "c"])
        out, _ = sessionize(records, 10, 100, [("COLLECT_LIST", "v", "L")], collect_limit=None)
        self.assertEqual(out[-1]["value"]["L"], ["a", "b", "c", "d", "bridge"])

    def test_topk_merge(self):
        records = recs(("k", 0, 5), ("k", 1, 1), ("k", 20, 7), ("k", 21, 2), ("k", 10, 4))
        out, _ = sessionize(records, 10, 100, [("TOPK", "v", "T", 3)])
        self.assertEqual(out[-1]["value"]["T"], [7, 5, 4])


class TutorialAndCli(unittest.TestCase):
    def test_user_sessions_query(self):
        clicks = [("u1", 0, "/a"), ("u1", 10 * MIN, "/b"), ("u2", 11 * MIN, "/x"),
                  ("u1", 45 * MIN, "/c"), ("u1", 80 * MIN, "/d")]
        records = [{"key": u, "timestamp": t, "offset": i,
                    "value": {"user_id": u, "page_url": p, "event_time": t}}
                   for i, (u, t, p) in enumerate(clicks)]
        aggs = [("COUNT", None, "EVENT_COUNT"), ("COLLECT_LIST", "page_url", "PAGES_VISITED"),
                ("MIN", "event_time", "SESSION_START"), ("MAX", "event_time", "SESSION_END")]
        out, late = sessionize(records, 30 * MIN, None, aggs)
        self.assertEqual(late, [])
        finals = {}
        for o in out:
            w = (o["key"], o["window"]["start"], o["window"]["end"])
            if o["value"] is None:
                finals.pop(w, None)
            else:
                finals[w] = o["value"]
        self.assertEqual(
            finals,
            {
                ("u1", 0, 10 * MIN): {"EVENT_COUNT": 2, "PAGES_VISITED": ["/a", "/b"],
                                      "SESSION_START": 0, "SESSION_END": 10 * MIN},
                ("u2", 11 * MIN, 11 * MIN): {"EVENT_COUNT": 1, "PAGES_VISITED": ["/x"],
                                             "SESSION_START": 11 * MIN, "SESSION_END": 11 * MIN},
                ("u1", 45 * MIN, 45 * MIN): {"EVENT_COUNT": 1, "PAGES_VISITED": ["/c"],
                                             "SESSION_START": 45 * MIN, "SESSION_END": 45 * MIN},
                ("u1", 80 * MIN, 80 * MIN): {"EVENT_COUNT": 1, "PAGES_VISITED": ["/d"],
                                             "SESSION_START": 80 * MIN, "SESSION_END": 80 * MIN},
            },
        )

    def test_key_bytes(self):
        b = ksql_sessions.key_bytes(b"u1", 1, 2)
        self.assertEqual(b, b"u1" + (2).to_bytes(8, "big") + (1).to_bytes(8, "big"))

    def test_sessions_cli(self):
        records = recs(("u", 0, "a"), ("u", 5, "b"))
        proc = subprocess.run(
            [sys.executable, os.path.join(HERE, "ksql_sessions.py"), "--gap-ms", "10",
             "--grace-ms", "0", "--aggregates", '[["COLLECT_LIST", "v", "L"]]'],
            input="".join(json.dumps(r) + "\n" for r in records),
            capture_output=True, text=True, check=True,
        )
        lines = [json.loads(x) for x in proc.stdout.splitlines()]
        self.assertEqual(lines, sessionize(records, 10, 0, [("COLLECT_LIST", "v", "L")])[0])
        self.assertEqual(lines[-1]["value"], {"L": ["a", "b"]})


def login(ip, t, status="FAILED", user="u"):
    return {"user_id": user, "ip_address": ip, "status": status, "event_time": t}


class FraudDetector(unittest.TestCase):
    FIVE = 5 * MIN

    def test_exactly_five_minutes_older_is_not_counted(self):
        events = [login("1.1.1.1", 1_000_000), login("1.1.1.1", 1_100_000),
                  login("1.1.1.1", 1_000_000 + self.FIVE),        # first is exactly 5 min older
                  login("1.1.1.1", 1_000_000 + self.FIVE + 1)]    # now it is out, two remain
        alerts = fraud_detector.detect(events)
        self.assertEqual(
            alerts,
            [{"alert_type": "SUSPECTED_FRAUD", "ip_address": "1.1.1.1", "failure_count": 3,
              "time_window": "5_minutes", "timestamp": 1_300_001}],
        )
        # With one ms less than 5 minutes between them, the boundary event alerts.
        events[2] = login("1.1.1.1", 1_000_000 + self.FIVE - 1)
        self.assertEqual([a["timestamp"] for a in fraud_detector.detect(events)],
                         [1_299_999, 1_300_001])

    def test_inclusive_range_reproduced_with_one_ms_less(self):
        # A RANGE of [now - w, now] equals the tutorial's rule at w = 5 min - 1 ms.
        events = [login("ip", t) for t in (1_000_000, 1_100_000, 1_300_000, 1_300_001)]

        def range_counts(width):
            seen, res = [], []
            for e in events:
                seen.append(e["event_time"])
                res.append(sum(1 for t in seen if e["event_time"] - width <= t))
            return res

        tutorial = [1, 2, 2, 3]
        self.assertEqual(range_counts(self.FIVE - 1), tutorial)
        self.assertEqual(range_counts(self.FIVE), [1, 2, 3, 3])
        alerts = fraud_detector.detect(events, threshold=1)
        self.assertEqual([a["failure_count"] for a in alerts], tutorial)

    def test_per_ip_non_failed_ignored_and_every_failure_alerts(self):
        events = [login("a", 10), login("b", 11), login("a", 12, "SUCCESS"), login("a", 13),
                  login("a", 14), login("a", 15), login("b", 16)]
        alerts = fraud_detector.detect(events)
        self.assertEqual([(a["ip_address"], a["failure_count"], a["timestamp"]) for a in alerts],
                         [("a", 3, 14), ("a", 4, 15)])
        self.assertEqual(list(alerts[0]), ["alert_type", "ip_address", "failure_count",
                                           "time_window", "timestamp"])

    def test_ties_count_in_arrival_order(self):
        alerts = fraud_detector.detect([login("t", 5000)] * 3)
        self.assertEqual([a["failure_count"] for a in alerts], [3])

    def test_cli(self):
        events = [login("ip", t) for t in (1000, 2000, 3000)]
        proc = subprocess.run(
            [sys.executable, os.path.join(HERE, "fraud_detector.py")],
            input="".join(json.dumps(e) + "\n" for e in events),
            capture_output=True, text=True, check=True,
        )
        self.assertEqual(
            proc.stdout,
            json.dumps({"alert_type": "SUSPECTED_FRAUD", "ip_address": "ip", "failure_count": 3,
                        "time_window": "5_minutes", "timestamp": 3000}) + "\n",
        )


if __name__ == "__main__":
    unittest.main()
