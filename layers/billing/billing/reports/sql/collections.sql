-- Collections per month and currency: what was invoiced and collected, receivables at the month's end (as the aging
-- report counts them), invoices that went past due (entered dunning), those recovered (paid after going past due),
-- the days they took, and write-offs. Rates and days sales outstanding are derived from these (docs/reports.md).
WITH months AS (
    SELECT CAST(month_start AS DATE) AS month_start,
           CAST(CAST(month_start AS DATE) + INTERVAL '1' MONTH AS TIMESTAMP) AS month_end
    FROM UNNEST(GENERATE_SERIES(:from_month, :to_month, INTERVAL '1' MONTH)) AS t(month_start)
),
own AS (
    SELECT invoice_id, currency, total, owed, issued_at, voided_at
    FROM invoices WHERE tenant_id = :tenant_id AND (:currency IS NULL OR currency = :currency)
),
events AS (
    SELECT e.invoice_id, e.type, e.occurred_at, e.amount, e.applied, o.currency
    FROM invoice_events e JOIN own o ON o.invoice_id = e.invoice_id
    WHERE e.tenant_id = :tenant_id
),
past_due AS (
    SELECT invoice_id, MIN(occurred_at) AS at FROM events WHERE type = 'invoice.past_due' GROUP BY invoice_id
),
recovered AS (
    SELECT p.invoice_id, MIN(e.occurred_at) AS paid_at, MIN(p.at) AS past_due_at
    FROM past_due p JOIN events e ON e.invoice_id = p.invoice_id AND e.type = 'invoice.paid' AND e.occurred_at > p.at
    GROUP BY p.invoice_id
),
recovered_amount AS (
    SELECT r.invoice_id, SUM(e.applied) AS amount
    FROM recovered r
    JOIN events e ON e.invoice_id = r.invoice_id AND e.type = 'invoice.payment_succeeded' AND e.occurred_at > r.past_due_at
    GROUP BY r.invoice_id
),
open_at_end AS (
    SELECT m.month_start, o.currency, o.owed,
           SUM(CASE WHEN e.occurred_at >= m.month_end THEN 0
                    WHEN e.type = 'invoice.payment_succeeded' THEN -e.applied
                    WHEN e.type = 'invoice.reopened' THEN e.amount
                    WHEN e.type = 'credit_note.issued' THEN -e.applied
                    ELSE 0 END) AS moved,
           MAX(CASE WHEN e.occurred_at < m.month_end AND e.type = 'invoice.marked_uncollectible' THEN 1 ELSE 0 END)
               AS written_off
    FROM months m
    JOIN own o ON o.issued_at < m.month_end AND (o.voided_at IS NULL OR o.voided_at >= m.month_end)
    LEFT JOIN events e ON e.invoice_id = o.invoice_id
    GROUP BY m.month_start, o.currency, o.invoice_id, o.owed
),
receivable AS (
    SELECT month_start, currency, SUM(owed + COALESCE(moved, 0)) AS receivables_end
    FROM open_at_end WHERE COALESCE(written_off, 0) = 0
    GROUP BY month_start, currency
),
flows AS (
    SELECT CAST(date_trunc('month', issued_at) AS DATE) AS month_start, currency,
           total AS invoiced, 0 AS collected, 0 AS entered_dunning, 0 AS entered_dunning_amount,
           0 AS recovered, 0 AS recovered_amount, 0 AS days_to_recover, 0 AS written_off, 0 AS written_off_amount
    FROM own
    UNION ALL
    SELECT CAST(date_trunc('month', occurred_at) AS DATE), currency, 0, amount, 0, 0, 0, 0, 0, 0, 0
    FROM events WHERE type = 'invoice.payment_succeeded'
    UNION ALL  -- a payment received outside Stripe that did not stand (a bounced check): not collected after all
    SELECT CAST(date_trunc('month', occurred_at) AS DATE), currency, 0, -amount, 0, 0, 0, 0, 0, 0, 0
    FROM events WHERE type = 'payment.reversed'
    UNION ALL
    SELECT CAST(date_trunc('month', p.at) AS DATE), o.currency, 0, 0, 1, o.owed, 0, 0, 0, 0, 0
    FROM past_due p JOIN own o ON o.invoice_id = p.invoice_id
    UNION ALL
    SELECT CAST(date_trunc('month', r.paid_at) AS DATE), o.currency, 0, 0, 0, 0, 1, a.amount,
           date_diff('day', CAST(r.past_due_at AS DATE), CAST(r.paid_at AS DATE)), 0, 0
    FROM recovered r JOIN own o ON o.invoice_id = r.invoice_id JOIN recovered_amount a ON a.invoice_id = r.invoice_id
    UNION ALL
    SELECT CAST(date_trunc('month', occurred_at) AS DATE), currency, 0, 0, 0, 0, 0, 0, 0, 1, amount
    FROM events WHERE type = 'invoice.marked_uncollectible'
),
totals AS (
    SELECT f.month_start, f.currency,
           SUM(f.invoiced) AS invoiced, SUM(f.collected) AS collected,
           SUM(f.entered_dunning) AS entered_dunning, SUM(f.entered_dunning_amount) AS entered_dunning_amount,
           SUM(f.recovered) AS recovered, SUM(f.recovered_amount) AS recovered_amount,
           SUM(f.days_to_recover) AS days_to_recover_total,
           SUM(f.written_off) AS written_off, SUM(f.written_off_amount) AS written_off_amount
    FROM flows f JOIN months m ON m.month_start = f.month_start
    GROUP BY f.month_start, f.currency
)
SELECT m.month_start AS month, c.currency,
       COALESCE(t.invoiced, 0) AS invoiced, COALESCE(t.collected, 0) AS collected,
       COALESCE(r.receivables_end, 0) AS receivables_end,
       COALESCE(t.entered_dunning, 0) AS entered_dunning,
       COALESCE(t.entered_dunning_amount, 0) AS entered_dunning_amount,
       COALESCE(t.recovered, 0) AS recovered, COALESCE(t.recovered_amount, 0) AS recovered_amount,
       COALESCE(t.days_to_recover_total, 0) AS days_to_recover_total,
       COALESCE(t.written_off, 0) AS written_off, COALESCE(t.written_off_amount, 0) AS written_off_amount,
       date_diff('day', m.month_start, CAST(m.month_end AS DATE)) AS days_in_month
FROM months m
CROSS JOIN (SELECT DISTINCT currency FROM own) c
LEFT JOIN totals t ON t.month_start = m.month_start AND t.currency = c.currency
LEFT JOIN receivable r ON r.month_start = m.month_start AND r.currency = c.currency
ORDER BY c.currency, m.month_start
