"""Where a webhook may be sent: the SSRF policy, as pure functions of a URL and of the addresses its host resolved
to. Checked when an endpoint is created or changed, and again before every request (the name may resolve elsewhere
by then: DNS rebinding), and the request then goes to the very address that was checked.

https only, to public addresses only: no private (10/8, 172.16/12, 192.168/16, fc00::/7), loopback, link-local
(169.254/16 with the cloud's metadata service, fe80::/10), multicast, reserved or unspecified address, nor an
IPv4-mapped IPv6 form of one. The local stack (``WEBHOOKS_ALLOW_LOCAL=true``) also allows http and loopback or
private addresses, for a receiver on the developer's machine; link-local stays refused even there.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from urllib.parse import urlsplit

MAX_URL_LENGTH = 2048


class UrlRefused(ValueError):
    """Why a webhook URL or address is not allowed (the message is for the tenant)."""


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int
    path: str  # with the query string


def check_url(url: str, allow_local: bool) -> Target:
    """The parts of ``url`` a delivery connects to; ``UrlRefused`` if the URL itself is not allowed."""
    if len(url) > MAX_URL_LENGTH:
        raise UrlRefused(f"a webhook URL is at most {MAX_URL_LENGTH} characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise UrlRefused(f"not a URL: {error}") from None
    allowed = ("https", "http") if allow_local else ("https",)
    if parts.scheme not in allowed:
        raise UrlRefused("a webhook URL must be https")
    if not parts.hostname:
        raise UrlRefused("a webhook URL names a host")
    if parts.username is not None or parts.password is not None:
        raise UrlRefused("a webhook URL carries no user name or password")
    if any(c in url for c in "\r\n\t "):
        raise UrlRefused("a webhook URL holds no spaces or line breaks")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    default = 443 if parts.scheme == "https" else 80
    return Target(parts.scheme, parts.hostname, port or default, path)


def refusal(address: str, allow_local: bool) -> str | None:
    """Why a request may not go to ``address`` (None: it may)."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return f"{address} is not an IP address"
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_link_local:
        return f"{ip} is a link-local address"
    if ip.is_multicast:
        return f"{ip} is a multicast address"
    if ip.is_unspecified:
        return f"{ip} is the unspecified address"
    if ip.is_loopback:
        return None if allow_local else f"{ip} is a loopback address"
    if ip.is_reserved:
        return f"{ip} is a reserved address"
    if ip.is_private:
        return None if allow_local else f"{ip} is a private address"
    if not ip.is_global:  # shared (100.64/10), documentation and benchmarking ranges
        return f"{ip} is a reserved address"
    return None


def check_addresses(host: str, addresses: list[str], allow_local: bool) -> str:
    """The address to connect to for ``host``: the first of what it resolved to, once every one is allowed (a name
    that also points inward is refused whole, whichever address a resolver would pick)."""
    if not addresses:
        raise UrlRefused(f"{host} does not resolve")
    for address in addresses:
        if why := refusal(address, allow_local):
            raise UrlRefused(f"{host} resolves to a refused address: {why}")
    return addresses[0]
