-- The page's pull query: the current totals of one customer, window by window.
--   advisor ksql query "$(grep -v '^--' examples/ksql/pull_query.sql)"
SELECT * FROM customer_order_totals WHERE customer_id = 'cust_123';
