"""The reports on DuckDB at 10k, 100k and 1M invoices: Parquet bytes, the time of every report's query, and what
Athena would scan and cost.

Facts are generated directly (not through the API), as ``billing.reports.facts`` makes them from the table: 24
months from 2025-01; subscriptions that each get one invoice a month until they churn (2 % a month), started over
the months so that the number of invoices is N; 10 tenants, one of them with 90 % of everything (the reports run
per tenant: that one is the worst case; the smallest is shown beside it). Per invoice, in proportions chosen to be
plausible for B2B SaaS: a tax line (0, 7.5 or 20 %), its finalized event; 93 % paid (a payment and its events), 10 %
past due first (dunning steps with card retries; 8 % of invoices have 1 to 3 failed payments with a decline code),
2 % written off, 1 % voided, 1 % refunded in part (a credit note and its event); 10 % of subscriptions change
quantity once (expansion or contraction) and every churn is an MRR change to 0.

Written with ``store.write`` (one Parquet file per table, tenant and month, as the analytics export writes them),
then each SQL file in ``reports/sql`` run with ``engine.run`` on a DuckDB connection over the tenant's files
(``store.attach``): one warm-up, then the median of 3 runs. The params are the dashboard's: the last 12 months, the
aging at the last day, the statement of the tenant's first customer in USD.

The export's conversion: real items (made through the API on moto) exported by moto, repeated, read back and made
into facts as ``services.analytics`` does, per item.

Athena on paper: the Parquet column sizes (``parquet_metadata``) of the columns each query reads (sqlglot resolves
every column to its table; a table read twice is counted twice, as Trino scans it twice), per month of data.

    python -m bench.reports [--invoices 10000 100000 1000000] [--no-doc]
"""

from __future__ import annotations

import argparse
import random
import resource
import shutil
import statistics
import tempfile
import time
from collections import defaultdict
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from bench._doc import machine, table, update

START = date(2025, 1, 1)
MONTHS = 24
TENANTS = [f"ten_{i:02d}" for i in range(10)]
BIG_SHARE = 0.9
CHURN = 0.02
PRICES = [2900, 4900, 9900, 19900]
RATES = [("0", 0.3), ("7.5", 0.2), ("20", 0.5)]
CURRENCIES = [("usd", 0.8), ("eur", 0.15), ("jpy", 0.05)]
DECLINES = ["insufficient_funds", "card_declined", "expired_card", "do_not_honor", "incorrect_cvc"]


def _month_start(index: int) -> date:
    year, month = divmod(START.month - 1 + index, 12)
    return date(START.year + year, month + 1, 1)


def _ts(moment: datetime) -> str:
    return moment.isoformat(sep=" ")


def _pick(rng: random.Random, weighted: list[tuple[str, float]]) -> str:
    return rng.choices([v for v, _ in weighted], [w for _, w in weighted])[0]


