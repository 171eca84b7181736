-- MRR and its movements per month and currency. Each subscription's MRR at an instant is that of its last change
-- before it; a customer's is the sum of its subscriptions'. A month's movements compare each customer's MRR at the
-- month's start with its MRR at the month's end: from nothing, new (or reactivation if it had MRR before); to
-- nothing, churn; otherwise expansion or contraction. Contraction and churn are negative: start + movements = end.
WITH months AS (
    SELECT CAST(month_start AS DATE) AS month_start
    FROM UNNEST(GENERATE_SERIES(:from_month, :to_month, INTERVAL '1' MONTH)) AS t(month_start)
),
bounds AS (
    SELECT month_start AS at FROM months
    UNION
    SELECT CAST(month_start + INTERVAL '1' MONTH AS DATE) AS at FROM months
),
changes AS (
    SELECT subscription_id, customer_id, currency, mrr, changed_at, version
    FROM mrr_changes
    WHERE tenant_id = :tenant_id AND (:currency IS NULL OR currency = :currency)
),
latest AS (
    SELECT b.at, c.customer_id, c.currency, c.mrr,
           ROW_NUMBER() OVER (PARTITION BY b.at, c.subscription_id ORDER BY c.changed_at DESC, c.version DESC) AS rn
    FROM bounds b
    JOIN changes c ON c.changed_at < CAST(b.at AS TIMESTAMP)
),
first_mrr AS (
    SELECT customer_id, currency, MIN(changed_at) AS first_at FROM changes WHERE mrr > 0 GROUP BY customer_id, currency
),
customer_mrr AS (
    SELECT at, customer_id, currency, SUM(mrr) AS mrr FROM latest WHERE rn = 1 GROUP BY at, customer_id, currency
),
pairs AS (
    SELECT m.month_start, f.customer_id, f.currency,
           COALESCE(s.mrr, 0) AS mrr_start,
           COALESCE(e.mrr, 0) AS mrr_end,
           COALESCE(f.first_at < CAST(m.month_start AS TIMESTAMP), false) AS had_before
    FROM months m
    CROSS JOIN first_mrr f
    LEFT JOIN customer_mrr s ON s.at = m.month_start AND s.customer_id = f.customer_id AND s.currency = f.currency
    LEFT JOIN customer_mrr e ON e.at = CAST(m.month_start + INTERVAL '1' MONTH AS DATE)
                            AND e.customer_id = f.customer_id AND e.currency = f.currency
)
SELECT month_start AS month,
       currency,
       SUM(mrr_start) AS mrr_start,
       SUM(CASE WHEN mrr_start = 0 AND mrr_end > 0 AND NOT had_before THEN mrr_end ELSE 0 END) AS new,
       SUM(CASE WHEN mrr_start > 0 AND mrr_end > mrr_start THEN mrr_end - mrr_start ELSE 0 END) AS expansion,
       SUM(CASE WHEN mrr_start > 0 AND mrr_end > 0 AND mrr_end < mrr_start THEN mrr_end - mrr_start ELSE 0 END)
           AS contraction,
       SUM(CASE WHEN mrr_start > 0 AND mrr_end = 0 THEN -mrr_start ELSE 0 END) AS churn,
       SUM(CASE WHEN mrr_start = 0 AND mrr_end > 0 AND had_before THEN mrr_end ELSE 0 END) AS reactivation,
       SUM(mrr_end) AS mrr_end,
       SUM(mrr_end) * 12 AS arr_end,
       SUM(CASE WHEN mrr_end > 0 THEN 1 ELSE 0 END) AS customers_end
FROM pairs
GROUP BY month_start, currency
ORDER BY currency, month_start
