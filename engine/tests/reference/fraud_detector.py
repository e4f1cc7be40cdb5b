#!/usr/bin/env python3
"""The source tutorial's PyFlink FraudDetector, as plain Python (standard library only).

The tutorial keys login events by ip_address and, for each FAILED event, in arrival order:

    current_time = ctx.timestamp()
    five_minutes_ago = current_time - 5 * 60 * 1000
    recent_failures = [ts for ts in failed_logins if ts > five_minutes_ago]   # strictly newer
    recent_failures.append(current_time)
    if len(recent_failures) >= 3: yield {alert_type, ip_address, failure_count, time_window,
                                         timestamp}

Here a record's timestamp (the tutorial's ctx.timestamp()) is its event_time field: the
records' timestamp IS their event_time. Non-FAILED events are ignored and change no state,
the per-IP list is pruned only when a new failure arrives, and an alert is emitted for every
failure while the count is 3 or more (no de-duplication), exactly as in the tutorial. The
list keeps arrival order and is filtered against the current event's own time, so an
out-of-order event sees "future" failures too, again as the tutorial does.

How it relates to Flink SQL's OVER window
-----------------------------------------
    COUNT(*) OVER (PARTITION BY ip_address ORDER BY ts
                   RANGE BETWEEN INTERVAL '5' MINUTE PRECEDING AND CURRENT ROW)

counts the rows with ts in [now - 5 min, now]: an INCLUSIVE lower bound. The tutorial keeps
failures with ts > now - 5 min: an EXCLUSIVE lower bound. For events in order with distinct
times per IP they differ exactly when an earlier failure is exactly 5 minutes (300,000 ms)
older: RANGE counts it, the tutorial does not. With millisecond times, the tutorial is
reproduced by a range of 5 minutes minus 1 ms, i.e. [now - 299,999 ms, now].

Which literal Flink accepts for that (checked with apache-flink 2.3.0, the version the test
scripts install, on the boundary case below):
  accepted, and equal to the tutorial:
    INTERVAL '4:59.999' MINUTE TO SECOND
    INTERVAL '0:04:59.999' HOUR TO SECOND
    INTERVAL '0 00:04:59.999' DAY TO SECOND
    INTERVAL '299.999' SECOND(3, 3)
  refused ("Interval field value 299 exceeds precision of SECOND(2) field"): the plain
    INTERVAL '299.999' SECOND, and likewise INTERVAL '300' SECOND, because SECOND's default
    leading precision is 2 digits (at most 99 seconds).
  INTERVAL '5' MINUTE is accepted and gives the inclusive bound (the boundary case differs).
Flink needs a literal there; "INTERVAL '5' MINUTE - 1 ms" is not a literal.

Other differences to keep in mind when comparing with Flink (not with this script's rule):
  * ties: rows of one IP with the same millisecond are peers in RANGE, so each counts all of
    them (three failures at one instant give 3, 3, 3); the tutorial counts only those that
    arrived before (1, 2, 3);
  * order: Flink sorts by event time behind the watermark and drops late rows; the tutorial
    takes arrival order and drops nothing;
  * Flink's RowTimeRangeBoundedPrecedingFunction starts its lastTriggeringTs at 0, so rows
    with event time <= 0 are dropped as late (seen with 2.3.0): keep test times > 0.

Usage
-----
    alerts = detect(events)                       # events: dicts, in arrival order
    python3 fraud_detector.py [--window-ms 300000] [--threshold 3] < logins.jsonl > alerts.jsonl

Each alert is printed as json.dumps() of the tutorial's dict, keys in its order:
alert_type, ip_address, failure_count, time_window, timestamp.
"""

import argparse
import json
import sys

FIVE_MINUTES_MS = 5 * 60 * 1000


def detect(events, window_ms=FIVE_MINUTES_MS, threshold=3):
    """The tutorial's FraudDetector over `events` (dicts with user_id, ip_address, status,
    event_time), in arrival order. Returns the alert dicts in emission order."""
    state = {}  # ip_address -> list of failure timestamps (the tutorial's ValueState)
    alerts = []
    for event in events:
        if event.get("status") != "FAILED":
            continue
        # ctx.timestamp() in the tutorial: the record's timestamp, which is its event_time.
        current_time = event["event_time"]
        ip_address = event.get("ip_address")
        failed_logins = state.get(ip_address) or []
        cutoff = current_time - window_ms
        recent_failures = [ts for ts in failed_logins if ts > cutoff]
        recent_failures.append(current_time)
        state[ip_address] = recent_failures
        if len(recent_failures) >= threshold:
            alerts.append(
                {
                    "alert_type": "SUSPECTED_FRAUD",
                    "ip_address": ip_address,
                    "failure_count": len(recent_failures),
                    "time_window": "5_minutes",
                    "timestamp": current_time,
                }
            )
    return alerts


def main(argv=None):
    ap = argparse.ArgumentParser(description="The tutorial's FraudDetector over JSON lines.")
    ap.add_argument("--window-ms", type=int, default=FIVE_MINUTES_MS)
    ap.add_argument("--threshold", type=int, default=3)
    args = ap.parse_args(argv)
    events = [json.loads(line) for line in sys.stdin if line.strip()]
    for alert in detect(events, args.window_ms, args.threshold):
        sys.stdout.write(json.dumps(alert) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
