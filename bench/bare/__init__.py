"""Cold-start baselines per kind of worker: the smallest handler with the same Powertools parts a function uses
(Logger.inject_lambda_context, Tracer, Metrics, and its event source's data class, parser model or batch processor),
and nothing of ours. bench.cold_start times each function's handler module against its own baseline here; the API's
is bench.bare_powertools_validated."""
