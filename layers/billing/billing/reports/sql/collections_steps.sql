-- What dunning recovers, per step: each invoice paid after it went past due counts at the last dunning step run
-- before it was paid (step NULL: paid before any step ran), and whether that step's retry took the money.
WITH own AS (
    SELECT invoice_id, currency FROM invoices
    WHERE tenant_id = :tenant_id AND (:currency IS NULL OR currency = :currency)
),
events AS (
    SELECT e.invoice_id, e.type, e.occurred_at, e.applied, e.step, e.charge_outcome, o.currency
    FROM invoice_events e JOIN own o ON o.invoice_id = e.invoice_id
    WHERE e.tenant_id = :tenant_id
),
recovered AS (
    SELECT p.invoice_id, p.currency, MIN(p.occurred_at) AS past_due_at, MIN(d.occurred_at) AS paid_at
    FROM events p JOIN events d ON d.invoice_id = p.invoice_id AND d.type = 'invoice.paid' AND d.occurred_at > p.occurred_at
    WHERE p.type = 'invoice.past_due'
    GROUP BY p.invoice_id, p.currency
    HAVING MIN(d.occurred_at) >= CAST(:from_month AS TIMESTAMP)
       AND MIN(d.occurred_at) < CAST(CAST(:to_month AS DATE) + INTERVAL '1' MONTH AS TIMESTAMP)
),
recovered_amount AS (
    SELECT r.invoice_id, SUM(e.applied) AS amount
    FROM recovered r
    JOIN events e ON e.invoice_id = r.invoice_id AND e.type = 'invoice.payment_succeeded' AND e.occurred_at > r.past_due_at
    GROUP BY r.invoice_id
),
last_step AS (
    SELECT r.invoice_id, s.step, s.charge_outcome,
           ROW_NUMBER() OVER (PARTITION BY r.invoice_id ORDER BY s.occurred_at DESC) AS rn
    FROM recovered r
    JOIN events s ON s.invoice_id = r.invoice_id AND s.type = 'invoice.dunning_step' AND s.occurred_at <= r.paid_at
)
SELECT r.currency, l.step,
       COUNT(*) AS recovered,
       SUM(CASE WHEN l.charge_outcome = 'succeeded' THEN 1 ELSE 0 END) AS by_retry,
       SUM(a.amount) AS recovered_amount
FROM recovered r
JOIN recovered_amount a ON a.invoice_id = r.invoice_id
LEFT JOIN last_step l ON l.invoice_id = r.invoice_id AND l.rn = 1
GROUP BY r.currency, l.step
ORDER BY r.currency, l.step NULLS FIRST
