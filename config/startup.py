"""Checks made when a server process starts (config.wsgi, config.asgi; `runserver` loads config.wsgi).

With DEBUG off, static files are served by whitenoise from STATIC_ROOT through its manifest
(staticfiles.json): without it every page, the 404 page included, fails with a 500, and a manifest
collected later is only read at the next start. So the server refuses to start instead, saying what to run.
"""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


def static_files_check() -> None:
    """Raise ImproperlyConfigured when DEBUG is off and the collected static files' manifest is missing."""
    if settings.DEBUG:
        return
    backend = settings.STORAGES.get("staticfiles", {}).get("BACKEND", "")
    if "Manifest" not in backend:
        return
    manifest = Path(settings.STATIC_ROOT) / "staticfiles.json"
    if not manifest.is_file():
        raise ImproperlyConfigured(
            f"DEBUG is off but the static files are not collected ({manifest} is missing): "
            "run `python manage.py collectstatic --noinput`, then start the server again."
        )
