-- A customer's statement for :from_date to :to_date (UTC days, both included): every entry that moved what the
-- customer owes, with the balance after it. Positive is owed by the customer, negative is the customer's credit.
-- Entries before :from_date make the opening balance (the row with entry 'opening_balance').
WITH own_invoices AS (
    SELECT invoice_id, number, currency, total, issued_at, voided_at
    FROM invoices
    WHERE tenant_id = :tenant_id AND customer_id = :customer_id
),
entries AS (
    SELECT issued_at AS at, 'invoice' AS entry, number AS reference, number AS invoice_number, total AS amount,
           currency
    FROM own_invoices
    UNION ALL
    SELECT voided_at, 'invoice_voided', number, number, -total, currency FROM own_invoices WHERE voided_at IS NOT NULL
    UNION ALL
    SELECT e.occurred_at,
           CASE e.type WHEN 'invoice.payment_succeeded' THEN 'payment'
                       WHEN 'invoice.reopened' THEN 'payment_reversed'
                       ELSE 'written_off' END,
           e.event_id, i.number,
           CASE e.type WHEN 'invoice.payment_succeeded' THEN -e.amount
                       WHEN 'invoice.reopened' THEN e.amount
                       ELSE -e.amount END,
           i.currency
    FROM invoice_events e
    JOIN own_invoices i ON i.invoice_id = e.invoice_id
    WHERE e.tenant_id = :tenant_id
      AND e.type IN ('invoice.payment_succeeded', 'invoice.reopened', 'invoice.marked_uncollectible')
    UNION ALL  -- a reversed offline payment's part that had gone to credit (its part owed again is the reopening)
    SELECT e.occurred_at, 'payment_reversed', e.event_id, i.number, e.amount - COALESCE(e.applied, 0), i.currency
    FROM invoice_events e
    JOIN own_invoices i ON i.invoice_id = e.invoice_id
    WHERE e.tenant_id = :tenant_id AND e.type = 'payment.reversed' AND e.amount > COALESCE(e.applied, 0)
    UNION ALL
    SELECT n.created_at, 'credit_note', n.number, i.number, -n.amount, n.currency
    FROM credit_notes n JOIN own_invoices i ON i.invoice_id = n.invoice_id
    WHERE n.tenant_id = :tenant_id
    UNION ALL
    SELECT n.created_at, 'refund', n.number, i.number, n.amount, n.currency
    FROM credit_notes n JOIN own_invoices i ON i.invoice_id = n.invoice_id
    WHERE n.tenant_id = :tenant_id AND COALESCE(n.kind, 'refund') = 'refund'  -- a credit gives no money back
),
opening AS (
    SELECT CAST(:from_date AS TIMESTAMP) AS at, 'opening_balance' AS entry, CAST(NULL AS VARCHAR) AS reference,
           CAST(NULL AS VARCHAR) AS invoice_number, COALESCE(SUM(amount), 0) AS amount, :currency AS currency
    FROM entries
    WHERE at < CAST(:from_date AS TIMESTAMP) AND currency = :currency
),
shown AS (
    SELECT at, entry, reference, invoice_number, amount, currency, 0 AS position FROM opening
    UNION ALL
    SELECT at, entry, reference, invoice_number, amount, currency, 1 FROM entries
    WHERE at >= CAST(:from_date AS TIMESTAMP) AND at < :to_cutoff AND currency = :currency
)
SELECT at, entry, reference, invoice_number, amount,
       SUM(amount) OVER (ORDER BY position, at, entry, reference ROWS UNBOUNDED PRECEDING) AS balance
FROM shown
ORDER BY position, at, entry, reference
