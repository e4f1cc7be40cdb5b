#!/usr/bin/env python3
"""Writes the fuzzers' seed corpora, engine/fuzz/corpus/<target>/, from real inputs: the
statements and records of the QTT cases (engine/tests/qtt), the SQL of the engine's docs
and of the tutorial (shared/seed, when it is there), Avro bodies of the writer schemas
the avro_value target registers, encoded here as ksqlDB writes them, and the snapshots
of versions 1 and 2 (engine/tests/fixtures). Run it again after the cases change; it
replaces what it wrote before and keeps the `made-*` seeds that only the engine can
write (this version's snapshots: `ADVISOR_WRITE_FUZZ_SEEDS=1 cargo test -p
advisor-engine --test fuzz_regressions`).

    python3 engine/fuzz/make_seeds.py [TUTORIAL.txt]
"""

import hashlib
import json
import re
import struct
import sys
from pathlib import Path

FUZZ = Path(__file__).resolve().parent
ENGINE = FUZZ.parent
CORPUS = FUZZ / "corpus"

seeds = {}


def add(target, data):
    if isinstance(data, str):
        data = data.encode()
    seeds.setdefault(target, {})[hashlib.sha1(data).hexdigest()[:16]] = data


# --- SQL: each QTT case's statements, the docs' and the tutorial's SQL ------------------

for path in sorted((ENGINE / "tests" / "qtt").glob("*.json")):
    for case in json.loads(path.read_text())["tests"]:
        add("sql_parse", "\n".join(case["statements"]) + "\n")

def engine_sql(flink_sql):
    """The Flink case's SQL as tests/flink_cases.rs gives it to the engine: Flink's rowtime
    attribute `ts` as ROWTIME outside string literals, TINYINT as INT."""
    parts = re.split(r"('(?:[^']|'')*')", flink_sql)
    words = {"ts": "ROWTIME", "TINYINT": "INT"}
    return "".join(
        part if part.startswith("'") else re.sub(r"[A-Za-z_][A-Za-z0-9_]*", lambda m: words.get(m.group(0), m.group(0)), part)
        for part in parts
    )


# The OVER-window and MATCH_RECOGNIZE cases compared with Flink (engine/tests/flink), with
# the input stream tests/flink_cases.rs declares for each.
for case in json.loads((ENGINE / "tests" / "flink" / "cases.json").read_text())["cases"]:
    sql = case["sql"] if isinstance(case["sql"], str) else "\n".join(case["sql"])
    columns = ", ".join(
        ("`%s`" % name if "`%s`" % name in sql else name) + " " + ("DOUBLE" if t.startswith("DECIMAL") else t)
        for name, t in case["columns"]
    )
    add(
        "sql_parse",
        f"CREATE STREAM input ({columns}) WITH (KAFKA_TOPIC='input', VALUE_FORMAT='JSON', "
        f"TIMESTAMP='{case['event_time_column']}', WATERMARK_DELAY={case.get('watermark_delay_ms', 0)});\n"
        f"CREATE STREAM out AS {engine_sql(sql)};\n",
    )

for path in sorted((ENGINE / "docs").glob("*.md")):
    for block in re.findall(r"```sql\n(.*?)```", path.read_text(), re.S):
        add("sql_parse", block)

if len(sys.argv) > 1:
    # The tutorial's statements: from each CREATE or SELECT to the first `;`.
    text = Path(sys.argv[1]).read_text()
    for statement in re.findall(r"^((?:CREATE|SELECT)\b.*?;)", text, re.S | re.M):
        add("sql_parse", statement + "\n")

