-- Tax collected per rate, per month and currency: what was taxed (without tax, after discounts) and the tax, on the
-- invoices issued in the month. A rate object is its own row (its id, name, jurisdiction, exclusive or inclusive);
-- free-form percents (and invoices from before rate objects) are one row per percent, without an id.
WITH months AS (
    SELECT CAST(month_start AS DATE) AS month_start
    FROM UNNEST(GENERATE_SERIES(:from_month, :to_month, INTERVAL '1' MONTH)) AS t(month_start)
)
SELECT m.month_start AS month, x.currency, x.tax_rate, x.tax_rate_id, x.tax_name, x.jurisdiction, x.kind,
    SUM(x.taxable) AS taxable, SUM(x.tax) AS tax
FROM months m
JOIN invoice_taxes x ON CAST(date_trunc('month', x.issued_at) AS DATE) = m.month_start
WHERE x.tenant_id = :tenant_id AND (:currency IS NULL OR x.currency = :currency)
GROUP BY m.month_start, x.currency, x.tax_rate, x.tax_rate_id, x.tax_name, x.jurisdiction, x.kind
ORDER BY x.currency, m.month_start, x.tax_rate, x.tax_rate_id
