"""Reading settings from environment variables: booleans, lists, PostgreSQL memory sizes, the proxy header and
EMAIL_URL."""

from __future__ import annotations

import os
import re
from urllib.parse import parse_qs, unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured

TRUE = {"1", "true", "yes", "on"}
FALSE = {"0", "false", "no", "off", ""}


def env_bool(name: str, default: bool) -> bool:
    """The variable as a boolean (1/true/yes/on, 0/false/no/off or empty); `default` when it is not set."""
    value = os.environ.get(name)
    if value is None:
        return default
    value = value.strip().lower()
    if value not in TRUE | FALSE:
        raise ImproperlyConfigured(f"{name}={value!r}: expected 1/true/yes/on or 0/false/no/off")
    return value in TRUE


def env_list(name: str, default: str = "") -> list[str]:
    """A comma-separated variable as a list, blanks dropped."""
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


_MEMORY = re.compile(r"[0-9]+ ?(?:kB|MB|GB|TB)?")


def env_memory(name: str, default: str) -> str:
    """A PostgreSQL memory size (a work_mem): digits with kB, MB, GB or TB (kB when bare), checked at start-up —
    a typo would otherwise fail every statement that sets it (each live count, each rebuild)."""
    value = os.environ.get(name, default).strip()
    if not _MEMORY.fullmatch(value):
        raise ImproperlyConfigured(f"{name}={value!r}: expected a PostgreSQL memory size such as 16MB or 1GB")
    return value


def proxy_ssl_header(value: str) -> tuple[str, str] | None:
    """SECURE_PROXY_SSL_HEADER from "HTTP_X_FORWARDED_PROTO" or "HTTP_X_FORWARDED_PROTO,https"."""
    name, _, expected = value.partition(",")
    name = name.strip().upper().replace("-", "_")
    if not name:
        return None
    if not name.startswith("HTTP_"):
        name = "HTTP_" + name  # "X-Forwarded-Proto" as the proxy names it: Django's META key
    return name, expected.strip() or "https"


EMAIL_SCHEMES = {
    "smtp": ("django.core.mail.backends.smtp.EmailBackend", False, False),
    "smtp+tls": ("django.core.mail.backends.smtp.EmailBackend", True, False),  # STARTTLS, usually port 587
    "submission": ("django.core.mail.backends.smtp.EmailBackend", True, False),
    "smtps": ("django.core.mail.backends.smtp.EmailBackend", False, True),  # TLS from the start, usually 465
    "smtp+ssl": ("django.core.mail.backends.smtp.EmailBackend", False, True),
    "console": ("django.core.mail.backends.console.EmailBackend", False, False),
    "file": ("django.core.mail.backends.filebased.EmailBackend", False, False),
    "locmem": ("django.core.mail.backends.locmem.EmailBackend", False, False),
    "dummy": ("django.core.mail.backends.dummy.EmailBackend", False, False),
}


def email_from_url(url: str) -> dict[str, object]:
    """EMAIL_* settings from one URL: smtp://user:password@host:25, smtp+tls://…:587, smtps://…:465,
    console:, file:///var/mail/app, locmem:, dummy:. User and password are percent-decoded; ?timeout=N."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in EMAIL_SCHEMES:
        raise ImproperlyConfigured(f"EMAIL_URL: unknown scheme {scheme!r} (use one of {', '.join(EMAIL_SCHEMES)})")
    backend, use_tls, use_ssl = EMAIL_SCHEMES[scheme]
    settings: dict[str, object] = {"EMAIL_BACKEND": backend}
    if scheme == "file":
        settings["EMAIL_FILE_PATH"] = unquote(parts.path)
        return settings
    if backend.endswith("smtp.EmailBackend"):
        query = parse_qs(parts.query)
        settings.update(
            EMAIL_HOST=parts.hostname or "localhost",
            EMAIL_PORT=parts.port or (465 if use_ssl else 587 if use_tls else 25),
            EMAIL_HOST_USER=unquote(parts.username or ""),
            EMAIL_HOST_PASSWORD=unquote(parts.password or ""),
            EMAIL_USE_TLS=use_tls,
            EMAIL_USE_SSL=use_ssl,
        )
        if "timeout" in query:
            settings["EMAIL_TIMEOUT"] = int(query["timeout"][0])
    return settings
