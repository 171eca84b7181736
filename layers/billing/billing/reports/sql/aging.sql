-- Receivables aging: what customers owe at the end of :as_of (UTC), by days past due, per customer and per currency.
-- An invoice owes what it asked for at issue, less what payments counted against it, plus what lost disputes took
-- back, up to the cutoff; a void or written-off invoice owes nothing. Rows with customer_id NULL are the totals.
WITH open_invoices AS (
    SELECT i.invoice_id, i.customer_id, i.currency, i.owed, i.due_date
    FROM invoices i
    WHERE i.tenant_id = :tenant_id
      AND i.issued_at < :cutoff
      AND (i.voided_at IS NULL OR i.voided_at >= :cutoff)
      AND (:currency IS NULL OR i.currency = :currency)
),
moves AS (
    SELECT e.invoice_id,
           SUM(CASE WHEN e.type = 'invoice.payment_succeeded' THEN -e.applied
                    WHEN e.type = 'invoice.reopened' THEN e.amount
                    WHEN e.type = 'credit_note.issued' THEN -e.applied
                    ELSE 0 END) AS moved,
           MAX(CASE WHEN e.type = 'invoice.marked_uncollectible' THEN 1 ELSE 0 END) AS written_off
    FROM invoice_events e
    WHERE e.tenant_id = :tenant_id AND e.occurred_at < :cutoff
    GROUP BY e.invoice_id
),
owing AS (
    SELECT o.customer_id, o.currency, o.owed + COALESCE(m.moved, 0) AS open_amount,
           date_diff('day', o.due_date, :as_of) AS days_past_due
    FROM open_invoices o
    LEFT JOIN moves m ON m.invoice_id = o.invoice_id
    WHERE COALESCE(m.written_off, 0) = 0
)
SELECT w.currency,
       w.customer_id,
       CASE WHEN GROUPING(w.customer_id) = 0 THEN MAX(c.name) END AS customer_name,
       SUM(CASE WHEN w.days_past_due <= 0 THEN w.open_amount ELSE 0 END) AS not_due,
       SUM(CASE WHEN w.days_past_due BETWEEN 1 AND 30 THEN w.open_amount ELSE 0 END) AS days_1_30,
       SUM(CASE WHEN w.days_past_due BETWEEN 31 AND 60 THEN w.open_amount ELSE 0 END) AS days_31_60,
       SUM(CASE WHEN w.days_past_due BETWEEN 61 AND 90 THEN w.open_amount ELSE 0 END) AS days_61_90,
       SUM(CASE WHEN w.days_past_due > 90 THEN w.open_amount ELSE 0 END) AS days_over_90,
       SUM(w.open_amount) AS total,
       COUNT(*) AS invoices
FROM owing w
LEFT JOIN (SELECT customer_id, name FROM customers WHERE tenant_id = :tenant_id) c ON c.customer_id = w.customer_id
WHERE w.open_amount > 0
GROUP BY GROUPING SETS ((w.currency), (w.currency, w.customer_id))
ORDER BY w.currency, w.customer_id NULLS FIRST
