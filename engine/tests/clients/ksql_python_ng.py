"""Drives advisor-engine's REST API with the PyPI client ksql-python-ng, as an existing
ksqlDB user would. The Rust test starts the engine and a broker, produces records when
this script says so, and checks what it prints.

Protocol on stdout: READY (statements created), PUSHING (push query started), then one
JSON line with everything observed."""

import json
import sys
import threading
import time

from ksql import KSQLAPI

url = sys.argv[1]
client = KSQLAPI(url)
observed = {"version": client.get_ksql_version()}

observed["created"] = [
    entity["commandStatus"]["message"]
    for entity in client.ksql(
        "CREATE STREAM visits (user_id STRING, page STRING, at BIGINT) "
        "WITH (KAFKA_TOPIC='visits', VALUE_FORMAT='JSON', TIMESTAMP='at'); "
        "CREATE TABLE visits_per_user AS SELECT user_id, COUNT(*) AS visits "
        "FROM visits GROUP BY user_id EMIT CHANGES;"
    )
]
observed["streams"] = [s["name"] for s in client.ksql("SHOW STREAMS;")[0]["streams"]]
observed["tables"] = [t["name"] for t in client.ksql("SHOW TABLES;")[0]["tables"]]
print("READY", flush=True)
sys.stdin.readline()  # the first records are produced

# Pull query, polled until the engine has counted every record.
deadline = time.time() + 30
while True:
    text = "".join(client.query("SELECT * FROM visits_per_user WHERE user_id = 'u1';"))
    rows = json.loads(text)
    if len(rows) > 1 and rows[1]["row"]["columns"][1] == 10 or time.time() > deadline:
        break
    time.sleep(0.3)
observed["pull"] = rows

# The same pull over HTTP/2 (/query-stream): a header line, then one array per row.
text = "".join(client.query("SELECT * FROM visits_per_user WHERE user_id = 'u2';", use_http2=True))
observed["pull_http2"] = [json.loads(line) for line in text.splitlines() if line.strip()]

# A push query without LIMIT, ended by /close-query.
stream = client.query("SELECT user_id FROM visits EMIT CHANGES;", use_http2=True)
header = json.loads(next(stream).splitlines()[0])
observed["closed"] = client.close_query(header["queryId"])
observed["after_close"] = "".join(stream)

pushed = []


def push():
    pushed.append("".join(client.query("SELECT user_id, page FROM visits EMIT CHANGES LIMIT 2;")))


thread = threading.Thread(target=push)
thread.start()
time.sleep(1.0)
print("PUSHING", flush=True)
thread.join(timeout=30)
observed["push"] = json.loads(pushed[0]) if pushed else None
print(json.dumps(observed), flush=True)