def generate(invoices: int, seed: int = 14, tenants: list[str] | None = None) -> dict[str, list[dict[str, Any]]]:
    """About ``invoices`` invoices' facts (exactly, unless the last subscription's run overshoots by a few)."""
    from billing.reports.facts import TABLES

    tenants = tenants or TENANTS
    rng = random.Random(seed)
    facts: dict[str, list[dict[str, Any]]] = {t: [] for t in TABLES}
    weights = [BIG_SHARE] + [(1 - BIG_SHARE) / (len(tenants) - 1)] * (len(tenants) - 1)
    counters: dict[str, int] = defaultdict(int)
    made = 0
    sub = 0
    while made < invoices:
        sub += 1
        tenant = rng.choices(tenants, weights)[0]
        start_month = rng.randrange(MONTHS)
        customer, subscription = f"cus_{sub:07d}", f"sub_{sub:07d}"
        currency = _pick(rng, CURRENCIES)
        rate = _pick(rng, RATES)
        price = rng.choice(PRICES)
        quantity = rng.randint(1, 5)
        automatic = rng.random() < 0.6
        day = rng.randint(1, 28)
        created = datetime.combine(_month_start(start_month).replace(day=day), datetime.min.time()) + timedelta(
            hours=rng.randint(8, 18)
        )
        row = {"tenant_id": tenant, "month": created.strftime("%Y-%m")}
        facts["customers"].append(
            {
                **row,
                "customer_id": customer,
                "name": f"Customer {sub}",
                "currency": currency,
                "created_at": _ts(created),
            }
        )
        changes = facts["mrr_changes"]
        who = (tenant, subscription, customer, currency)
        _mrr(changes, who, created, price * quantity, "active")
        change_at = start_month + rng.randint(1, 12) if rng.random() < 0.1 else None
        for month in range(start_month, MONTHS):
            if made >= invoices:
                break
            issued = datetime.combine(_month_start(month).replace(day=day), datetime.min.time()) + timedelta(
                hours=created.hour, minutes=10
            )
            if month == change_at:
                quantity = max(1, quantity + rng.choice([-2, -1, 1, 2, 3]))
                _mrr(changes, who, issued - timedelta(days=rng.randint(1, 20)), price * quantity, "active")
            made += 1
            counters[tenant] += 1
            _invoice(
                rng,
                facts,
                tenant,
                customer,
                subscription,
                currency,
                rate,
                price * quantity,
                issued,
                automatic,
                f"INV-{issued.year}-{counters[tenant]:07d}",
                counters,
            )
            if rng.random() < CHURN:
                _mrr(changes, who, issued + timedelta(days=rng.randint(1, 27)), 0, "canceled")
                break
    return facts


def _mrr(changes: list[dict[str, Any]], who: tuple[str, str, str, str], at: datetime, value: int, status: str) -> None:
    tenant, subscription, customer, currency = who
    changes.append(
        {
            "tenant_id": tenant,
            "month": at.strftime("%Y-%m"),
            "subscription_id": subscription,
            "customer_id": customer,
            "currency": currency,
            "status": status,
            "mrr": value,
            "changed_at": _ts(at),
            "version": 1 + sum(1 for c in changes[-3:] if c["subscription_id"] == subscription),
        }
    )


