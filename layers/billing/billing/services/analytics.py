"""The analytics export: each scheduled run converts the newest finished DynamoDB table export into the reports'
facts (Parquet in the analytics bucket, ``billing.reports.export``) and starts the next export.

Exports are kept in the bucket under ``exports/<scheduled time>/`` (expired by the bucket's lifecycle), each with
``_export.json`` naming its export ARN, written as soon as the export is started: that is the list of exports this
function started, newest first by name, bounded by the lifecycle (ListExports lists every export of the last 90
days, unsorted, 25 a page). A run converts the newest export of that list that completed after the facts'
current export, if any, then starts the export of its own scheduled time, once (the ``_export.json`` of that time,
and ExportTableToPointInTime's ClientToken for a run retried before it was written). A run repeated converts and
starts nothing new. Once converted, an export and every older one are deleted.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from billing.observability import logger

EXPORTS = "exports/"
STARTED = "_export.json"
# The items facts_from_items makes rows of (by their ``type``): the others (keys, claims, mail log, run records, …)
# are not even deserialized. tests/unit/test_analytics_items.py holds this to billing.reports.facts.


def prefix_of(scheduled_time: datetime) -> str:
    """``exports/2026-11-23T12:40:00Z``: the run's export prefix (names sort as times do)."""
    return EXPORTS + scheduled_time.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def client_token(table_arn: str, scheduled_time: datetime) -> str:
    """The same for every firing of one scheduled run: DynamoDB answers a repeated start with the same export."""
    return hashlib.sha256(f"{table_arn}|{prefix_of(scheduled_time)}".encode()).hexdigest()[:32]


def run(dynamodb: Any, s3: Any, table_arn: str, bucket: str, scheduled_time: datetime) -> dict[str, Any]:
    """One scheduled run: convert the newest completed export not converted yet, then start this run's export."""
    from billing.reports import export

    current = export.marker(s3, bucket)
    converted = convert_latest(dynamodb, s3, bucket, current)
    started = start_export(dynamodb, s3, table_arn, bucket, scheduled_time, converted or current)
    return {"scheduled_time": scheduled_time.isoformat(), "converted": converted, "started": started}


def start_export(
    dynamodb: Any,
    s3: Any,
    table_arn: str,
    bucket: str,
    scheduled_time: datetime,
    published: dict[str, Any] | None,
) -> dict[str, Any]:
    """Start the export of ``scheduled_time``'s run unless it was started already, or the ``published`` facts are
    from a later run's export already (a late repeat of an old run); its ARN (None: not started) and whether it
    is new."""
    prefix = prefix_of(scheduled_time)
    known = _started(s3, bucket, prefix)
    if known is not None:
        return {"export_arn": known["export_arn"], "prefix": prefix, "new": False}
    if published and prefix <= published.get("prefix", ""):
        return {"export_arn": None, "prefix": prefix, "new": False}
    description = dynamodb.export_table_to_point_in_time(
        TableArn=table_arn,
        S3Bucket=bucket,
        S3Prefix=prefix,
        ExportFormat="DYNAMODB_JSON",
        ClientToken=client_token(table_arn, scheduled_time),
    )["ExportDescription"]
    record = {"export_arn": description["ExportArn"], "scheduled_time": scheduled_time.astimezone(UTC).isoformat()}
    s3.put_object(Bucket=bucket, Key=f"{prefix}/{STARTED}", Body=json.dumps(record).encode())
    logger.info("analytics export started", extra={"export_arn": description["ExportArn"], "prefix": prefix})
    return {"export_arn": description["ExportArn"], "prefix": prefix, "new": True}


def convert_latest(dynamodb: Any, s3: Any, bucket: str, current: dict[str, Any] | None) -> dict[str, Any] | None:
    """Publish the facts of the newest completed export started after the one the ``current`` facts are from
    (their marker); the new marker, or None when there is none (the newer ones still running or failed)."""
    from billing.reports import export, facts

    since = current.get("prefix", "") if current else ""
    for prefix in sorted(_prefixes(s3, bucket), reverse=True):
        if prefix <= since:
            break
        started = _started(s3, bucket, prefix)
        if started is None:  # a start that failed before it was recorded: nothing of ours there
            continue
        description = dynamodb.describe_export(ExportArn=started["export_arn"])["ExportDescription"]
        status = description["ExportStatus"]
        if status != "COMPLETED":
            if status == "FAILED":
                logger.warning(
                    "analytics export failed",
                    extra={"export_arn": started["export_arn"], "reason": description.get("FailureMessage")},
                )
            continue
        # DynamoDB's point in time; moto gives none, and exports at once: the run's scheduled time
        through = description.get("ExportTime") or datetime.fromisoformat(started["scheduled_time"])
        export_id = started["export_arn"].rsplit("/", 1)[-1]
        found = facts.facts_from_items(export.read_items(s3, bucket, prefix, facts.ITEM_TYPES))
        # the prefix in the marker is where the next run stops looking
        published = export.publish(s3, bucket, found, through, export_id, extra={"prefix": prefix})
        logger.info("analytics facts published", extra={k: published[k] for k in ("export", "rows", "files")})
        _delete_exports(s3, bucket, [p for p in _prefixes(s3, bucket) if p <= prefix])
        return published
    return None


def _delete_exports(s3: Any, bucket: str, prefixes: list[str]) -> None:
    """Exports converted or superseded: of no more use (the lifecycle expires those a run never gets to)."""
    from billing.reports import export

    export.delete_keys(s3, bucket, [k for prefix in prefixes for k in export.object_keys(s3, bucket, prefix + "/")])


def _prefixes(s3: Any, bucket: str) -> list[str]:
    found = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=EXPORTS, Delimiter="/"):
        found += [p["Prefix"].rstrip("/") for p in page.get("CommonPrefixes", [])]
    return found


def _started(s3: Any, bucket: str, prefix: str) -> dict[str, Any] | None:
    try:
        return json.loads(s3.get_object(Bucket=bucket, Key=f"{prefix}/{STARTED}")["Body"].read())
    except ClientError as error:
        if error.response["Error"]["Code"] in ("NoSuchKey", "404"):
            return None
        raise
