-- Revenue per month and currency: invoiced (issued in the month, tax included), voided (issued invoices voided in
-- the month, negative), collected (money received for invoices, less payments received outside Stripe that were
-- reversed: a bounced check), refunded (credit notes issued),
-- written off (what was owed when an invoice was marked uncollectible), and the tax on what was invoiced.
WITH months AS (
    SELECT CAST(month_start AS DATE) AS month_start
    FROM UNNEST(GENERATE_SERIES(:from_month, :to_month, INTERVAL '1' MONTH)) AS t(month_start)
),
invoice_currency AS (
    SELECT invoice_id, currency FROM invoices
    WHERE tenant_id = :tenant_id AND (:currency IS NULL OR currency = :currency)
),
amounts AS (
    SELECT CAST(date_trunc('month', issued_at) AS DATE) AS month_start, currency,
           total AS invoiced, 0 AS voided, 0 AS collected, 0 AS refunded, 0 AS written_off, tax
    FROM invoices WHERE tenant_id = :tenant_id AND (:currency IS NULL OR currency = :currency)
    UNION ALL
    SELECT CAST(date_trunc('month', voided_at) AS DATE), currency, 0, -total, 0, 0, 0, 0
    FROM invoices WHERE tenant_id = :tenant_id AND voided_at IS NOT NULL AND (:currency IS NULL OR currency = :currency)
    UNION ALL
    SELECT CAST(date_trunc('month', e.occurred_at) AS DATE), i.currency,
           0, 0,
           CASE WHEN e.type = 'invoice.payment_succeeded' THEN e.amount
                WHEN e.type = 'payment.reversed' THEN -e.amount ELSE 0 END,
           CASE WHEN e.type = 'invoice.refunded' THEN e.amount ELSE 0 END,
           CASE WHEN e.type = 'invoice.marked_uncollectible' THEN e.amount ELSE 0 END,
           0
    FROM invoice_events e
    JOIN invoice_currency i ON i.invoice_id = e.invoice_id
    WHERE e.tenant_id = :tenant_id
      AND e.type IN ('invoice.payment_succeeded', 'payment.reversed', 'invoice.refunded', 'invoice.marked_uncollectible')
)
SELECT m.month_start AS month,
       c.currency,
       COALESCE(SUM(a.invoiced), 0) AS invoiced,
       COALESCE(SUM(a.voided), 0) AS voided,
       COALESCE(SUM(a.collected), 0) AS collected,
       COALESCE(SUM(a.refunded), 0) AS refunded,
       COALESCE(SUM(a.written_off), 0) AS written_off,
       COALESCE(SUM(a.tax), 0) AS tax
FROM months m
CROSS JOIN (SELECT DISTINCT currency FROM invoice_currency) c
LEFT JOIN amounts a ON a.month_start = m.month_start AND a.currency = c.currency
GROUP BY m.month_start, c.currency
ORDER BY c.currency, m.month_start
