"""Invoice and credit-note PDFs (``billing.documents``): render time, memory, cold start, and the size the renderer
adds to a Lambda layer.

- **Render time**: N renders (default 200) of each sample document in one process, after one warm-up render;
  median and p95 of the wall time, and the median CPU time of the process (all its threads). Each render is of
  another variant (customer, number), as a real run's documents differ. The samples: a one-page invoice (en, USD,
  SVG logo), a three-page one (zh, JPY, 60 lines, PNG logo), a one-page one (ru, KWD, no logo) and a credit note.
- **Memory**: Typst allocates in Rust, where ``tracemalloc`` does not see, so two figures: the Python heap's peak
  during one render (``tracemalloc``), and the process: peak RSS (VmHWM) of a fresh interpreter that imports the
  renderer and renders one document, beside one that only imports it; and the RSS of the process that measures
  the render times, before and after them (does it grow?).
- **Cold start**: K fresh interpreters (default 7, after one discarded warm-up), bytecode precompiled, each timing
  ``import billing.documents``, the compiler's creation (it indexes the fonts), the first render and a second one.
- **Layer size**: ``pip install --target`` of layers/documents/requirements.txt for manylinux2014_aarch64 and
  CPython 3.13, as layers/billing/Makefile builds its layer: installed and zipped size per package, and what the
  billing layer itself weighs beside it (Lambda allows 250 MB unzipped for a function and its layers). Needs PyPI.

    python -m bench.documents [-n 200] [--cold-runs 7] [--no-size] [--no-doc]
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import tracemalloc
import zipfile
import zlib
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

from bench._doc import ROOT, machine, table, update

ISSUED = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
SVG = (
    b'<svg xmlns="http://www.w3.org/2000/svg" width="120" height="40" viewBox="0 0 120 40">'
    b'<rect width="120" height="40" rx="6" fill="#2b59c3"/><circle cx="20" cy="20" r="10" fill="#ffffff"/></svg>'
)
ENV = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": f"{ROOT}:{ROOT / 'layers' / 'billing'}"}
PLATFORM = ["--platform", "manylinux2014_aarch64", "--implementation", "cp", "--python-version", "3.13"]
UNUSED_FONTS = ("NotoSerifSC-Regular.otf", "NotoSans-Italic[wdth,wght].ttf")  # in the packages, never loaded


def png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def samples() -> dict[str, Callable[[int], bytes]]:
    """The documents measured, each a call that renders its i-th variant: another customer, another number, as a
    real run has (Typst memoises layout, so the same document again would be cheaper than a new one). The imports
    are inside: the cold start times them."""
    from billing.documents import render_credit_note_pdf, render_invoice_pdf
    from billing.domain.models import Address, CreditNote, Invoice, RefundPart
    from billing.domain.pricing import Discount, LineInput, price
    from billing.domain.profile import Logo, SellerProfile

    def seller(logo: str | None) -> SellerProfile:
        logos = {
            "svg": Logo(content_type="image/svg+xml", data=base64.b64encode(SVG)),
            "png": Logo(content_type="image/png", data=base64.b64encode(png(300, 100, (200, 30, 60)))),
        }
        return SellerProfile(
            legal_name="Acme Software GmbH",
            address=Address(line1="Friedrichstraße 68", city="Berlin", postal_code="10117", country="DE"),
            tax_id="DE123456789",
            support_email="billing@acme.example",
            logo=logos[logo] if logo else None,
            footer="Registered in Berlin, HRB 12345. IBAN DE89 3704 0044 0532 0130 00.",
        )

    def invoice(lang: str, currency: str, count: int) -> Invoice:
        rates = [Decimal("0"), Decimal("7.5"), Decimal("20")]
        lines = [
            LineInput(
                description=f"Seat {i + 1}, March", quantity=i + 1, unit_amount=4900, tax_rate_percent=rates[i % 3]
            )
            for i in range(count)
        ]
        totals = price(lines, Discount(percent_off=Decimal("10")))
        return Invoice(
            id="in_1",
            tenant_id="ten_1",
            customer_id="cus_1",
            number="INV-2026-000042",
            status="open",
            currency=currency,
            collection_method="send_invoice",
            days_until_due=30,
            lines=totals.lines,
            subtotal=totals.subtotal,
            discount=totals.discount,
            tax=totals.tax,
            total=totals.total,
            amount_due=totals.total,
            issued_at=ISSUED,
            due_date=date(2026, 4, 1),
            customer_email="ivan@example.ru",
            customer_name="Ivan Petrov",
            customer_locale=lang,
            customer_address=Address(line1="ул. Тверская, д. 7", city="Москва", postal_code="125009", country="RU"),
            created_at=ISSUED,
            updated_at=ISSUED,
        )

    note = CreditNote(
        id="cn_1",
        tenant_id="ten_1",
        invoice_id="in_1",
        customer_id="cus_1",
        number="CN-2026-000007",
        currency="usd",
        amount=7500,
        reason="requested_by_customer",
        refunds=[RefundPart(payment_id="pay_1", stripe_refund_id="re_1", amount=7500)],
        created_at=ISSUED,
    )
    url = "https://pay.example.com/i/in_1/tok_abc123"
    en, zh, ru = invoice("en", "usd", 5), invoice("zh", "jpy", 60), invoice("ru", "kwd", 5)
    svg, with_png, plain = seller("svg"), seller("png"), seller(None)

    def variant(doc: Invoice, i: int) -> Invoice:
        return doc.model_copy(update={"number": f"INV-2026-{i:06d}", "customer_name": f"Customer {i}"})

    return {
        "invoice, en, USD, 5 lines, SVG logo": lambda i: render_invoice_pdf(variant(en, i), svg, pay_url=url),
        "invoice, zh, JPY, 60 lines, PNG logo": lambda i: render_invoice_pdf(variant(zh, i), with_png, pay_url=url),
        "invoice, ru, KWD, 5 lines, no logo": lambda i: render_invoice_pdf(variant(ru, i), plain),
        "credit note, en, USD": lambda i: render_credit_note_pdf(
            note.model_copy(update={"number": f"CN-2026-{i:06d}"}), variant(en, i), svg
        ),
    }


def pages(pdf: bytes) -> int:
    return len(re.findall(rb"/Type\s*/Page(?!s)", pdf))


def rss_mb(field: str = "VmRSS") -> float:
    """The process's resident memory now (VmRSS) or at its peak (VmHWM). Not ``ru_maxrss``: Linux carries that over
    from the parent through fork and exec, so a child started by a big parent reports the parent's peak."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def child(mode: str) -> None:
    """Run in a fresh interpreter; prints one JSON line."""
    if mode == "import":
        import billing.documents  # noqa: F401

        print(json.dumps({"peak_mb": rss_mb("VmHWM")}))
        return
    t0 = time.perf_counter()
    import typst  # noqa: F401

    t_typst = time.perf_counter()
    import billing.documents.pdf as pdf

    t1 = time.perf_counter()
    pdf._compiler()
    t2 = time.perf_counter()
    render = next(iter(samples().values()))
    t3 = time.perf_counter()
    render(0)
    t4 = time.perf_counter()
    render(1)
    t5 = time.perf_counter()
    print(
        json.dumps(
            {
                "import": t1 - t0,
                "typst": t_typst - t0,
                "compiler": t2 - t1,
                "first": t4 - t3,
                "second": t5 - t4,
                "peak_mb": rss_mb("VmHWM"),
            }
        )
    )