# Statements against the fuzz targets' own catalog (src/lib.rs), and ones that reach into
# corners: every clause, literal kind and window.
for sql in [
    "SELECT * FROM CUSTOMER_ORDER_TOTALS WHERE CUSTOMER_ID = 'cust_123';",
    "SELECT USER_ID, PAGE_URL FROM CLICKSTREAM EMIT CHANGES LIMIT 3;",
    "CREATE STREAM S2 AS SELECT ID, I + 1 AS J, L * 2, D / 0, SUBSTRING(S, 2, 3), DEC * 3,"
    " A[1], M['k'], ST->X, CAST(I AS STRING), CASE WHEN B THEN 'y' ELSE 'n' END FROM ALLTYPES"
    " WHERE I BETWEEN -5 AND 5 OR S LIKE '%a%' EMIT CHANGES;",
    "CREATE TABLE W AS SELECT USER_ID, COUNT(*) AS N, COLLECT_LIST(PAGE_URL) FROM CLICKSTREAM"
    " WINDOW HOPPING (SIZE 30 SECONDS, ADVANCE BY 10 SECONDS) GROUP BY USER_ID;",
    "CREATE TABLE SESS AS SELECT USER_ID, MIN(EVENT_TIME), MAX(EVENT_TIME) FROM CLICKSTREAM"
    " WINDOW SESSION (30 MINUTES) GROUP BY USER_ID EMIT CHANGES;",
    "CREATE STREAM J AS SELECT O.ORDER_ID, I.NAME FROM ORDER_EVENTS O JOIN ITEMS I"
    " ON O.ORDER_ID = I.ID EMIT CHANGES;",
    "CREATE STREAM P AS SELECT NAME, QTY * PRICE AS TOTAL FROM LINES PARTITION BY NAME;",
    "CREATE STREAM AVRO_OUT WITH (VALUE_FORMAT='AVRO') AS SELECT * FROM AV;",
    "CREATE STREAM K WITH (KEY_FORMAT='JSON', VALUE_FORMAT='DELIMITED') AS SELECT"
    " ORDER_ID, ORDER_TOTAL FROM ORDER_EVENTS PARTITION BY ORDER_ID;",
    "SELECT NAME, N FROM ITEM_COUNTS WHERE NAME = 'x';",
    "CREATE STREAM TS AS SELECT TIMESTAMPTOSTRING(TS, 'yyyy-MM-dd HH:mm:ss.SSS', 'UTC'),"
    " FORMAT_DATE(DT, 'yyyy-MM-dd'), ROUND(D, 2), ABS(L), DATEADD(DAYS, 1, DT) FROM ALLTYPES;",
]:
    add("sql_parse", sql + "\n")

