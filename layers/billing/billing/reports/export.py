"""The facts in the analytics bucket: a DynamoDB table export read back as items, the facts published as Parquet
under ``facts/`` (the layout the Glue tables read), and one tenant's files fetched for DuckDB.

Bucket layout::

    exports/<scheduled time>/AWSDynamoDB/<export id>/data/*.json.gz   the table exports (DYNAMODB_JSON), expired
    facts/<table>/tenant_id=<t>/month=<yyyy-mm>/data_0.parquet         the facts of the last export converted
    facts/_export.json                                                 which export they are: written last

A full export replaces the whole ``facts/`` tree: files of partitions the export no longer has are deleted before
the marker moves, so a reader that sees the new marker never finds an old partition.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tempfile
import time
from collections.abc import Collection, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from billing.adapters.dynamodb import from_item
from billing.reports import store
from billing.reports.facts import Row

FACTS = "facts/"
MARKER = "facts/_export.json"
_THREADS = 8  # S3 requests in flight while uploading or downloading a tree of small files
_DOWNLOAD_ATTEMPTS = 3  # a download that overlapped a publish is started again (each publish takes minutes)


class ExportChanged(RuntimeError):
    """The facts were replaced by another export while they were being downloaded, more than once."""


# --- reading an export -------------------------------------------------------------------------------------------
def data_files(s3: Any, bucket: str, prefix: str) -> list[str]:
    """Every data file of the export under ``prefix`` (``<prefix>/AWSDynamoDB/<id>/data/<name>.json.gz`` in AWS,
    ``….gz`` on moto); manifests and the export's other objects are left out."""
    keys = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix.rstrip("/") + "/"):
        for obj in page.get("Contents", []):
            key = obj["Key"]
            if "/data/" in key and key.endswith(".gz"):
                keys.append(key)
    return sorted(keys)


def read_items(s3: Any, bucket: str, prefix: str, types: Collection[str] | None = None) -> Iterator[dict[str, Any]]:
    """The export's items, one at a time, as ``from_item`` gives them: each file is streamed and gunzipped line by
    line (``{"Item": {...}}``), never held whole. With ``types``, only the items whose ``type`` attribute is one of
    them (the others are not deserialized)."""
    for key in data_files(s3, bucket, prefix):
        body = s3.get_object(Bucket=bucket, Key=key)["Body"]
        with gzip.GzipFile(fileobj=body) as lines:
            for line in io.TextIOWrapper(lines, encoding="utf-8"):
                if not line.strip():
                    continue
                item = json.loads(line)["Item"]
                if types is None or item.get("type", {}).get("S") in types:
                    yield from_item(item)


# --- publishing facts --------------------------------------------------------------------------------------------
def digest(facts: dict[str, list[Row]]) -> str:
    """What the facts hold, whatever their order: the sum of each row's SHA-256 (per table, then over tables). Two
    exports whose facts are equal have the same digest; an export of an unchanged table need not be rewritten."""
    total = hashlib.sha256()
    for table in sorted(facts):
        acc = 0
        for row in facts[table]:
            h = hashlib.sha256(json.dumps(row, sort_keys=True, default=str).encode()).digest()
            acc = (acc + int.from_bytes(h)) % (1 << 256)
        total.update(f"{table}:{len(facts[table])}:{acc:064x};".encode())
    return total.hexdigest()


def marker(s3: Any, bucket: str) -> dict[str, Any] | None:
    """``facts/_export.json``: the export the facts are from (None before the first one)."""
    try:
        body = s3.get_object(Bucket=bucket, Key=MARKER)["Body"].read()
    except ClientError as error:
        if error.response["Error"]["Code"] in ("NoSuchKey", "404"):
            return None
        raise
    return json.loads(body)


