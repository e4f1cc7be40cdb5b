"""Writes and reads Avro records the way an application beside ksqlDB does: Confluent's
Python AvroSerializer and AvroDeserializer through the real Schema Registry.

  avro_client.py produce BOOTSTRAP REGISTRY TOPIC   (stdin: one JSON job)
  avro_client.py frame REGISTRY TOPIC               (stdin: one JSON job; prints hex)
  avro_client.py consume BOOTSTRAP REGISTRY TOPIC COUNT
  avro_client.py register REGISTRY SUBJECT          (stdin: the schema)
  avro_client.py latest REGISTRY SUBJECT            (prints the subject's latest schema)

AVRO_CLIENT_USER_INFO (USER:PASSWORD) and AVRO_CLIENT_CA (a PEM file), when set, are the
client's basic.auth.user.info and ssl.ca.location, for a registry behind basic auth and TLS.

A job is {"value_schema": ... or null, "key_schema": ... or null, "records": [{"key": ...,
"value": ..., "timestamp": ms}]}; without a key schema keys are written as UTF-8 text, and
without a value schema values as JSON text. `consume` prints one JSON line per record: the
key bytes in hex (and the key as the deserializer reads it, when it is Avro), the value as
the deserializer reads it (or parsed as JSON, when it is not Avro), and the value's schema
id.

JSON has no decimals or bytes: in a job, {"$decimal": "12.50"} is a decimal.Decimal and
{"$bytes": "00ff"} bytes (hex). In what `consume` prints, a Decimal is its digits as a
string, bytes are hex, and dates, times and timestamps are Python's str() of them.
"""

import decimal
import json
import os
import sys

from confluent_kafka import Consumer, Producer
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext


def tagged(value):
    """Turns the job's tagged values into the Python types fastavro writes as logical types."""
    if isinstance(value, dict):
        if set(value) == {"$decimal"}:
            return decimal.Decimal(value["$decimal"])
        if set(value) == {"$bytes"}:
            return bytes.fromhex(value["$bytes"])
        return {k: tagged(v) for k, v in value.items()}
    if isinstance(value, list):
        return [tagged(v) for v in value]
    return value


def printable(value):
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    return str(value)


def registry_client(url):
    conf = {"url": url}
    if os.environ.get("AVRO_CLIENT_USER_INFO"):
        conf["basic.auth.user.info"] = os.environ["AVRO_CLIENT_USER_INFO"]
    if os.environ.get("AVRO_CLIENT_CA"):
        conf["ssl.ca.location"] = os.environ["AVRO_CLIENT_CA"]
    return SchemaRegistryClient(conf)


def serializer(registry, schema):
    return AvroSerializer(registry, json.dumps(schema), conf={"auto.register.schemas": True})


def produce(bootstrap, url, topic):
    job = json.load(sys.stdin)
    registry = registry_client(url)
    values = serializer(registry, job["value_schema"]) if job.get("value_schema") else None
    keys = serializer(registry, job["key_schema"]) if job.get("key_schema") else None
    producer = Producer({"bootstrap.servers": bootstrap})
    for record in job["records"]:
        key = record.get("key")
        if key is not None:
            key = (
                keys(key, SerializationContext(topic, MessageField.KEY))
                if keys
                else str(key).encode()
            )
        value = tagged(record.get("value"))
        if value is not None:
            value = (
                values(value, SerializationContext(topic, MessageField.VALUE))
                if values
                else json.dumps(value).encode()
            )
        producer.produce(topic, key=key, value=value, timestamp=record.get("timestamp", 0))
        producer.poll(0)
    left = producer.flush(30)
    if left:
        sys.exit(f"{left} records were not delivered")


def frame(url, topic):
    """Serialized values in hex, one a line, without producing them."""
    job = json.load(sys.stdin)
    registry = registry_client(url)
    values = serializer(registry, job["value_schema"])
    for record in job["records"]:
        print(values(tagged(record["value"]), SerializationContext(topic, MessageField.VALUE)).hex())


def consume(bootstrap, url, topic, count):
    registry = registry_client(url)
    values = AvroDeserializer(registry)
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"avro-reader-{topic}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic])
    seen, idle = 0, 0
    while seen < count or idle < 4:
        message = consumer.poll(0.5)
        if message is None:
            idle += 1
            if idle > 60:
                break
            continue
        if message.error():
            continue
        idle = 0
        seen += 1
        raw = message.value()
        key_bytes = message.key() or b""
        key = None
        if key_bytes[:1] == b"\x00" and len(key_bytes) > 5:
            # A KAFKA BIGINT key can start with a zero byte too: it is Avro only if it reads.
            try:
                key = values(key_bytes, SerializationContext(topic, MessageField.KEY))
            except Exception:
                key = None
        value = None
        if raw is not None and raw[:1] == b"\x00":
            value = values(raw, SerializationContext(topic, MessageField.VALUE))
        elif raw is not None:
            value = json.loads(raw)
        print(
            json.dumps(
                {
                    "key": key_bytes.hex(),
                    "key_value": key,
                    "value": value,
                    "schema_id": (
                        int.from_bytes(raw[1:5], "big") if raw and raw[:1] == b"\x00" else None
                    ),
                },
                default=printable,
            ),
            flush=True,
        )
    consumer.close()


def register(url, subject):
    registry = registry_client(url)
    print(registry.register_schema(subject, Schema(sys.stdin.read(), "AVRO")))


def latest(url, subject):
    print(registry_client(url).get_latest_version(subject).schema.schema_str)


if __name__ == "__main__":
    mode, args = sys.argv[1], sys.argv[2:]
    if mode == "produce":
        produce(*args)
    elif mode == "frame":
        frame(*args)
    elif mode == "consume":
        consume(args[0], args[1], args[2], int(args[3]))
    elif mode == "register":
        register(*args)
    elif mode == "latest":
        latest(*args)
    else:
        sys.exit(f"unknown mode {mode}")
