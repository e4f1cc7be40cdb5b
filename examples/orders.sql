-- The source page's order aggregation, as advisor-engine runs it on a laptop:
--   cargo run --release -p advisor-engine -- run --sql examples/orders.sql \
--     --input order-events=file:examples/orders.jsonl --output customer_order_totals=file:totals.jsonl
-- VALUE_FORMAT is JSON (the page's AVRO arrives with the formats work) and TIMESTAMP names
-- the event-time column, so results do not depend on when the file is read.

CREATE STREAM order_events (
  order_id BIGINT,
  customer_id STRING,
  order_status STRING,
  order_total DOUBLE,
  created_at BIGINT
) WITH (
  KAFKA_TOPIC='order-events',
  VALUE_FORMAT='JSON',
  TIMESTAMP='created_at'
);

CREATE TABLE customer_order_totals AS
SELECT
  customer_id,
  COUNT(*) AS order_count,
  SUM(order_total) AS total_spent,
  MAX(created_at) AS last_order_time
FROM order_events
WINDOW TUMBLING (SIZE 1 HOUR)
GROUP BY customer_id
EMIT CHANGES;
