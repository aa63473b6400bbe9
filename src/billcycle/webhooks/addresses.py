"""Where a webhook may go (SSRF): http(s) URLs only, and, unless the tenant allows it,
no loopback, link-local, private, shared, multicast, reserved or unspecified address.

Checked when an endpoint is added or changed and again before every attempt: the host
is resolved and EVERY address it resolves to must be allowed (a name that also resolves
to 127.0.0.1 is refused).
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from billcycle.errors import InvalidValue

SCHEMES = frozenset({"http", "https"})
MAX_URL = 2048


def _bad(message: str) -> InvalidValue:
    return InvalidValue(message, resource="webhook_endpoint", field="url")


def check_url_form(url: str) -> tuple[str, int]:
    """The URL's host and port; InvalidValue unless it is an absolute http(s) URL."""
    if len(url) > MAX_URL:
        raise _bad(f"The URL is longer than {MAX_URL} characters.")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise _bad(f"'{url}' is not a valid URL.") from None
    if parts.scheme.lower() not in SCHEMES:
        raise _bad(f"Only http and https URLs are allowed, not '{parts.scheme or url}'.")
    host = parts.hostname
    if not host:
        raise _bad(f"'{url}' has no host.")
    if parts.username or parts.password:
        raise _bad("A webhook URL must not carry credentials.")
    return host, port or (443 if parts.scheme.lower() == "https" else 80)


def is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or (isinstance(ip, ipaddress.IPv4Address) and ip in _SHARED)
    )


_SHARED = ipaddress.ip_network("100.64.0.0/10")  # carrier-grade NAT


def resolve(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError):
        raise _bad(f"The host '{host}' cannot be resolved.") from None
    return sorted({str(info[4][0]) for info in infos})


def check_url(url: str, *, allow_private: bool) -> list[str]:
    """The addresses of ``url``'s host; InvalidValue unless ``url`` is http(s) and
    (unless allowed) every one of them is public."""
    host, port = check_url_form(url)
    addresses = resolve(host, port)
    if allow_private:
        return addresses
    refused = [a for a in addresses if not is_public(a)]
    if refused:
        raise _bad(
            f"The host '{host}' resolves to a loopback, link-local or private address "
            f"({', '.join(refused)}); the tenant does not allow those "
            "(webhooks_allow_private)."
        )
    return addresses