def publish(
    s3: Any,
    bucket: str,
    facts: dict[str, list[Row]],
    data_through: datetime,
    export_id: str = "manual",
    force: bool = False,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Make ``facts`` the bucket's facts: Parquet per table, tenant and month under ``facts/``, every other object
    under ``facts/`` deleted, then the marker written last (``data_through``: the export's point in time, ISO).

    Each file carries the export that wrote it (object metadata ``export``; the marker's ``files_export``), so a
    download that overlaps a publish notices. A tenant's files are uploaded together, so that overlap is short.
    When the published facts already have the same digest (nothing reported on changed since), no file is
    rewritten and only the marker moves on, unless ``force``. ``extra`` goes into the marker as it is. Returns the
    marker."""
    rows = sum(len(r) for r in facts.values())
    fingerprint = digest(facts)
    previous = marker(s3, bucket)
    if previous and previous.get("digest") == fingerprint and not force:
        files, files_export = previous.get("files", 0), previous.get("files_export", previous.get("export"))
    else:
        with tempfile.TemporaryDirectory(prefix="facts-") as scratch:
            root = Path(scratch)
            store.write(facts, root)
            keys = {FACTS + p.relative_to(root).as_posix(): p for p in root.rglob("*.parquet")}

            def upload(key: str) -> None:
                body = keys[key].read_bytes()
                s3.put_object(Bucket=bucket, Key=key, Body=body, Metadata={"export": export_id})

            with ThreadPoolExecutor(_THREADS) as pool:
                list(pool.map(upload, sorted(keys, key=_by_tenant)))
        delete_keys(s3, bucket, [k for k in object_keys(s3, bucket, FACTS) if k not in keys and k != MARKER])
        files, files_export = len(keys), export_id
    published = {
        "data_through": data_through.isoformat(),
        "export": export_id,
        "rows": rows,
        "files": files,
        "files_export": files_export,
        "digest": fingerprint,
        **(extra or {}),
    }
    s3.put_object(Bucket=bucket, Key=MARKER, Body=json.dumps(published).encode(), ContentType="application/json")
    return published


def _by_tenant(key: str) -> tuple[str, str]:
    """``facts/<table>/tenant_id=<t>/month=<m>/<file>`` sorted by tenant first."""
    parts = key.split("/")
    return parts[2], key


# --- reading one tenant's facts ----------------------------------------------------------------------------------
def download(s3: Any, bucket: str, tenant_id: str, dest_dir: Path) -> dict[str, Any] | None:
    """Fetch ``tenant_id``'s facts into ``dest_dir`` (``<table>/tenant_id=<t>/month=<m>/*.parquet``, as
    ``store.attach`` reads them) and return the marker of the export they are from; None (and nothing fetched)
    before the first export. Files left in ``dest_dir`` by an earlier call for this tenant are replaced.

    The files are always those of one export: a download that overlapped a publish (a file written by another
    export than the marker names, a file gone, the marker moved on) starts again, a few times, then gives up with
    ``ExportChanged``."""
    from billing.reports.facts import TABLES

    dest_dir = Path(dest_dir)
    for attempt in range(_DOWNLOAD_ATTEMPTS):
        if attempt:
            time.sleep(0.2 * 2**attempt)
        before = marker(s3, bucket)
        if before is None:
            return None
        expected = before.get("files_export", before.get("export"))
        for table in TABLES:  # what an earlier download left
            for old in (dest_dir / table / f"tenant_id={tenant_id}").glob("month=*/*.parquet"):
                old.unlink()
        keys = [k for table in TABLES for k in object_keys(s3, bucket, f"{FACTS}{table}/tenant_id={tenant_id}/")]

        with ThreadPoolExecutor(_THREADS) as pool:
            complete = all(list(pool.map(lambda k, e=expected: _fetch(s3, bucket, k, e, dest_dir), keys)))
        after = marker(s3, bucket)
        if complete and after is not None and after.get("files_export", after.get("export")) == expected:
            return after
    raise ExportChanged(f"the facts in {bucket} changed during {_DOWNLOAD_ATTEMPTS} downloads in a row")


def size(s3: Any, bucket: str, tenant_id: str) -> int:
    """The bytes of ``tenant_id``'s facts in the bucket (what ``download`` would fetch)."""
    from billing.reports.facts import TABLES

    total = 0
    for table in TABLES:
        for page in s3.get_paginator("list_objects_v2").paginate(
            Bucket=bucket, Prefix=f"{FACTS}{table}/tenant_id={tenant_id}/"
        ):
            total += sum(obj["Size"] for obj in page.get("Contents", []))
    return total


def _fetch(s3: Any, bucket: str, key: str, expected: str | None, dest_dir: Path) -> bool:
    """Save ``key`` under ``dest_dir`` if it is still there and was written by export ``expected``."""
    try:
        got = s3.get_object(Bucket=bucket, Key=key)
    except ClientError as error:
        if error.response["Error"]["Code"] in ("NoSuchKey", "404"):
            return False
        raise
    if got.get("Metadata", {}).get("export") != expected:
        return False
    target = dest_dir / key.removeprefix(FACTS)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(got["Body"].read())
    return True


def delete_keys(s3: Any, bucket: str, keys: list[str]) -> None:
    """Delete ``keys``, a thousand a request; a key S3 could not delete is an error, not a silent leftover."""
    for start in range(0, len(keys), 1000):
        batch = [{"Key": k} for k in keys[start : start + 1000]]
        answer = s3.delete_objects(Bucket=bucket, Delete={"Objects": batch, "Quiet": True})
        if answer.get("Errors"):
            first = answer["Errors"][0]
            raise RuntimeError(f"{len(answer['Errors'])} objects not deleted, {first['Key']}: {first['Message']}")


def object_keys(s3: Any, bucket: str, prefix: str) -> Iterable[str]:
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            yield obj["Key"]
