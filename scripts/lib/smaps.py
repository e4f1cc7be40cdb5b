"""Where a process's resident memory sits, by the kind of mapping (scripts/soak).

  python3 scripts/lib/smaps.py PID [-v]

Kinds: mimalloc's arenas (the engine's Rust allocations: mimalloc reserves them at hinted
addresses from 2 TiB up, far below where the kernel puts other mappings), glibc's main heap
and its thread arenas (what librdkafka's C code allocates: each arena's mapping starts on a
64 MiB boundary), other anonymous mappings (thread stacks, glibc's large chunks), files.
-v lists the largest mappings too.
"""
import re
import sys

TIB = 1 << 40
ARENA = 64 << 20

pid = sys.argv[1]
maps = []
for line in open(f"/proc/{pid}/smaps"):
    head = re.match(r"^([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ \S+\s*(.*)$", line)
    if head:
        maps.append({"start": int(head[1], 16), "end": int(head[2], 16), "perm": head[3],
                     "name": head[4].strip(), "rss": 0, "thp": 0})
    elif line.startswith("Rss:"):
        maps[-1]["rss"] = int(line.split()[1])
    elif line.startswith("AnonHugePages:"):
        maps[-1]["thp"] = int(line.split()[1])


def kind(m):
    if m["name"] == "[heap]":
        return "glibc main heap"
    if m["name"].startswith("[stack"):
        return "main stack"
    if m["name"]:
        return "file-backed"
    if 2 * TIB <= m["start"] < 32 * TIB:
        return "mimalloc arenas"
    if m["start"] % ARENA == 0 and m["perm"].startswith("rw"):
        return "glibc thread arenas"
    return "other anonymous"


totals = {}
for m in maps:
    rss, thp, count = totals.get(kind(m), (0, 0, 0))
    totals[kind(m)] = (rss + m["rss"], thp + m["thp"], count + 1)
for name, (rss, thp, count) in sorted(totals.items(), key=lambda item: -item[1][0]):
    print(f"{name:22} {rss / 1024:8.1f} MB  (transparent huge pages {thp / 1024:6.1f} MB, {count} maps)")
print(f"{'total':22} {sum(t[0] for t in totals.values()) / 1024:8.1f} MB")
if "-v" in sys.argv:
    for m in sorted(maps, key=lambda m: -m["rss"])[:12]:
        print(f"  {m['start']:x} {(m['end'] - m['start']) // 1024:>9} kB {m['perm']} rss {m['rss']:>7} kB"
              f" thp {m['thp']:>6} kB  {kind(m)} {m['name']}")
