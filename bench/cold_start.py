"""Cold-start import time of each function's handler module, beside a bare Powertools handler and boto3 alone.

Each figure is the median (min, max) of N fresh interpreters that run exactly

    import time; w = time.perf_counter(); c = time.process_time(); import <module>; print(<wall>, <cpu>)

with a Lambda-like environment: the template's variables for that function (TABLE_NAME, queue URLs, POWERTOOLS_*),
the variables the Lambda runtime sets (LAMBDA_TASK_ROOT, AWS_LAMBDA_FUNCTION_NAME, AWS_EXECUTION_ENV, ...), a
region and fake credentials, nothing else from the caller's environment, and no way to reach AWS (no endpoint, no
instance metadata). LAMBDA_TASK_ROOT makes Powertools' Tracer active as in the deployed stack (Tracing: Active):
it imports the X-Ray SDK and patches botocore and friends at import. Runs go round-robin over the modules so a
noisy neighbour spreads over all of them. Bytecode is compiled first (``python -m compileall``), as a Lambda bundle
should ship it, and one discarded run per module warms the page cache.

The ratios compare **CPU time** (``time.process_time``: user + system time of the importing process), medians
against medians; the wall-clock median is shown beside it (``--wall`` ranks by it instead). An import is
single-threaded CPU work on files in the page cache, so its CPU time is what it costs; on a machine shared with
other work the wall clock adds the time spent waiting for a core, which varies from row to row with the
neighbours' load, not with the module (on Lambda, a function's CPU share is fixed by its memory size).

Then ``python -X importtime`` on the API handler gives the imports to optimise (median of a few runs).

    python -m bench.cold_start [-n 7] [--importtime-runs 3] [--no-doc]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from bench._doc import ROOT, machine, table, update

SNIPPET = (
    "import time; w=time.perf_counter(); c=time.process_time(); import {module}; "
    "print(time.perf_counter()-w, time.process_time()-c)"
)
LIMIT = 1.25  # each function's import within 1.25x its own baseline (issue 17)
# Each function's baseline: the smallest handler with the same Powertools parts (bench/bare/). A function not named
# here (a new one) gets the baseline of its first event source's kind, and the table says it was guessed.
BASELINES = {
    "ApiFunction": "bench.bare_powertools_validated",
    "StripeWebhookFunction": "bench.bare.http_event",  # verifies the signature and queues: no model
    "OutboxRelayFunction": "bench.bare.stream_batch_body",
    "InvoiceWorkerFunction": "bench.bare.sqs_parser",
    "InvoiceNumberingFunction": "bench.bare.sqs_parser",  # SqsModel + a pydantic body, its own batchItemFailures
    "DunningWorkerFunction": "bench.bare.sqs_batch_model",
    "BillingPagesFunction": "bench.bare.sqs_batch_model",
    "StripeEventsFunction": "bench.bare.sqs_batch_model",
    **dict.fromkeys(
        [
            "NotifierFunction",
            "WebhookDeliveryFunction",
            "DocumentRendererFunction",
            "EmailFeedbackFunction",
            "CollectorFunction",
        ],
        "bench.bare.sqs_batch_body",
    ),
    **dict.fromkeys(
        ["DunningSweepFunction", "BillingRunFunction", "ReconciliationFunction", "AnalyticsExportFunction"],
        "bench.bare.scheduled_model",
    ),
}
BY_EVENT = {  # every handler parses its event or records into a pydantic model (the architecture's rule)
    "SQS": "bench.bare.sqs_batch_body",
    "ScheduleV2": "bench.bare.scheduled_model",
    "Schedule": "bench.bare.scheduled_model",
    "DynamoDB": "bench.bare.stream_batch_body",
    "HttpApi": "bench.bare.http_event",
    "Api": "bench.bare.http_event",
}
REGION = "us-east-1"


@dataclass
class Case:
    label: str
    code: str  # the -c program; prints the seconds it measured on its last line
    env: dict[str, str]
    note: str = ""
    baseline: str = ""  # the label of the case this one is compared with ("": a baseline or a reference row)


@dataclass
class Handler:
    logical_id: str
    module: str
    baseline: str
    guessed: bool  # the baseline comes from the event source's kind, not from BASELINES


def handlers() -> list[Handler]:
    """Every function of template.yaml (its handler module, as CodeUri + Handler name it) with its baseline."""
    from infra.local import template as tpl

    out = []
    for fn in tpl.functions(tpl.load()):
        kinds = [event.get("Type", "") for event in fn.events.values()]
        guessed = next((BY_EVENT[k] for k in kinds if k in BY_EVENT), "bench.bare.scheduled_model")
        out.append(
            Handler(fn.logical_id, fn.module, BASELINES.get(fn.logical_id, guessed), fn.logical_id not in BASELINES)
        )
    return out


def function_envs() -> dict[str, dict[str, str]]:
    """Each function's environment variables from template.yaml, references resolved to plausible fakes."""
    from infra.local import template as tpl

    template = tpl.load()
    refs = dict(tpl.parameters(template))
    refs["Table"] = "billing-dev-Table-BENCH"
    for queue in tpl.resources(template, "AWS::SQS::Queue"):
        refs[queue] = f"https://sqs.{REGION}.amazonaws.com/123456789012/billing-dev-{queue}"
    envs = {}
    for fn in tpl.functions(template):
        envs[fn.logical_id] = {k: str(tpl.resolve(v, refs, {})) for k, v in fn.environment.items()}
    return envs


