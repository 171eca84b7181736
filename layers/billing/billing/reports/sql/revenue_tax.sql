-- Tax per rate, per month and currency: what was taxed and the tax, on the invoices issued in the month.
WITH months AS (
    SELECT CAST(month_start AS DATE) AS month_start
    FROM UNNEST(GENERATE_SERIES(:from_month, :to_month, INTERVAL '1' MONTH)) AS t(month_start)
)
SELECT m.month_start AS month, x.currency, x.tax_rate, SUM(x.taxable) AS taxable, SUM(x.tax) AS tax
FROM months m
JOIN invoice_taxes x ON CAST(date_trunc('month', x.issued_at) AS DATE) = m.month_start
WHERE x.tenant_id = :tenant_id AND (:currency IS NULL OR x.currency = :currency)
GROUP BY m.month_start, x.currency, x.tax_rate
ORDER BY x.currency, m.month_start, x.tax_rate
