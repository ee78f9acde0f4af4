"""The server error page: 503 "try again in a moment" when the database does not answer, else 500.

Both are rendered from a template without the request (no context processors, so nothing touches the database
or the session): the app's own page, never a hang and never Django's bare "Server Error (500)".
"""

from __future__ import annotations

import sys

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, HttpResponseServerError
from django.template import loader

# Seconds a browser or a client is told to wait before trying again while the database is away.
RETRY_AFTER_SECONDS = 30


def database_unavailable(error: BaseException | None) -> bool:
    """True for an error that says the database is not answering (down, restarting, connection lost)."""
    return isinstance(error, OperationalError | InterfaceError)


def server_error(request: HttpRequest, template_name: str = "500.html") -> HttpResponse:
    """handler500: called while the request's exception is being handled, so sys.exc_info() names it."""
    if database_unavailable(sys.exc_info()[1]):
        response = HttpResponse(loader.get_template("503.html").render(), status=503)
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response
    return HttpResponseServerError(loader.get_template(template_name).render())