def lambda_env(function_name: str, extra: dict[str, str]) -> dict[str, str]:
    """What the python3.13 runtime hands a function, plus ``extra``; PATH is the only thing taken from here."""
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "LANG": "en_US.UTF-8",
        "TZ": ":UTC",
        "PYTHONPATH": ".:layers/billing",
        "LAMBDA_TASK_ROOT": str(ROOT),
        "AWS_LAMBDA_FUNCTION_NAME": f"billing-dev-{function_name}",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
        "_HANDLER": "app.lambda_handler",
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "ASIABENCHBENCHBENCH0",
        "AWS_SECRET_ACCESS_KEY": "bench-secret",
        "AWS_SESSION_TOKEN": "bench-token",
        # No network: no instance metadata lookups, no shared config files from this machine.
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": "/nonexistent/aws-config",
        "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/aws-credentials",
        **extra,
    }


BASELINE_NOTES = {
    "bench.bare_powertools_validated": "baseline of the API: APIGatewayHttpResolver(enable_validation=True), one route",
    "bench.bare.http_event": "baseline: event_source(APIGatewayProxyEventV2), no resolver",
    "bench.bare.scheduled": "baseline: Logger + Tracer + Metrics on a plain handler",
    "bench.bare.sqs_batch": "baseline: BatchProcessor(SQS) + SQSRecord",
    "bench.bare.sqs_batch_model": "baseline: BatchProcessor(SQS) with a SqsRecordModel + Json[BaseModel] body",
    "bench.bare.sqs_parser": "baseline: SqsModel + a pydantic body model, no batch processor",
    "bench.bare.stream_batch": "baseline: BatchProcessor(DynamoDBStreams) + DynamoDBRecord",
    "bench.bare.sqs_batch_body": "baseline: bench.bare.sqs_batch + a pydantic model of the body",
    "bench.bare.stream_batch_body": "baseline: bench.bare.stream_batch + a pydantic model of the image's doc",
    "bench.bare.scheduled_model": "baseline: bench.bare.scheduled + a pydantic model of the event",
}
# The bare handlers without a model: reference rows (what pydantic and one model add to each).
REFERENCES = {
    "bench.bare.sqs_batch_body": "bench.bare.sqs_batch",
    "bench.bare.stream_batch_body": "bench.bare.stream_batch",
    "bench.bare.scheduled_model": "bench.bare.scheduled",
}
def cases() -> list[Case]:
    envs = function_envs()
    api_env = lambda_env("ApiFunction", envs["ApiFunction"])
    found = handlers()
    out = [
        Case(
            h.module,
            SNIPPET.format(module=h.module),
            lambda_env(h.logical_id, envs[h.logical_id]),
            f"baseline guessed from its event source ({h.baseline})" if h.guessed else "",
            h.baseline,
        )
        for h in found
    ]
    baseline_env = {h.baseline: lambda_env(h.logical_id, envs[h.logical_id]) for h in reversed(found)}
    out += [
        Case(b, SNIPPET.format(module=b), baseline_env[b], BASELINE_NOTES.get(b, "baseline"))
        for b in BASELINE_NOTES
        if b in baseline_env
    ]
    out += [
        Case(plain, SNIPPET.format(module=plain), baseline_env[b], f"reference: {BASELINE_NOTES[plain][10:]}")
        for b, plain in REFERENCES.items()
        if b in baseline_env
    ]
    out += [
        Case(
            "bench.bare_powertools",
            SNIPPET.format(module="bench.bare_powertools"),
            api_env,
            "Logger + Tracer + Metrics + APIGatewayHttpResolver, one route, no validation",
        ),
        Case("boto3", SNIPPET.format(module="boto3"), api_env, "baseline: `import boto3` alone"),
        Case(
            "boto3 + client('dynamodb')",
            "import time; w=time.perf_counter(); c=time.process_time(); import boto3; boto3.client('dynamodb'); "
            "print(time.perf_counter()-w, time.process_time()-c)",
            api_env,
            "not import time: what the first request pays (billing.bootstrap creates clients lazily)",
        ),
        Case(
            "functions.api.app, tracer off",
            SNIPPET.format(module="functions.api.app"),
            {**api_env, "POWERTOOLS_TRACE_DISABLED": "true"},
            "POWERTOOLS_TRACE_DISABLED=true: no X-Ray SDK import or patching",
            "bench.bare_powertools_validated",
        ),
    ]
    out.append(
        Case(
            "functions.api.app, layer without .pyc",
            SNIPPET.format(module="functions.api.app"),
            {**api_env, "PYTHONPYCACHEPREFIX": layer_without_bytecode(api_env), "PYTHONDONTWRITEBYTECODE": "1"},
            "the layer's packages and the project compiled from source at every start (stdlib, boto3: .pyc)",
            "bench.bare_powertools_validated",
        )
    )
    return out