# Expressions at the ends of their types' ranges, over the catalog's ALLTYPES (whose
# records the target fills with typical, extreme and null values), ten statements a seed.
EXPRESSIONS = [
    'ABS(I)',
    'ABS(L)',
    'ABS(DEC)',
    '-I',
    '-L',
    '-DEC',
    'I*I',
    'L*L',
    'L+L',
    'L-L',
    'L/-1',
    'L%-1',
    'I/-1',
    'I%-1',
    'I/0',
    'L%0',
    'DEC/0',
    'DEC*DEC',
    'DEC+DEC',
    'DEC%DEC',
    'ROUND(D, 2147483647)',
    'ROUND(D, -2147483648)',
    'ROUND(DEC, 100)',
    'ROUND(DEC, -100)',
    'TRUNC(DEC, -40)',
    'ROUND(L, -30)',
    'ROUND(L, -19)',
    'TRUNC(L, -19)',
    'ROUND(I, -10)',
    'SQRT(D)',
    'EXP(D)',
    'LOG(D)',
    'POWER(D, D)',
    'POWER(L, L)',
    'CAST(D AS INT)',
    'CAST(D AS BIGINT)',
    'CAST(L AS INT)',
    'CAST(D AS DECIMAL(38, 0))',
    'CAST(L AS DECIMAL(2, 1))',
    'CAST(S AS DECIMAL(10, 2))',
    'CAST(S AS INT)',
    'CAST(S AS DATE)',
    'CAST(S AS TIMESTAMP)',
    'CAST(TS AS DATE)',
    'CAST(TS AS TIME)',
    'CAST(DT AS TIMESTAMP)',
    'CAST(DEC AS INT)',
    'CAST(TS AS STRING)',
    'CAST(DT AS STRING)',
    'CAST(TM AS STRING)',
    'CAST(BY AS STRING)',
    'CAST(L AS TIMESTAMP)',
    'CAST(I AS DATE)',
    'SUBSTRING(S, I)',
    'SUBSTRING(S, I, I)',
    'SUBSTRING(S, -2147483648, 2147483647)',
    'SUBSTRING(S, 2147483647, -5)',
    'SUBSTRING(BY, I, I)',
    'SUBSTRING(S, L, L)',
    "LPAD(S, 100, 'x')",
    "RPAD(S, 100, '')",
    "LPAD(S, -1, 'x')",
    'LPAD(BY, 10, BY)',
    "LPAD(S, I, 'x')",
    "INSTR(S, 'a', I)",
    "INSTR(S, 'a', -2147483648, 2147483647)",
    "INSTR(S, 'a', 1, -1)",
    "INSTR(S, '', I, I)",
    'MASK_KEEP_LEFT(S, I)',
    'MASK_KEEP_RIGHT(S, I)',
    'MASK_LEFT(S, -2147483648)',
    'MASK_RIGHT(S, 2147483647)',
    'ELT(I, S, S)',
    'ELT(-2147483648, S)',
    "SPLIT(S, '')",
    "REGEXP_EXTRACT('(a)', S, I)",
    "REGEXP_EXTRACT_ALL('(a)', S, 2147483647)",
    "REGEXP_REPLACE(S, '(', 'x')",
    "REGEXP_SPLIT_TO_ARRAY(S, '')",
    'CHR(I)',
    'CHR(-1)',
    'CHR(1114112)',
    'CHR(55296)',
    'INITCAP(S)',
    "ENCODE(S, 'hex', 'utf8')",
    "ENCODE(S, 'base64', 'hex')",
    "ENCODE(S, 'utf8', 'base64')",
    "ENCODE(S, 'ascii', 'hex')",
    "REPLACE(S, '', 'x')",
    "TIMESTAMPTOSTRING(L, 'yyyy-MM-dd')",
    "TIMESTAMPTOSTRING(L, 'yyyy-MM-dd HH:mm:ss.SSS', 'America/New_York')",
    "FORMAT_TIMESTAMP(TS, 'yyyy-MM-dd''T''HH:mm:ss.SSSXXX')",
    "FORMAT_TIMESTAMP(TS, 'G yyyy MMMM EEEE a hh KK kk z Z X w W D F E u')",
    "FORMAT_DATE(DT, 'yyyy-MM-dd')",
    "FORMAT_TIME(TM, 'HH:mm:ss')",
    "DATETOSTRING(I, 'yyyy')",
    'FROM_DAYS(I)',
    'FROM_UNIXTIME(L)',
    'UNIX_DATE(DT)',
    'UNIX_TIMESTAMP(TS)',
    'DATEADD(DAYS, I, DT)',
    'DATEADD(DAYS, 2147483647, DT)',
    'DATESUB(DAYS, -2147483648, DT)',
    'DATEADD(MILLISECONDS, L, DT)',
    'TIMESTAMPADD(DAYS, I, TS)',
    'TIMESTAMPADD(MILLISECONDS, 9223372036854775807, TS)',
    'TIMESTAMPADD(DAYS, L, TS)',
    'TIMESTAMPSUB(DAYS, -2147483648, TS)',
    'TIMEADD(HOURS, I, TM)',
    'TIMEADD(DAYS, L, TM)',
    'TIMESUB(MILLISECONDS, I, TM)',
    "CONVERT_TZ(TS, 'UTC', 'Asia/Tokyo')",
    "CONVERT_TZ(L, 'UTC', 'Asia/Tokyo')",
    "PARSE_DATE(S, 'yyyy-MM-dd')",
    "PARSE_TIMESTAMP(S, 'yyyy-MM-dd HH:mm:ss.SSS')",
    "PARSE_TIMESTAMP('99999-01-01', 'yyyyy-MM-dd')",
    "PARSE_TIMESTAMP('+999999999-01-01', 'yyyyyyyyyy-MM-dd')",
    "PARSE_TIME(S, 'HH:mm')",
    'STRINGTOTIMESTAMP(S, S)',
    'STRINGTODATE(S, S)',
    "PARSE_TIMESTAMP('2020', S)",
    "STRINGTOTIMESTAMP('2020-01-01 00:00', 'yyyy-MM-dd HH:mm', S)",
    "EXTRACTJSONFIELD(S, '$.a')",
    'EXTRACTJSONFIELD(S, S)',
    "EXTRACTJSONFIELD('[1,2]', '$[9223372036854775807]')",
    "EXTRACTJSONFIELD('[1,2]', '$[-1]')",
    'JSON_ARRAY_LENGTH(S)',
    'JSON_KEYS(S)',
    'JSON_CONCAT(S, S)',
    'TO_JSON_STRING(ST)',
    'TO_JSON_STRING(M)',
    'TO_JSON_STRING(A)',
    'JSON_ARRAY_CONTAINS(S, L)',
    "JSON_ARRAY_CONTAINS('[1e400]', D)",
    'GREATEST(L, I, D)',
    'LEAST(DEC, D)',
    'NULLIF(I, L)',
    'GEO_DISTANCE(D, D, D, D)',
    "GEO_DISTANCE(D, D, D, D, 'miles')",
    'A[I]',
    'A[-2147483648]',
    'A[2147483647]',
    'A[L]',
    'M[S]',
    'ST->X',
    'S LIKE S',
    'DT BETWEEN TS AND TS',
    'TS + 1',
    'DT = TS',
    'TS > DT',
    'DT > L',
    'TS - DT',
    'DT + I',
    'TM * 2',
    'ARRAY[L, L][0]',
    'CONCAT(S, S)',
    'CASE WHEN I > 0 THEN L ELSE DEC END',
    "CASE I WHEN 1 THEN 'a' END",
    'I IN (L, D, DEC)',
    'DEC IN (1, 2.5, L)',
    'DEC = D',
    'DEC > L',
    'DEC BETWEEN I AND L',
    'SPLIT(BY, BY)',
    'LEN(BY)',
    'ABS(-9223372036854775808)',
    '-(-9223372036854775808)',
    '9223372036854775807 + 1',
    '-2147483648 / -1',
    'CAST(-2147483648 AS INT) / -1',
    '1e308 * 10',
    'FROM_UNIXTIME(9223372036854775807)',
    'ROWTIME + L',
    'ROWTIME * L',
    'WINDOWSTART',
]
for at in range(0, len(EXPRESSIONS), 10):
    add(
        "sql_parse",
        "".join(
            f"CREATE STREAM P{n} AS SELECT {e} AS X FROM ALLTYPES;\n"
            for n, e in enumerate(EXPRESSIONS[at : at + 10], start=at)
        ),
    )