def in_child(mode: str) -> dict[str, float]:
    proc = subprocess.run(
        [sys.executable, "-m", "bench.documents", "--child", mode],
        cwd=ROOT,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if proc.returncode != 0:
        raise SystemExit(f"child {mode} failed ({proc.returncode}):\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def render_times(runs: int) -> tuple[list[list[object]], list[float]]:
    """The table's rows, and the process's RSS: before the import, after it, after the warm-ups, at the end."""
    rows = []
    rss = [rss_mb()]
    documents = samples()
    rss.append(rss_mb())
    for render in documents.values():
        render(0)  # warm-up: compiler, fonts, template
    rss.append(rss_mb())
    for label, render in documents.items():
        tracemalloc.start()
        pdf = render(1)
        _, heap_peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        times, cpu = [], []
        for i in range(2, runs + 2):
            t, c = time.perf_counter(), time.process_time()
            render(i)
            times.append(time.perf_counter() - t)
            cpu.append(time.process_time() - c)
        times.sort()
        p95 = times[min(len(times) - 1, round(0.95 * len(times)) - 1)]
        median = statistics.median(times)
        rows.append(
            [label, pages(pdf), f"{len(pdf) / 1024:.0f}", f"{median * 1000:.1f}", f"{p95 * 1000:.1f}"]
            + [f"{statistics.median(cpu) * 1000:.1f}", f"{heap_peak / 1024:.0f}"]
        )
        print(f"  {label}: median {median * 1000:.1f} ms, p95 {p95 * 1000:.1f} ms", flush=True)
    return rows, rss + [rss_mb()]


def compile_bytecode() -> None:
    subprocess.run([sys.executable, "-m", "compileall", "-q", "layers/billing", "bench"], cwd=ROOT, check=True)


def cold_starts(runs: int) -> list[dict[str, float]]:
    in_child("cold")  # warm-up, discarded: page cache, fonts read from disk once
    return [in_child("cold") for _ in range(runs)]


def installed(requirements: Path, target: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--requirement"]
        + [str(requirements), "--target", str(target), *PLATFORM, "--only-binary=:all:"],
        check=True,
        capture_output=True,
        text=True,
    )
    for name in ("bin",):  # console scripts: not shipped (layers/billing/Makefile removes them too)
        path = target / name
        if path.exists():
            subprocess.run(["rm", "-rf", str(path)], check=True)


def sizes(target: Path) -> tuple[dict[str, tuple[int, int]], int, int]:
    """Per top-level entry: (installed bytes, deflated bytes); and the totals (as a zip would hold them)."""
    per: dict[str, tuple[int, int]] = {}
    for entry in sorted(target.iterdir()):
        files = [entry] if entry.is_file() else [p for p in entry.rglob("*") if p.is_file()]
        raw = sum(p.stat().st_size for p in files)
        packed = sum(len(zlib.compress(p.read_bytes(), 6)) for p in files)
        per[entry.name] = (raw, packed)
    with tempfile.TemporaryDirectory() as tmp:
        archive = Path(tmp) / "layer.zip"
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z:
            for p in target.rglob("*"):
                if p.is_file():
                    z.write(p, p.relative_to(target))
        zipped = archive.stat().st_size
    return per, sum(raw for raw, _ in per.values()), zipped


def layer_sizes() -> str:
    mb = 1024 * 1024
    with tempfile.TemporaryDirectory() as tmp:
        documents, billing = Path(tmp) / "documents", Path(tmp) / "billing"
        installed(ROOT / "layers" / "documents" / "requirements.txt", documents)
        installed(ROOT / "layers" / "billing" / "requirements.txt", billing)
        for name in ("boto3", "botocore", "s3transfer"):  # left to the Lambda runtime, as layers/billing/Makefile does
            for path in billing.glob(f"{name}*"):
                subprocess.run(["rm", "-rf", str(path)], check=True)
        per, total, zipped = sizes(documents)
        _, billing_total, billing_zipped = sizes(billing)
        unused = sum(p.stat().st_size for name in UNUSED_FONTS for p in documents.rglob(name))
    rows = [
        [f"`{name}`", f"{raw / mb:.1f}", f"{packed / mb:.1f}"]
        for name, (raw, packed) in sorted(per.items(), key=lambda kv: kv[1][0], reverse=True)
        if raw >= mb // 10
    ]
    rows.append(["**the renderer's layer (layers/documents)**", f"**{total / mb:.1f}**", f"**{zipped / mb:.1f}**"])
    rows.append(["the billing layer beside it, for scale", f"{billing_total / mb:.1f}", f"{billing_zipped / mb:.1f}"])
    return (
        table(["installed (aarch64, cp313)", "MB", "MB zipped"], rows)
        + f"\n\nEntries under 0.1 MB are left out of the rows, not of the totals. Of the fonts, "
        f"{unused / mb:.1f} MB are never loaded ({', '.join(f'`{n}`' for n in UNUSED_FONTS)}): a layer build that "
        f"deletes them ships {(total - unused) / mb:.1f} MB. Function and layers together may hold 250 MB unzipped."
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--runs", type=int, default=200, help="renders per document (default 200)")
    parser.add_argument("--cold-runs", type=int, default=7, help="fresh interpreters for the cold start (default 7)")
    parser.add_argument("--no-size", action="store_true", help="skip the layer size (it needs PyPI)")
    parser.add_argument("--no-doc", action="store_true", help="print only; leave docs/benchmarks.md alone")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return

    load = os.getloadavg()
    compile_bytecode()
    print(f"render times ({args.runs} renders each):", flush=True)
    render_rows, rss = render_times(args.runs)
    print(f"cold start ({args.cold_runs} fresh interpreters):", flush=True)
    cold = cold_starts(args.cold_runs)
    imported_only = statistics.median(in_child("import")["peak_mb"] for _ in range(3))

    def cold_cell(key: str) -> list[str]:
        values = [c[key] * 1000 for c in cold]
        return [f"{statistics.median(values):.0f}", f"{min(values):.0f}", f"{max(values):.0f}"]

    cold_rows = [
        ["`import billing.documents` (Typst, Babel, the domain's pydantic models)", *cold_cell("import")],
        ["… of which `import typst` (loading its native library)", *cold_cell("typst")],
        ["the compiler: the fonts indexed (once per process)", *cold_cell("compiler")],
        ["first render (the template parsed and laid out, glyphs loaded)", *cold_cell("first")],
        ["second render", *cold_cell("second")],
        ["**import + compiler + first render**"] + [f"**{v}**" for v in cold_cell_total(cold)],
    ]
    peak = statistics.median(c["peak_mb"] for c in cold)
    body = [
        f"Machine: {machine()}. Bytecode precompiled. Load average {load[0]:.1f} at the start, "
        f"{os.getloadavg()[0]:.1f} at the end (other work on the machine inflates wall times; CPU time less).",
        f"**Render time** ({args.runs} renders of each document in one process, each for another customer and number, "
        "after one warm-up render; the Python heap's peak during one render by `tracemalloc`, which does not see "
        "Typst's own memory):",
        table(["document", "pages", "KB", "median ms", "p95 ms", "CPU median ms", "Python heap peak KB"], render_rows),
        f"**Memory of the process**: peak RSS {peak:.0f} MB for a fresh interpreter that imports the renderer and "
        f"renders the first document (median of {args.cold_runs}), {imported_only:.0f} MB for one that only imports "
        f"it. The process that measured the render times: {rss[0]:.0f} MB before the import, {rss[1]:.0f} MB after "
        f"it, {rss[2]:.0f} MB after one render of each document, {rss[3]:.0f} MB after the "
        f"{args.runs * len(render_rows):,} renders.",
        f"**Cold start** ({args.cold_runs} fresh interpreters after one discarded warm-up; the first sample document):",
        table(["step", "median ms", "min ms", "max ms"], cold_rows),
    ]
    if not args.no_size:
        print("layer size (pip install --target, aarch64):", flush=True)
        body += ["**Layer size** (`pip install --target … --platform manylinux2014_aarch64`, no `.pyc`):"]
        body += [layer_sizes()]
    text = "\n\n".join(body)
    print("\n" + text)
    if not args.no_doc:
        update("bench.documents", text)


def cold_cell_total(cold: list[dict[str, float]]) -> list[str]:
    values = [(c["import"] + c["compiler"] + c["first"]) * 1000 for c in cold]
    return [f"{statistics.median(values):.0f}", f"{min(values):.0f}", f"{max(values):.0f}"]


if __name__ == "__main__":
    main()