def layer_without_bytecode(env: dict[str, str]) -> str:
    """A ``PYTHONPYCACHEPREFIX`` holding the .pyc of the standard library and of boto3/botocore/s3transfer only.

    With it and PYTHONDONTWRITEBYTECODE, an interpreter finds no bytecode for anything a layer would ship (every
    third-party module but those three, which the Lambda runtime provides, and the project itself) and cannot
    write any: every start compiles them from source, as it would from a layer without .pyc on Lambda's
    read-only /opt.
    """
    prefix = tempfile.mkdtemp(prefix="bench-pycache-")
    subprocess.run(
        [sys.executable, "-c", "import functions.api.app, functions.notifier.app, functions.dunning_worker.app"],
        cwd=ROOT,
        env={**env, "PYTHONPYCACHEPREFIX": prefix},
        check=True,
        capture_output=True,
    )
    stdlib = Path(sysconfig.get_paths()["stdlib"]).resolve()
    site = Path(sysconfig.get_paths()["purelib"]).resolve()
    keep = [stdlib] + [site / name for name in ("boto3", "botocore", "s3transfer")]
    for pyc in Path(prefix).rglob("*.pyc"):
        source_dir = Path("/") / pyc.parent.relative_to(prefix)
        kept = any(source_dir.is_relative_to(k) for k in keep) and not source_dir.is_relative_to(
            stdlib / "site-packages"
        )
        if not kept:
            pyc.unlink()
    return prefix


def run_once(case: Case) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one fresh interpreter's import."""
    proc = subprocess.run(
        [sys.executable, "-c", case.code], cwd=ROOT, env=case.env, capture_output=True, text=True, timeout=60
    )
    if proc.returncode != 0:
        raise SystemExit(f"{case.label} failed ({proc.returncode}):\n{proc.stderr}")
    wall, cpu = proc.stdout.strip().splitlines()[-1].split()
    return float(wall), float(cpu)


def compile_bytecode() -> None:
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", "layers/billing", "functions", "bench"], cwd=ROOT, check=True
    )


def measure(all_cases: list[Case], runs: int) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """``runs`` timings per case (wall, CPU), round-robin, after one discarded warm-up each (page cache, .pyc)."""
    for case in all_cases:
        run_once(case)
    walls: dict[str, list[float]] = defaultdict(list)
    cpus: dict[str, list[float]] = defaultdict(list)
    for _ in range(runs):
        for case in all_cases:
            wall, cpu = run_once(case)
            walls[case.label].append(wall)
            cpus[case.label].append(cpu)
    return walls, cpus


@dataclass
class Imported:
    name: str
    self_us: list[int]
    cumulative_us: list[int]
    parent: str