# Windows, joins, OVER and MATCH_RECOGNIZE with the longest durations there are.
LONGEST = "106751991167 DAYS"
TWO = (
    "CREATE STREAM input (k STRING, id INT, v STRING, event_time BIGINT) WITH "
    "(KAFKA_TOPIC='input', VALUE_FORMAT='JSON', TIMESTAMP='event_time', WATERMARK_DELAY=0);\n"
    "CREATE STREAM other (k STRING, w BIGINT, event_time BIGINT) WITH "
    "(KAFKA_TOPIC='other', VALUE_FORMAT='JSON', TIMESTAMP='event_time');\n"
)
for query in [
    f"CREATE STREAM j AS SELECT * FROM input a JOIN other b WITHIN {LONGEST} ON a.k = b.k;",
    f"CREATE STREAM j AS SELECT * FROM input a FULL OUTER JOIN other b WITHIN ({LONGEST}, {LONGEST}) GRACE PERIOD {LONGEST} ON a.k = b.k;",
    f"CREATE STREAM j AS SELECT * FROM input a LEFT JOIN other b WITHIN 1 SECOND GRACE PERIOD {LONGEST} ON a.k = b.k;",
    f"CREATE TABLE t AS SELECT k, COUNT(*) FROM input WINDOW SESSION ({LONGEST}, RETENTION {LONGEST}, GRACE PERIOD {LONGEST}) GROUP BY k EMIT FINAL;",
    f"CREATE TABLE t AS SELECT k, COUNT(*) FROM input WINDOW TUMBLING (SIZE 1 SECOND, RETENTION {LONGEST}, GRACE PERIOD {LONGEST}) GROUP BY k EMIT FINAL;",
    f"CREATE STREAM out AS SELECT k, COUNT(*) OVER (PARTITION BY k ORDER BY ROWTIME RANGE BETWEEN INTERVAL '106751991167' DAY PRECEDING AND CURRENT ROW) AS c FROM input;",
    "CREATE STREAM out AS SELECT k, SUM(id) OVER (PARTITION BY k ORDER BY ROWTIME ROWS BETWEEN 9223372036854775807 PRECEDING AND CURRENT ROW) AS c FROM input;",
    "CREATE STREAM out AS SELECT * FROM input MATCH_RECOGNIZE (PARTITION BY k ORDER BY ROWTIME MEASURES FIRST(id) AS f ONE ROW PER MATCH AFTER MATCH SKIP PAST LAST ROW PATTERN (A B{2,}) WITHIN INTERVAL '106751991167' DAY DEFINE A AS A.v = 'a', B AS B.v = 'b');",
]:
    add("sql_parse", TWO + query + "\n")

