from django.http import HttpRequest

from health.notice import background_delay


def background(request: HttpRequest) -> dict:
    """`background_notice`: why background work is delayed ("" when it is not), for signed-in pages (base.html)."""
    user = getattr(request, "user", None)
    if not user or not user.is_authenticated:
        return {}
    return {"background_notice": background_delay()}
