#!/usr/bin/env python3
"""A plain-Python reference for MATCH_RECOGNIZE patterns with alternation and quantified
groups, which Flink 2.3 refuses, so the engine's tests (engine/tests/match_recognize.rs)
have something other than the engine to compare with. It states the rules the engine
follows (engine/docs/flink-semantics.md, section 3, carried over) as directly as it can,
by enumerating assignments of rows to variables, with no automaton:

- Per partition, rows in order; a match is a run of consecutive rows, each mapped to a
  variable whose condition it meets, the variables spelling a word of the pattern.
- Every row may start a match; all matches are found at once, none backtracks.
- Greedy: the first row after a greedy element's rows (or after its place, if it took
  none) is never one that element's first variables accept. `?`, `{n}` and reluctant
  forms have no such rule.
- A partial match is alive after a row while its rows so far spell a proper prefix of a
  pattern word (meeting the rules above). A completed match waits while a partial match
  that started earlier is alive; matches leave in order of their first row (then of their
  last), and each leaves only if no earlier-started partial match is alive.
- After a match leaves, matches and partial matches whose first row is before the skip
  row are dropped (PAST LAST ROW: up to its last row; TO NEXT ROW: up to its first row,
  both inclusive; TO FIRST/LAST v: strictly before v's first/last row). A match with no
  row for v, or whose v row is its first, is dropped instead (Flink fails the job there)
  and matching goes on as after TO NEXT ROW.
- Partial matches left at the end produce nothing.

Input (standard input), JSON: {"scenarios": [scenario, ...]} where a scenario is
  {"name": str, "pattern": P, "conditions": {var: [letters]}, "skip": "past_last" |
   "next" | ["first", var] | ["last", var], "rows": [{"k": str, "id": int, "v": str}]}
and P is {"var": name, "min": n, "max": m|null, "greedy": bool} | {"seq": [P...]} |
{"alt": [P...]} | {"group": P, "min": n, "max": m|null, "greedy": bool}. A variable
without conditions accepts every row. Output: {name: [[k, first_id, last_id, [var per
row]], ...]} in emission order per partition.
"""

import json
import sys


def first_vars(p):
    """The variables that can take an element's first row."""
    if "var" in p:
        return {p["var"]}
    if "seq" in p:
        out = set()
        for item in p["seq"]:
            out |= first_vars(item)
            if not can_be_empty(item):
                break
        return out
    if "alt" in p:
        return set().union(*(first_vars(b) for b in p["alt"]))
    return first_vars(p["group"])


def can_be_empty(p):
    if "var" in p:
        return p["min"] == 0
    if "seq" in p:
        return all(can_be_empty(i) for i in p["seq"])
    if "alt" in p:
        return any(can_be_empty(b) for b in p["alt"])
    return p["min"] == 0 or can_be_empty(p["group"])


def is_greedy(p):
    lo, hi = p["min"], p["max"]
    return p["greedy"] and not (lo == 0 and hi == 1) and lo != hi


class Matcher:
    def __init__(self, scenario, rows):
        self.conditions = scenario["conditions"]
        self.rows = rows

    def accepts(self, var, i):
        allowed = self.conditions.get(var)
        return allowed is None or self.rows[i]["v"] in allowed

    def greedy_ok(self, p, j):
        """Leaving greedy element p before row j: row j, if it has come, must not be one
        p's first variables accept."""
        if not is_greedy(p) or j >= len(self.rows):
            return True
        return not any(self.accepts(v, j) for v in first_vars(p))

    def walk(self, p, i, path):
        """Yields (j, path, done): `done` paths finished p before row j; the others ran out
        of rows inside p (and could go on)."""
        if "var" in p:
            yield from self.repeat(p, i, path, lambda i, path: self.var(p["var"], i, path))
        elif "seq" in p:
            yield from self.seq(p["seq"], i, path)
        elif "alt" in p:
            for branch in p["alt"]:
                yield from self.walk(branch, i, path)
        else:
            yield from self.repeat(p, i, path, lambda i, path: self.walk(p["group"], i, path))

    def var(self, name, i, path):
        if i >= len(self.rows):
            yield (i, path, False)
        elif self.accepts(name, i):
            yield (i + 1, path + [name], True)

    def seq(self, items, i, path):
        if not items:
            yield (i, path, True)
            return
        for j, p2, done in self.walk(items[0], i, path):
            if done:
                yield from self.seq(items[1:], j, p2)
            else:
                yield (j, p2, False)

    def repeat(self, p, i, path, once, count=0):
        lo, hi = p["min"], p["max"]
        if count >= lo and self.greedy_ok(p, i):
            yield (i, path, True)
        if hi is not None and count >= hi:
            return
        if i >= len(self.rows):
            # No more rows yet: the element could take more.
            if count < lo or hi is None or count < hi:
                yield (i, path, False)
            return
        for j, p2, done in once(i, path):
            if not done:
                yield (j, p2, False)
            elif j > i:
                yield from self.repeat(p, j, p2, once, count + 1)


def run(scenario):
    partitions = {}
    for row in scenario["rows"]:
        partitions.setdefault(row["k"], []).append(row)
    out = []
    for k, rows in partitions.items():
        out.extend(run_partition(scenario, k, rows))
    return out


def run_partition(scenario, k, rows):
    pattern, skip = scenario["pattern"], scenario["skip"]
    emitted = []
    min_start = 0
    waiting = []  # completed matches: (start, end, path)
    for r in range(len(rows)):
        seen = rows[: r + 1]
        m = Matcher(scenario, seen)
        alive_starts = set()
        for s in range(min_start, r + 1):
            for j, path, done in m.walk(pattern, s, []):
                if done and j == r + 1 and len(path) == r + 1 - s:
                    waiting.append((s, r, path))
                elif not done and j == r + 1:
                    alive_starts.add(s)
        waiting = dedupe(waiting)
        while waiting:
            waiting.sort(key=lambda m: (m[0], m[1]))
            s, e, path = waiting[0]
            if any(a < s for a in alive_starts if a >= min_start):
                break
            waiting.pop(0)
            if skip == "past_last":
                cut = e + 1
            elif skip == "next":
                cut = s + 1
            else:
                mode, var = skip
                at = [s + i for i, v in enumerate(path) if v == var]
                cut = (at[0] if mode == "first" else at[-1]) if at else s
                if cut == s:
                    # Nowhere to skip to but the match's own first row: the match is
                    # dropped (a dead letter) and matching goes on from the next row.
                    min_start = max(min_start, s + 1)
                    waiting = [w for w in waiting if w[0] >= min_start]
                    alive_starts = {a for a in alive_starts if a >= min_start}
                    continue
            emitted.append([k, rows[s]["id"], rows[e]["id"], path])
            min_start = max(min_start, cut)
            waiting = [w for w in waiting if w[0] >= min_start]
            alive_starts = {a for a in alive_starts if a >= min_start}
    return emitted


def dedupe(matches):
    seen, out = set(), []
    for m in matches:
        key = (m[0], m[1], tuple(m[2]))
        if key not in seen:
            seen.add(key)
            out.append(m)
    return out


def main():
    job = json.load(sys.stdin)
    json.dump({s["name"]: run(s) for s in job["scenarios"]}, sys.stdout)


if __name__ == "__main__":
    main()