# --- JSON and DELIMITED: the QTT cases' record values and keys ---------------------------

for path in sorted((ENGINE / "tests" / "qtt").glob("*.json")):
    delimited = path.name == "delimited.json"
    for case in json.loads(path.read_text())["tests"]:
        for record in case.get("inputs", []):
            for part in ("value", "key"):
                value = record.get(part)
                if value is None:
                    continue
                if delimited:
                    add("delimited_value", value if isinstance(value, str) else json.dumps(value))
                else:
                    add("json_value", json.dumps(value))

for text in [
    '{"B": true, "I": 7, "L": 1700000000000, "D": 2.5, "S": "x", "BY": "AQID", "DEC": 12.34,'
    ' "DEC_WIDE": 99999999999999999999999999999999999999, "DEC_FRACTION": 0.5, "DT": 19000,'
    ' "TM": 3600000, "TS": 1700000000000, "A": [1, null, 3], "AA": [["a"], []],'
    ' "M": {"k": 1.5}, "MS": {"k": {"X": 1, "Y": "y", "Z": [1.234]}},'
    ' "ST": {"x": 1, "y": "s", "z": [0.001]}, "AST": [{"X": 2}], "ATS": [0, -1]}',
    '{"K": "a", "T": "2024-02-29T12:34:56.789Z", "V": 1}',
    '"2024-02-29T12:34:56.789+01:00"',
    "-9223372036854775808",
    "1e400",
    '"\\ud800"',
    "[[[[[[[[[[]]]]]]]]]]",
    '{"a":1,"A":2,"a":3}',
]:
    add("json_value", text)

for text in [
    "true,7,1700000000000,2.5,\"a,b\",AQID,12.34,1,0.5,19000,3600000,1700000000000",
    "true|7|1|2.5|s|AQID|1.00|1|0.1|1|1|1",
    "true\t7\t1\t2.5\ts\tAQID\t1.00\t1\t0.1\t1\t1\t1",
    '"unterminated,',
    '"a""b",,,',
]:
    add("delimited_value", text)

# --- KAFKA keys: each type's width, and windowed keys ------------------------------------

for data in [
    b"",
    b"cust_123",
    struct.pack(">i", -7),
    struct.pack(">q", 1700000000000),
    struct.pack(">d", 2.5),
    b"k" + struct.pack(">q", 1000),
    b"k" + struct.pack(">qq", 2000, 1000),
    struct.pack(">q", 5) + struct.pack(">q", 1000),
    struct.pack(">i", 5) + struct.pack(">qq", 2000, 1000),
    "\u00e9\u4e2d".encode(),
    b"\xff\xfe",
]:
    add("kafka_key", data)

# --- AVRO: bodies of the avro_value target's writer schemas ------------------------------
# The target reads its first byte as the writer schema (id 1 + byte % 21): 0 is ksqlDB's
# record of the all-types columns, 1 another producer's record, 2 + n the n-th column's
# bare type, as ksqlDB writes a single key (src/lib.rs, `avro_schemas`).


def long(n):
    n = (n << 1) ^ (n >> 63)
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def text(s):
    data = s.encode() if isinstance(s, str) else s
    return long(len(data)) + data


def union(index, body=b""):
    return long(index) + body