def _invoice(rng, facts, tenant, customer, subscription, currency, rate, subtotal, issued, automatic, number, counters):
    invoice = f"in_{tenant}_{counters[tenant]:07d}"
    discount = subtotal // 10 if rng.random() < 0.1 else 0
    taxable = subtotal - discount
    tax = round(taxable * float(rate) / 100)
    total = taxable + tax
    due = issued.date() + timedelta(days=0 if automatic else 14)
    voided = rng.random() < 0.01
    voided_at = issued + timedelta(days=rng.randint(1, 5)) if voided else None
    roll = rng.random()
    past_due = not voided and roll < 0.10
    written_off = past_due and roll < 0.02
    paid = not voided and not written_off
    status = "void" if voided else "uncollectible" if written_off else "paid" if paid else "open"
    base = {"tenant_id": tenant, "invoice_id": invoice, "currency": currency}

    def at(moment: datetime) -> str:
        return moment.strftime("%Y-%m")

    facts["invoices"].append(
        {
            **base,
            "month": at(issued),
            "number": number,
            "customer_id": customer,
            "subscription_id": subscription,
            "status": status,
            "subtotal": subtotal,
            "discount": discount,
            "tax": tax,
            "total": total,
            "credit_applied": 0,
            "owed": total,
            "issued_at": _ts(issued),
            "due_date": due.isoformat(),
            "voided_at": _ts(voided_at) if voided_at else None,
        }
    )
    facts["invoice_taxes"].append(
        {**base, "month": at(issued), "issued_at": _ts(issued), "tax_rate": rate, "taxable": taxable, "tax": tax}
    )
    events = facts["invoice_events"]
    seq = 0

    def event(kind: str, moment: datetime, **data: Any) -> None:
        nonlocal seq
        seq += 1
        events.append(
            {
                "tenant_id": tenant,
                "month": at(moment),
                "event_id": f"evt_{invoice}_{seq}",
                "invoice_id": invoice,
                "type": kind,
                "occurred_at": _ts(moment),
                "amount": data.get("amount"),
                "applied": data.get("applied"),
                "step": data.get("step"),
                "charge_outcome": data.get("outcome"),
                "decline_code": data.get("decline"),
            }
        )

    def payment(moment: datetime, ok: bool, decline: str | None = None) -> None:
        facts["payments"].append(
            {
                **base,
                "month": at(moment),
                "payment_id": f"pay_{invoice}_{seq}_{int(ok)}",
                "customer_id": customer,
                "amount": total,
                "status": "succeeded" if ok else "failed",
                "method": "card" if automatic else "link",
                "decline_code": decline,
                "created_at": _ts(moment),
                "updated_at": _ts(moment + timedelta(seconds=3)),
            }
        )

    event("invoice.finalized", issued, amount=total)
    if voided_at:
        event("invoice.voided", voided_at, amount=total)
        return
    failures = rng.randint(1, 3) if past_due or rng.random() < 0.02 else 0
    moment = issued + timedelta(minutes=1)
    for _ in range(failures):
        payment(moment, False, rng.choice(DECLINES))
        moment += timedelta(days=1)
    dunning_start = datetime.combine(due + timedelta(days=1), issued.time())
    if past_due:
        event("invoice.past_due", dunning_start, amount=total)
        steps = rng.randint(1, 3)
        for step in range(steps):
            when = dunning_start + timedelta(days=2 * step)
            outcome = "succeeded" if paid and step == steps - 1 and rng.random() < 0.5 else "failed"
            decline = None if outcome == "succeeded" else rng.choice(DECLINES)
            event("invoice.dunning_step", when, step=step, outcome=outcome, decline=decline)
        moment = dunning_start + timedelta(days=2 * steps)
    if written_off:
        event("invoice.marked_uncollectible", dunning_start + timedelta(days=60), amount=total)
        return
    if paid:
        paid_at = moment if past_due else issued + timedelta(days=0 if automatic else rng.randint(1, 20), minutes=2)
        payment(paid_at, True)
        event("invoice.payment_succeeded", paid_at, amount=total, applied=total)
        event("invoice.paid", paid_at + timedelta(seconds=1))
        if rng.random() < 0.01:
            refunded_at = paid_at + timedelta(days=rng.randint(1, 30))
            amount = max(1, total // 4)
            facts["credit_notes"].append(
                {
                    **base,
                    "month": at(refunded_at),
                    "credit_note_id": f"cn_{invoice}",
                    "number": f"CN-{invoice}",
                    "customer_id": customer,
                    "amount": amount,
                    "reason": "requested_by_customer",
                    "created_at": _ts(refunded_at),
                }
            )
            event("invoice.refunded", refunded_at, amount=amount)


def typical_params(tenant_id: str, customer_id: str) -> dict[str, Any]:
    """The dashboard's window: the last 12 of the 24 months, the aging at their last day, a statement in USD."""
    from billing.reports.catalog import Window

    end = _month_start(MONTHS) - timedelta(days=1)
    window = Window(tenant_id, _month_start(MONTHS - 12), end, end, None, customer_id)
    return {**window.params(), "currency": None}


def params_for(name: str, tenant_id: str, customer_id: str) -> dict[str, Any]:
    from billing.reports import engine

    params = typical_params(tenant_id, customer_id)
    if name == "statement":
        params["currency"] = "usd"
    return {k: v for k, v in params.items() if k in engine.parameters(name)}


# --- measuring ---------------------------------------------------------------------------------------------------
def time_reports(root: Path, tenant_id: str, customer_id: str, runs: int = 3) -> dict[str, tuple[float, int]]:
    """Each report's median seconds over ``runs`` (after one warm-up) and its row count, on the tenant's files."""
    import duckdb

    from billing.reports import engine, store

    out = {}
    con = duckdb.connect()
    store.attach(con, root, tenant_id)
    for name in engine.names():
        params = params_for(name, tenant_id, customer_id)
        rows = engine.run(con, name, params)
        times = []
        for _ in range(runs):
            started = time.perf_counter()
            engine.run(con, name, params)
            times.append(time.perf_counter() - started)
        out[name] = (statistics.median(times), len(rows))
    return out


def column_bytes(root: Path) -> dict[tuple[str, str], int]:
    """Compressed bytes of each (table, column) over every Parquet file under ``root``."""
    import duckdb

    from billing.reports.facts import TABLES

    sizes: dict[tuple[str, str], int] = defaultdict(int)
    con = duckdb.connect()
    for name in TABLES:
        files = str(root / name / "**" / "*.parquet")
        for column, size in con.execute(
            "SELECT path_in_schema, SUM(total_compressed_size) FROM parquet_metadata(?) GROUP BY 1", [files]
        ).fetchall():
            sizes[(name, column)] += int(size)
    return sizes


def columns_read(name: str) -> list[tuple[str, set[str]]]:
    """Each scan of a fact table the query makes (a table read in a CTE referenced twice is read twice) and the
    columns it reads (partition columns left out: they are in the path, not in the files)."""
    import sqlglot
    from sqlglot import exp
    from sqlglot.optimizer.qualify import qualify
    from sqlglot.optimizer.scope import traverse_scope

    from billing.reports import engine
    from billing.reports.facts import PARTITIONS, TABLES

    schema = {t: {**{p: "VARCHAR" for p in PARTITIONS}, **cols} for t, cols in TABLES.items()}
    tree = qualify(
        sqlglot.parse_one(engine.to_duckdb(name, params_for(name, "t", "c")), read="duckdb"),
        schema=schema,
        dialect="duckdb",
    )
    ctes = {cte.alias for cte in tree.find_all(exp.CTE)}

    def enclosing_cte(node: exp.Expression) -> str | None:
        while node is not None and not isinstance(node, exp.CTE):
            node = node.parent
        return node.alias if node is not None else None

    def inlined(cte: str | None) -> int:  # how many times Trino runs this CTE's query (it inlines every reference)
        if cte is None:
            return 1
        return sum(inlined(enclosing_cte(t)) for t in tree.find_all(exp.Table) if t.name == cte)

    scans: list[tuple[str, set[str]]] = []
    for scope in traverse_scope(tree):
        for alias, (_, source) in scope.selected_sources.items():
            if isinstance(source, exp.Table) and source.name in TABLES and source.name not in ctes:
                used = {c.name for c in scope.columns if c.table == alias} - set(PARTITIONS)
                scans.extend([(source.name, used)] * inlined(enclosing_cte(scope.expression)))
    return scans


def conversion(copies: int = 400) -> dict[str, float]:
    """What the analytics export's conversion costs per item: a table of real items (a customer's orders through the
    API on moto: invoices, their events, the customer), exported by moto, its lines repeated ``copies`` times in one
    gzipped file, then read back (``export.read_items``, only the fact items deserialized), made into facts
    (``facts_from_items``) and digested (``export.digest``), as ``services.analytics`` does."""
    import gzip
    import io

    import boto3
    from moto import mock_aws

    import bench.dynamodb_calls as calls
    from billing.reports import export
    from billing.reports.facts import facts_from_items
    from billing.services.analytics import FACT_ITEM_TYPES

    with mock_aws():
        shop = calls.Bench()
        customer = shop.request("POST", "/v1/customers", body=calls.CUSTOMER)[1]["id"]
        for i in range(20):
            order = shop.request("POST", "/v1/orders", body=shop.order_body(customer))[1]
            if i % 5 == 0:
                shop.request("POST", f"/v1/invoices/{order['invoice_id']}/void")
        dynamodb, s3 = boto3.client("dynamodb"), boto3.client("s3")
        dynamodb.update_continuous_backups(
            TableName=calls.TABLE, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
        )
        s3.create_bucket(Bucket="bench-analytics")
        arn = dynamodb.describe_table(TableName=calls.TABLE)["Table"]["TableArn"]
        dynamodb.export_table_to_point_in_time(TableArn=arn, S3Bucket="bench-analytics", S3Prefix="exports/one")
        while dynamodb.list_exports(TableArn=arn)["ExportSummaries"][0]["ExportStatus"] == "IN_PROGRESS":
            time.sleep(0.05)
        [key] = export.data_files(s3, "bench-analytics", "exports/one")
        lines = gzip.decompress(s3.get_object(Bucket="bench-analytics", Key=key)["Body"].read())
        items = lines.count(b"\n")
        kept = sum(1 for _ in export.read_items(s3, "bench-analytics", "exports/one", FACT_ITEM_TYPES))
        buffer = io.BytesIO()
        with gzip.GzipFile(fileobj=buffer, mode="wb") as out:
            for _ in range(copies):
                out.write(lines)
        s3.put_object(Bucket="bench-analytics", Key="exports/many/AWSDynamoDB/x/data/x.json.gz", Body=buffer.getvalue())
        started = time.perf_counter()
        facts = facts_from_items(export.read_items(s3, "bench-analytics", "exports/many", FACT_ITEM_TYPES))
        made = time.perf_counter() - started
        started = time.perf_counter()
        export.digest(facts)
        digested = time.perf_counter() - started
        shop.deps.context  # noqa: B018 - keep the bench's deps alive to the end
    rows = sum(len(r) for r in facts.values())
    return {
        "items": items * copies,
        "fact_items": kept * copies,
        "rows": rows,
        "read_and_made_s": made,
        "digest_s": digested,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--invoices", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--keep", type=Path, help="write the facts here (kept) instead of a temporary directory")
    parser.add_argument("--no-doc", action="store_true")
    args = parser.parse_args()
    converted = conversion()
    per_item_us = converted["read_and_made_s"] / converted["items"] * 1e6
    per_row_us = converted["digest_s"] / converted["rows"] * 1e6
    print(converted, f"{per_item_us:.1f} µs an item, digest {per_row_us:.1f} µs a row", flush=True)

    from billing.reports import engine, store

    sizes_rows, timing_rows, athena_rows = [], [], []
    timings: dict[int, dict[str, dict[str, tuple[float, int]]]] = {}
    tenants_of: dict[int, tuple[str, str]] = {}
    largest: tuple[int, Path, dict] | None = None
    scratch = Path(tempfile.mkdtemp(prefix="bench-reports-"))
    try:
        for n in args.invoices:
            root = (args.keep or scratch) / f"n{n}"
            shutil.rmtree(root, ignore_errors=True)
            started = time.perf_counter()
            facts = generate(n)
            generated = time.perf_counter() - started
            started = time.perf_counter()
            rows = store.write(facts, root)
            written = time.perf_counter() - started
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6  # GB (kB on Linux); sizes only grow
            files = list(root.rglob("*.parquet"))
            total = sum(f.stat().st_size for f in files)
            per_table = {t: len(r) for t, r in facts.items()}
            big = next(f for f in facts["invoices"] if f["tenant_id"] == TENANTS[0])["customer_id"]
            small = next(f for f in facts["invoices"] if f["tenant_id"] == TENANTS[-1])["customer_id"]
            big_invoices = sum(1 for f in facts["invoices"] if f["tenant_id"] == TENANTS[0])
            small_invoices = sum(1 for f in facts["invoices"] if f["tenant_id"] == TENANTS[-1])
            del facts
            sizes_rows.append(
                [
                    f"{n:,}",
                    f"{rows:,}",
                    f"{per_table['invoice_events']:,}",
                    f"{per_table['payments']:,}",
                    f"{len(files):,}",
                    f"{total / 1e6:.1f}",
                    f"{total / rows:.0f}",
                    f"{generated:.1f}",
                    f"{written:.1f}",
                    f"{peak:.1f}",
                ]
            )
            timings[n] = {
                f"{TENANTS[0]} ({big_invoices:,} invoices)": time_reports(root, TENANTS[0], big),
                f"{TENANTS[-1]} ({small_invoices:,} invoices)": time_reports(root, TENANTS[-1], small),
            }
            print(f"{n:,} invoices: {rows:,} rows, {total / 1e6:.1f} MB in {len(files)} files", flush=True)
            for who, report in timings[n].items():
                print("  ", who, {k: f"{v[0] * 1000:.0f} ms" for k, v in report.items()}, flush=True)
            largest = (n, root, per_table)
        for n in args.invoices:
            (big_who, big_times), (small_who, small_times) = timings[n].items()
            for name in engine.names():
                timing_rows.append(
                    [
                        f"{n:,}",
                        name,
                        f"{big_times[name][0] * 1000:,.0f}",
                        f"{big_times[name][1]:,}",
                        f"{small_times[name][0] * 1000:,.0f}",
                        f"{small_times[name][1]:,}",
                    ]
                )
            tenants_of[n] = (big_who, small_who)
        assert largest is not None
        n, root, per_table = largest
        sizes = column_bytes(root)
        for name in engine.names():
            scanned = sum(sizes.get((t, c), 0) for t, cols in columns_read(name) for c in cols)
            per_month = scanned / MONTHS
            big_run = scanned * BIG_SHARE
            athena_rows.append(
                [
                    name,
                    f"{len(columns_read(name))}",
                    f"{per_month / 1e6:.2f}",
                    f"{big_run / 1e6:.1f}",
                    f"{max(big_run, 10e6) / 1e12 * 5:.5f}",
                    f"{max(scanned * (1 - BIG_SHARE) / 9, 10e6) / 1e12 * 5:.5f}",
                ]
            )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    who = "; ".join(f"{n:,}: big {big}, small {small}" for n, (big, small) in tenants_of.items())
    body = "\n\n".join(
        [
            f"Machine: {machine()}.",
            "**Facts and their Parquet** (all 10 tenants, 24 months; written with `store.write`; the peak RSS is "
            "the process's with every row in memory, as the analytics export holds them while it writes):",
            table(
                [
                    "invoices",
                    "rows",
                    "events",
                    "payments",
                    "files",
                    "MB",
                    "bytes/row",
                    "generate s",
                    "write s",
                    "peak RSS GB",
                ],
                sizes_rows,
            ),
            "**Each report on DuckDB** (median of 3 after a warm-up; the big tenant holds 90 % of the invoices, the "
            f"small one about 1 % ({who}); the last 12 months, the aging at the last day, a statement in USD):",
            table(["invoices", "report", "big tenant ms", "rows", "small tenant ms", "rows"], timing_rows, "llrrrr"),
            f"**The export's conversion** (`conversion()`: real items from the API on moto, exported by moto, "
            f"repeated to {converted['items']:,} lines of one gzipped file): read back and made into "
            f"{converted['rows']:,} fact rows in {converted['read_and_made_s']:.2f} s, {per_item_us:.1f} µs an item "
            f"({converted['fact_items']:,} of them fact items, the others skipped undeserialized); the digest "
            f"{per_row_us:.1f} µs a row. At {largest[0]:,} invoices ({sum(largest[2].values()):,} rows, about as many "
            f"fact items) that is about {sum(largest[2].values()) * (per_item_us + per_row_us) / 1e6:.0f} s before "
            "the Parquet write above, S3's reads not counted.",
            f"**Athena on paper at {n:,} invoices**: the compressed bytes of the columns each query reads "
            f"(`parquet_metadata`), per month of data (all tenants), and one run for the big tenant and for a "
            "small one (every month of theirs: the queries filter by instant, not by the `month` partition), at "
            "$5 per TB with Athena's 10 MB minimum per query:",
            table(
                [
                    "report",
                    "table scans",
                    "MB per month of data",
                    "MB, big tenant's run",
                    "$ big tenant",
                    "$ small tenant",
                ],
                athena_rows,
            ),
        ]
    )
    print(body)
    if not args.no_doc:
        update("bench.reports", body)


if __name__ == "__main__":
    main()
