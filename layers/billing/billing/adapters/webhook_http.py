"""The HTTP side of a webhook delivery, with urllib3 (botocore's own HTTP client, so nothing added to the layer).

The host is resolved and every address checked by the SSRF policy (``billing.outbound.ssrf``) before each request,
and the connection goes to the checked address (TLS still verifies the certificate for the host's name): a name
that resolves elsewhere between the check and the request (DNS rebinding) changes nothing. No redirect is followed,
the whole request is bounded by one timeout (15 s), and at most a few KB of the answer is read, of which 256
characters are kept.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import urllib3

from billing.domain.webhooks import EXCERPT_CHARS, Outcome
from billing.outbound import ssrf

READ_AT_MOST = 4096  # bytes of an answer read; the rest is never downloaded
TIMEOUT_SECONDS = 15.0
USER_AGENT = "billing-webhooks/1"

Resolver = Callable[[str, int], list[str]]


def resolve(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (an IP literal resolves to itself)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError, ValueError):  # unknown name, a label too long, a NUL in it
        return []
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def checked_address(url: str, allow_local: bool, resolver: Resolver = resolve) -> tuple[ssrf.Target, str]:
    """The target of ``url`` and the address to connect to; ``ssrf.UrlRefused`` if either is not allowed."""
    target = ssrf.check_url(url, allow_local)
    return target, ssrf.check_addresses(target.host, resolver(target.host, target.port), allow_local)


@dataclass
class WebhookSender:
    allow_local: bool = False
    timeout: float = TIMEOUT_SECONDS
    resolver: Resolver = resolve
    _pools: dict[tuple[str, str, int, str], urllib3.HTTPConnectionPool] = field(default_factory=dict)

    def _pool(self, target: ssrf.Target, address: str) -> urllib3.HTTPConnectionPool:
        key = (target.scheme, address, target.port, target.host)
        if key not in self._pools:
            common = {"maxsize": 1, "retries": False, "timeout": urllib3.Timeout(total=self.timeout)}
            if target.scheme == "https":
                self._pools[key] = urllib3.HTTPSConnectionPool(
                    address, target.port, server_hostname=target.host, assert_hostname=target.host, **common
                )
            else:
                self._pools[key] = urllib3.HTTPConnectionPool(address, target.port, **common)
        return self._pools[key]

    def post(self, url: str, body: str, headers: dict[str, str]) -> Outcome:
        """POST ``body`` to ``url``: what came of it (a refused target, a timeout or a broken connection is an
        outcome too, never an exception)."""
        started = time.monotonic()

        def took() -> int:
            return round((time.monotonic() - started) * 1000)

        try:
            target, address = checked_address(url, self.allow_local, self.resolver)
        except ssrf.UrlRefused as refused:
            return Outcome(error=f"url_not_allowed: {refused}", latency_ms=took())
        host = target.host if target.port in (80, 443) else f"{target.host}:{target.port}"
        all_headers = {
            **headers,
            "Host": host,
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
        }
        try:
            response = self._pool(target, address).urlopen(
                "POST",
                target.path,
                body=body.encode(),
                headers=all_headers,
                redirect=False,
                retries=False,
                preload_content=False,
                assert_same_host=False,
            )
            try:
                head = response.read(READ_AT_MOST)
            finally:
                response.release_conn()
                response.close()
        except urllib3.exceptions.NewConnectionError as error:  # (a ConnectTimeoutError subclass in urllib3 2)
            return Outcome(error=f"connection_failed: {type(error).__name__}", latency_ms=took())
        except urllib3.exceptions.TimeoutError:
            return Outcome(error=f"timeout: no answer within {self.timeout:g} s", latency_ms=took())
        except urllib3.exceptions.HTTPError as error:
            return Outcome(error=f"connection_failed: {type(error).__name__}", latency_ms=took())
        excerpt = head.decode("utf-8", errors="replace")[:EXCERPT_CHARS] or None
        return Outcome(response_code=response.status, latency_ms=took(), body_excerpt=excerpt)
