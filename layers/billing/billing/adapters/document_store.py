"""The documents bucket: each PDF written once under its key, and handed out as a short-lived presigned link."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

LINK_SECONDS = 300  # a presigned link lives five minutes: enough to follow a redirect, too short to pass around


class DocumentStore:
    def __init__(self, client: Any, bucket: str) -> None:
        self.client = client
        self.bucket = bucket

    def put_once(self, key: str, body: bytes) -> bool:
        """Store ``body`` at ``key`` unless something is there already (S3's conditional write): False if it was.

        A finalized document never changes: a second rendering (a redelivered event, two renderers at once) never
        replaces the first."""
        try:
            self.client.put_object(
                Bucket=self.bucket, Key=key, Body=body, ContentType="application/pdf", IfNoneMatch="*"
            )
        except ClientError as error:
            if error.response["Error"]["Code"] in ("PreconditionFailed", "ConditionalRequestConflict"):
                return False
            raise
        return True

    def link(self, key: str, filename: str) -> str:
        """A presigned GET for ``key`` that saves it as ``filename``."""
        return self.client.generate_presigned_url(
            "get_object",
            Params={
                "Bucket": self.bucket,
                "Key": key,
                "ResponseContentDisposition": f'attachment; filename="{filename}"',
                "ResponseContentType": "application/pdf",
            },
            ExpiresIn=LINK_SECONDS,
        )
