"""Calls advisor-engine's REST API through the PyPI client ksql-python-ng with basic
credentials (its api_key and secret), as a ksqlDB user with authentication.method=BASIC
would, and with a wrong password. Prints one JSON line with what it observed.

Usage: ksql_python_ng_auth.py URL USER PASSWORD"""

import json
import sys

from ksql import KSQLAPI
from ksql.errors import KSQLError

url, user, password = sys.argv[1:4]
observed = {}

# The constructor checks the version: GET /info with the credentials.
client = KSQLAPI(url, api_key=user, secret=password)
observed["version"] = client.get_ksql_version()
observed["created"] = client.ksql(
    "CREATE STREAM visits (user_id STRING, page STRING) "
    "WITH (KAFKA_TOPIC='visits', VALUE_FORMAT='JSON');"
)[0]["commandStatus"]["message"]
observed["streams"] = [s["name"] for s in client.ksql("SHOW STREAMS;")[0]["streams"]]

# Over HTTP/2 (/query-stream) the credentials go along too: the engine answers the query
# (here refused as a pull query on a stream), not 401.
try:
    "".join(client.query("SELECT * FROM visits;", use_http2=True))
    observed["http2"] = "answered"
except ValueError as error:
    observed["http2"] = str(error)

try:
    KSQLAPI(url, api_key=user, secret=password + "-wrong", check_version=False).ksql("SHOW STREAMS;")
    observed["wrong_password"] = None
except KSQLError as error:
    observed["wrong_password"] = {"message": error.msg, "error_code": error.error_code}

try:
    KSQLAPI(url, check_version=False).ksql("SHOW STREAMS;")
    observed["no_credentials"] = None
except KSQLError as error:
    observed["no_credentials"] = {"message": error.msg, "error_code": error.error_code}

print(json.dumps(observed), flush=True)
