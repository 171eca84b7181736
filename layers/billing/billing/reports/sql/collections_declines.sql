-- Decline codes: per code of failed payment attempts made in the range, the attempts, the invoices they were for,
-- and how many of those invoices were paid in the end (the codes that recover, and those that do not).
WITH own AS (
    SELECT invoice_id, currency, status FROM invoices
    WHERE tenant_id = :tenant_id AND (:currency IS NULL OR currency = :currency)
),
failed AS (
    SELECT p.invoice_id, o.currency, COALESCE(p.decline_code, 'unknown') AS decline_code
    FROM payments p JOIN own o ON o.invoice_id = p.invoice_id
    WHERE p.tenant_id = :tenant_id AND p.status = 'failed'
      AND p.created_at >= CAST(:from_month AS TIMESTAMP)
      AND p.created_at < CAST(CAST(:to_month AS DATE) + INTERVAL '1' MONTH AS TIMESTAMP)
)
SELECT f.currency, f.decline_code,
       COUNT(*) AS attempts,
       COUNT(DISTINCT f.invoice_id) AS invoices,
       COUNT(DISTINCT CASE WHEN o.status = 'paid' THEN f.invoice_id END) AS invoices_paid
FROM failed f JOIN own o ON o.invoice_id = f.invoice_id
GROUP BY f.currency, f.decline_code
ORDER BY f.currency, attempts DESC, f.decline_code