def importtime(env: dict[str, str], module: str, runs: int) -> tuple[dict[str, Imported], str]:
    """Per module: self and cumulative microseconds over ``runs`` runs of ``python -X importtime``."""
    seen: dict[str, Imported] = {}
    for _ in range(runs):
        proc = subprocess.run(
            [sys.executable, "-X", "importtime", "-c", f"import {module}"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        rows = []  # (depth, name, self, cumulative) in the order printed: children before their parent
        for line in proc.stderr.splitlines():
            if not line.startswith("import time:") or "self [us]" in line:
                continue
            head, cumulative_us, name = line.split("|", 2)
            name = name[1:]  # "| " precedes the name, then two spaces per level of nesting
            depth = (len(name) - len(name.lstrip(" "))) // 2
            rows.append((depth, name.strip(), int(head.split(":")[1]), int(cumulative_us)))
        for n, (depth, name, self_us, cumulative_us) in enumerate(rows):
            parent = next((r[1] for r in rows[n + 1 :] if r[0] < depth), "")
            item = seen.setdefault(name, Imported(name, [], [], parent))
            item.self_us.append(self_us)
            item.cumulative_us.append(cumulative_us)
    return seen, module


# One process per concern: the API's INIT, one request of no concern (a 404: authentication builds the repository and
# the clients, as any first request does), then the CPU time of including the concern's routers, as its first request
# does (billing.api.app.include). Printed as "<ms> <n modules>".
CONCERN = """
import sys, time
import functions.api.app
from billing.api import app
http = {{"method": "GET", "path": "/v1/no_such_concern", "sourceIp": "192.0.2.1", "userAgent": "bench"}}
context = {{"http": http, "stage": "$default", "requestId": "r", "domainName": "api.example.com", "timeEpoch": 0}}
event = {{"version": "2.0", "rawPath": http["path"], "rawQueryString": "", "headers": {{}}, "requestContext": context}}
assert app.handle(event, None)["statusCode"] == 401
before = len(sys.modules)
c = time.process_time()
app.include(app.BY_PATH_KEY[{key!r}])
print(time.process_time() - c, len(sys.modules) - before)
"""


def concerns(env: dict[str, str], runs: int) -> list[tuple[str, tuple[str, ...], float, int]]:
    """What the first request of each concern pays on top of any first request: (a path key, its routers, CPU
    median seconds, modules imported), one row per distinct set of routers, the costliest first."""
    sys.path[:0] = [str(ROOT), str(ROOT / "layers/billing")]
    from billing.api import app

    keys: dict[tuple[str, ...], list[str]] = defaultdict(list)
    for key, routers in app.BY_PATH_KEY.items():
        keys[routers].append(key)
    out = []
    for routers, named in keys.items():
        cpu, modules = [], 0
        for _ in range(runs):
            proc = subprocess.run(
                [sys.executable, "-c", CONCERN.format(key=named[0])],
                cwd=ROOT,
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
            )
            if proc.returncode != 0:
                raise SystemExit(f"concern {named[0]} failed:\n{proc.stderr}")
            seconds, count = proc.stdout.split()[-2:]
            cpu.append(float(seconds))
            modules = int(count)
        out.append((", ".join(f"`{k}`" for k in named), routers, statistics.median(cpu), modules))
    return sorted(out, key=lambda row: row[2], reverse=True)


def top_level(name: str) -> str:
    return name.split(".")[0]


def load() -> str:
    """The machine's 1-minute load average, or "?" where the OS does not say (how busy the neighbours were)."""
    try:
        return f"{os.getloadavg()[0]:.1f}"
    except OSError:
        return "?"


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--runs", type=int, default=21, help="fresh interpreters per module (default 21)")
    parser.add_argument("--importtime-runs", type=int, default=3, help="python -X importtime runs (default 3)")
    parser.add_argument("--no-doc", action="store_true", help="print only; leave docs/benchmarks.md alone")
    parser.add_argument("--wall", action="store_true", help="compare wall-clock medians instead of CPU time")
    args = parser.parse_args()

    busy = load()
    compile_bytecode()
    all_cases = cases()
    try:
        walls, cpus = measure(all_cases, args.runs)
    finally:
        for case in all_cases:
            if "PYTHONPYCACHEPREFIX" in case.env:
                shutil.rmtree(case.env["PYTHONPYCACHEPREFIX"], ignore_errors=True)

    times, other = (walls, cpus) if args.wall else (cpus, walls)
    clock, other_clock = ("wall", "CPU") if args.wall else ("CPU", "wall")
    medians = {label: statistics.median(t) for label, t in times.items()}
    rows = []
    for case in all_cases:
        t = times[case.label]
        if case.baseline:
            ratio = medians[case.label] / medians[case.baseline]
            verdict = f"{ratio:.2f} {'✓' if ratio <= LIMIT else '✗'}"
            against = f"`{case.baseline}` ({ms(medians[case.baseline])})"
        else:
            verdict, against = "·", "·"
        rows.append(
            [
                f"`{case.label}`",
                ms(medians[case.label]),
                ms(min(t)),
                ms(max(t)),
                ms(statistics.median(other[case.label])),
                against,
                verdict,
                case.note,
            ]
        )
    timing = table(
        [
            "module",
            f"{clock} median ms",
            "min ms",
            "max ms",
            f"{other_clock} median ms",
            f"its baseline ({clock} median ms)",
            f"ratio (≤ {LIMIT} ✓)",
            "note",
        ],
        rows,
        "lrrrrlrl",
    )
    functions = [c for c in all_cases if c.baseline and c.label in {h.module for h in handlers()}]
    within = sum(medians[c.label] / medians[c.baseline] <= LIMIT for c in functions)

    summary = (
        f"{within} of {len(functions)} functions within {LIMIT}x their own baseline ({clock} time, median against "
        "median, one run)."
    )

    api_env = next(c.env for c in all_cases if c.label == "functions.api.app")
    imported, root = importtime(api_env, "functions.api.app", args.importtime_runs)
    med = {name: (statistics.median(i.self_us), statistics.median(i.cumulative_us)) for name, i in imported.items()}
    by_self = sorted(imported, key=lambda n: med[n][0], reverse=True)[:5]
    by_cumulative = sorted((n for n in imported if n != root), key=lambda n: med[n][1], reverse=True)[:5]

    def imports_table(names: list[str]) -> str:
        return table(
            ["import", "self ms", "cumulative ms", "imported by"],
            [
                [f"`{n}`", f"{med[n][0] / 1000:.1f}", f"{med[n][1] / 1000:.1f}", f"`{imported[n].parent}`"]
                for n in names
            ],
            "lrrl",
        )

    concern_rows = [
        [keys, ", ".join(f"`{r.rsplit('.', 1)[1]}`" for r in routers), ms(cpu), modules]
        for keys, routers, cpu, modules in concerns(api_env, args.importtime_runs)
    ]

    packages: dict[str, float] = defaultdict(float)
    for name, (self_us, _) in med.items():
        packages[top_level(name)] += self_us
    total_self = sum(packages.values())
    package_rows = [
        [f"`{p}`", f"{us / 1000:.1f}", f"{100 * us / total_self:.0f}%"]
        for p, us in sorted(packages.items(), key=lambda kv: kv[1], reverse=True)[:8]
    ]

    body = "\n\n".join(
        [
            f"Machine: {machine()}. {args.runs} fresh interpreters per row (after one discarded warm-up), "
            "bytecode precompiled, Lambda-like environment with the tracer active (LAMBDA_TASK_ROOT set). "
            f"Ratios on {clock} time (load average at the start: {busy}).",
            timing,
            summary,
            f"Heaviest imports of `functions.api.app` by **self** time (`python -X importtime`, median of "
            f"{args.importtime_runs} runs; importtime's own overhead inflates all figures a little):",
            imports_table(by_self),
            "By **cumulative** time (the module and everything it pulled in first):",
            imports_table(by_cumulative),
            f"Self time summed by top-level package (total {total_self / 1000:.0f} ms, {len(med)} modules):",
            table(["package", "self ms", "share"], package_rows, "lrr"),
            "What the **first request of a concern** pays on top of any first request (the API includes a "
            "concern's routers on its first request: `billing.api.app.include`; CPU time, median of "
            f"{args.importtime_runs} fresh processes that served one request of no concern first; later requests "
            "of the concern pay nothing; under SnapStart the snapshot holds every router):",
            table(["path keys", "routers", "CPU ms", "modules imported"], concern_rows, "llrr"),
        ]
    )
    print(body)
    if not args.no_doc:
        update("bench.cold_start", body)


if __name__ == "__main__":
    main()
