"""Where a webhook may be delivered: http(s) URLs whose host resolves to public addresses only.

Loopback, private, link-local, reserved and multicast addresses are refused unless
settings.WEBHOOKS_ALLOW_PRIVATE is true (checked when an endpoint is saved and before every request).
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from django.conf import settings


class TargetRefused(Exception):
    pass


def _is_private(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_reserved
        or ip.is_multicast
        or ip.is_unspecified
        or not ip.is_global
    )


def target_check(*, url: str) -> None:
    """Raise TargetRefused with a readable reason when `url` may not receive webhooks."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise TargetRefused("Only http:// and https:// URLs with a host name can receive webhooks.")
    if settings.WEBHOOKS_ALLOW_PRIVATE:
        return
    try:
        infos = socket.getaddrinfo(parts.hostname, parts.port or (443 if parts.scheme == "https" else 80))
    except (socket.gaierror, UnicodeError) as error:
        raise TargetRefused(f"The host {parts.hostname} cannot be resolved ({error}).") from error
    for info in infos:
        address = str(info[4][0])
        if _is_private(address):
            raise TargetRefused(
                f"{parts.hostname} resolves to {address}, a private or local network address: "
                "webhooks are only delivered to public addresses (settings.WEBHOOKS_ALLOW_PRIVATE)."
            )
