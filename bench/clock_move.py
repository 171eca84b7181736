"""How long the local stack takes to move its clock a month: every schedule fire on the way (hourly billing runs,
3-hourly reconciliation, the daily dunning sweep) invoked in order, the queues settled after each.

The stack is the one `make serve` starts (moto in this process, localstripe beside it), with a tenant, the demo's
three customers and their open invoices, and a subscriber on a monthly plan, so that the month bills a period and
chases the invoices. Figures go to docs/benchmarks.md (section ``bench.clock_move``).

Usage: python -m bench.clock_move [--days 31]
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from bench._doc import machine, table, update
from infra.local.__main__ import create_tenant
from infra.local.demo import BUYERS, Storefront
from infra.local.stack import LocalStack


def populate(stack: LocalStack, api_key: str) -> None:
    shop = Storefront(stack.api_url, api_key)
    for customer_body, lines, _ in BUYERS:
        customer = shop.post("/v1/customers", customer_body)
        order = {"customer_id": customer["id"], "currency": customer_body["currency"], "lines": lines}
        shop.post("/v1/orders", {**order, "collection_method": "send_invoice", "days_until_due": 14})
    subscriber = shop.post(
        "/v1/customers", {"email": "sub@example.com", "name": "Sub", "locale": "en", "currency": "usd"}
    )
    prices = [{"currency": "usd", "scheme": "per_unit", "amount": 1500}]
    plan = shop.post("/v1/plans", {"name": "Team", "interval": {"unit": "month", "count": 1}, "prices": prices})
    body = {"customer_id": subscriber["id"], "items": [{"plan_id": plan["id"], "quantity": 3}]}
    shop.post("/v1/subscriptions", {**body, "collection_method": "send_invoice", "days_until_due": 30})
    shop.post("/_local/drain")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--days", type=int, default=31)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    with tempfile.TemporaryDirectory() as state:
        stack = LocalStack(Path(state) / "stack").start(background=False)
        try:
            _, api_key = create_tenant(stack, "Bench")
            populate(stack, api_key)
            started = time.perf_counter()
            fired = stack.runtime.advance(timedelta(days=args.days))
            seconds = time.perf_counter() - started
            invocations = dict(stack.runtime.invocations)
        finally:
            stack.stop()
    per_schedule: dict[str, int] = {}
    for fire in fired:
        name = fire["schedule"].removeprefix("billing-local-")
        per_schedule[name] = per_schedule.get(name, 0) + 1
    rows = [[name, count] for name, count in sorted(per_schedule.items())]
    print(f"{args.days} days: {len(fired)} fires in {seconds:.1f} s ({1000 * seconds / len(fired):.1f} ms a fire)")
    body = f"""## 4. Moving the local clock a month

{args.days} days on the local stack (`python -m bench.clock_move`): a tenant with the demo's three open invoices and
a monthly subscriber; `runtime.advance(timedelta(days={args.days}))` replays every schedule fire in order and
settles the queues after each. {machine()}.

**{len(fired):,} fires in {seconds:.1f} s, {1000 * seconds / len(fired):.1f} ms a fire**
({sum(invocations.values()):,} function invocations in all, the API's included).

{table(["schedule", "fires"], rows)}

What a fire costs is moto's: an hourly billing run is one Query per billing shard (8) plus the run's record (2
calls), and moto answers a Query on an index by going through every item of the table, so a fire costs more as the
month fills the table. Three changes to the local stack (2026-12-02, this machine): the functions reach moto
in-process (no socket); the pollers peek at queue depth and stream length before asking; a Query no longer sorts
the whole table first (infra/local/aws.py). This month took 50.9 s with the first two, 22.8 s with all three; an
idle stack's 31 days took 148.3 s before any of them and 40.2 s after the first two (those two measured while
other suites shared the 2 cores).
"""
    update("bench.clock_move", body)


if __name__ == "__main__":
    main()
