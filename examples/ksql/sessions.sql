-- The page's sessionisation: a user's clicks grouped into sessions that close after 30
-- minutes without a click. Send it to ksqlDB with
--   advisor submit ksql examples/ksql/sessions.sql --endpoint http://localhost:8088
-- VALUE_FORMAT is JSON here so it runs without a Schema Registry (the page uses AVRO), and
-- TIMESTAMP makes sessions follow the events' own time rather than when they arrive.

CREATE STREAM clickstream (
  user_id STRING,
  page_url STRING,
  event_time BIGINT
) WITH (
  KAFKA_TOPIC='clickstream-events',
  VALUE_FORMAT='JSON',
  TIMESTAMP='event_time',
  PARTITIONS=1
);

CREATE TABLE user_sessions AS
SELECT
  user_id,
  COUNT(*) AS event_count,
  COLLECT_LIST(page_url) AS pages_visited,
  MIN(event_time) AS session_start,
  MAX(event_time) AS session_end
FROM clickstream
WINDOW SESSION (30 MINUTES)
GROUP BY user_id
EMIT CHANGES;