def decimal(unscaled):
    length = max(1, (unscaled.bit_length() + 8) // 8)
    return text(unscaled.to_bytes(length, "big", signed=True))


def array(items):
    return (long(len(items)) + b"".join(items) if items else b"") + long(0)


def mapping(entries):
    body = b"".join(text(k) + v for k, v in entries)
    return (long(len(entries)) + body if entries else b"") + long(0)


def nullable(body):
    return union(1, body)


NULL = union(0)
# In `all_types` order: B I L D S BY DEC DEC_WIDE DEC_FRACTION DT TM TS A AA M MS ST AST ATS
struct_value = b"".join(
    [nullable(long(1)), nullable(text("y")), nullable(array([nullable(decimal(1234))]))]
)
columns = [
    b"\x01",
    long(7),
    long(1700000000000),
    struct.pack("<d", 2.5),
    text("x"),
    text(b"\x01\x02\x03"),
    decimal(1234),
    decimal(10**37),
    decimal(-(10**37)),
    long(19000),
    long(3600000),
    long(1700000000000),
    array([nullable(long(1)), NULL]),
    array([nullable(array([nullable(text("a"))]))]),
    mapping([("k", nullable(struct.pack("<d", 1.5)))]),
    mapping([("k", nullable(struct_value))]),
    struct_value,
    array([nullable(struct_value)]),
    array([nullable(long(0)), nullable(long(-1))]),
]
add("avro_value", b"\x00" + b"".join(nullable(c) for c in columns))
add("avro_value", b"\x00" + NULL * len(columns))
add("avro_value", b"\x00" + b"".join(nullable(c) if i % 2 else NULL for i, c in enumerate(columns)))
for n, column in enumerate(columns):
    add("avro_value", bytes([2 + n]) + nullable(column))
    add("avro_value", bytes([2 + n]) + NULL)
# The other producer's record (FOREIGN_SCHEMA): fields in its order.
inner = array([decimal(1)]) + long(3) + text("extra")
foreign = b"".join(
    [
        long(1700000000000000),  # ts, micros
        union(1, b"\x01"),  # b
        long(7),  # i
        union(1, long(8)),  # l as int
        struct.pack("<f", 1.5),  # d as float
        long(1),  # s as enum GREEN
        b"abcd",  # by as fixed(4)
        decimal(1234),  # dec
        (10**20).to_bytes(16, "big", signed=True),  # dec_wide as fixed(16)
        union(1, decimal(5)),  # dec_fraction
        long(19000),  # dt
        long(3600000000),  # tm, micros
        array([long(1), long(2)]),  # a as longs
        array([array([union(1, text("s")), union(2, long(3)), union(0)])]),  # aa
        array([text("k") + union(1, struct.pack("<d", 1.0))]),  # m as a Connect map
        mapping([("k", inner)]),  # ms
        union(1, inner),  # st
        array([inner]),  # ast
        array([long(1000), long(-1000)]),  # ats, micros
        mapping([("u", text("v"))]),  # unused
    ]
)
add("avro_value", b"\x01" + foreign)
# Framed as the record itself would come: magic byte, schema id 1, body.
add("avro_value", b"\x00\x00\x00\x00\x01" + NULL * len(columns))

# --- Avro writer schemas as the registry hands them over ---------------------------------

lib = (FUZZ / "src" / "lib.rs").read_text()
foreign_schema = re.search(r'const FOREIGN_SCHEMA: &str = r#"(.*?)"#;', lib, re.S).group(1)
add("avro_schema", foreign_schema)
for schema in [
    '"string"',
    '["null", "long"]',
    '{"type": "record", "name": "R", "fields": [{"name": "B", "type": ["null", "boolean"]},'
    ' {"name": "i", "type": "int"}, {"name": "L", "type": "long", "default": 0}]}',
    '{"type": "record", "name": "R", "fields": [{"name": "DEC", "type": {"type": "bytes",'
    ' "logicalType": "decimal", "precision": 10, "scale": 2}}, {"name": "ST", "type":'
    ' {"type": "record", "name": "S", "fields": [{"name": "X", "type": "int"}]}}]}',
    '{"type": "map", "values": ["null", "double"]}',
    '{"type": "array", "items": {"type": "record", "name": "E", "fields": [{"name": "key",'
    ' "type": "string"}, {"name": "value", "type": "long"}]}}',
    '{"type": "enum", "name": "E", "symbols": ["A", "B"]}',
    '{"type": "fixed", "name": "F", "size": 16, "logicalType": "decimal", "precision": 38, "scale": 38}',
]:
    add("avro_schema", schema)

# --- Snapshots: those versions 1 and 2 saved ---------------------------------------------

for path in sorted((ENGINE / "tests" / "fixtures").glob("v*-snapshot.*")):
    add("snapshot_restore", path.read_bytes())

for target, files in seeds.items():
    folder = CORPUS / target
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.iterdir():
        if not old.name.startswith("made-"):
            old.unlink()
    for name, data in files.items():
        (folder / name).write_bytes(data)
    print(f"{target}: {len(files)} seeds")
