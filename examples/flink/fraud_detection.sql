-- The source page's fraud detection ("3+ failed login attempts within 5 minutes from the
-- same IP") as Flink SQL with MATCH_RECOGNIZE, in place of the page's PyFlink job, which
-- cannot be packaged the way the page says. Run it on any Flink cluster:
--
--   mkdir -p /tmp/advisor-flink/login-events
--   cp examples/flink/login_events.jsonl /tmp/advisor-flink/login-events/
--   advisor submit flink --sql examples/flink/fraud_detection.sql
--
-- Alerts land as JSON lines in /tmp/advisor-flink/fraud-alerts. On a deployed stack, read
-- from Kafka instead: swap the two WITH clauses for the commented Kafka ones (the image
-- needs the flink-sql-connector-kafka jar) and drop the batch runtime mode.

SET 'execution.runtime-mode' = 'batch';
SET 'pipeline.name' = 'fraud-detection';
SET 'table.local-time-zone' = 'UTC';

CREATE TABLE login_events (
  user_id STRING,
  ip_address STRING,
  status STRING,
  event_time BIGINT,
  ts AS TO_TIMESTAMP_LTZ(event_time, 3),
  WATERMARK FOR ts AS ts - INTERVAL '5' SECOND
) WITH (
  'connector' = 'filesystem',
  'path' = 'file:///tmp/advisor-flink/login-events',
  'format' = 'json'
  -- 'connector' = 'kafka', 'topic' = 'login-events', 'format' = 'json',
  -- 'properties.bootstrap.servers' = '...', 'properties.group.id' = 'fraud-detection',
  -- 'scan.startup.mode' = 'group-offsets', 'properties.auto.offset.reset' = 'earliest'
);

CREATE TABLE fraud_alerts (
  alert_type STRING,
  ip_address STRING,
  failure_count BIGINT,
  first_failure TIMESTAMP_LTZ(3),
  last_failure TIMESTAMP_LTZ(3),
  time_window STRING
) WITH (
  'connector' = 'filesystem',
  'path' = 'file:///tmp/advisor-flink/fraud-alerts',
  'format' = 'json'
  -- 'connector' = 'kafka', 'topic' = 'fraud-alerts', 'format' = 'json',
  -- 'properties.bootstrap.servers' = '...'
);

-- Only failures count, as in the page's job; every failure that is the third (or later)
-- within five minutes of the first raises an alert, one row per alert.
CREATE TEMPORARY VIEW failed_logins AS
SELECT ip_address, ts FROM login_events WHERE status = 'FAILED';

INSERT INTO fraud_alerts
SELECT 'SUSPECTED_FRAUD', ip_address, failure_count, first_failure, last_failure, '5_minutes'
FROM failed_logins
MATCH_RECOGNIZE (
  PARTITION BY ip_address
  ORDER BY ts
  MEASURES
    COUNT(F.ts) AS failure_count,
    FIRST(F.ts) AS first_failure,
    LAST(F.ts) AS last_failure
  ONE ROW PER MATCH
  AFTER MATCH SKIP TO NEXT ROW
  PATTERN (F{3}) WITHIN INTERVAL '5' MINUTE
  DEFINE F AS TRUE
);
