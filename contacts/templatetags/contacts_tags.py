"""Template helpers for contact and account pages: sortable headers, filter chips, icons, avatars."""

from __future__ import annotations

from typing import Any

from django import template
from django.http import QueryDict
from django.utils.html import format_html

from contacts.forms import country_name

register = template.Library()

ACTIVITY_ICONS: dict[str, tuple[str, str]] = {
    "page_visit": ("globe2", "primary"),
    "form_submission": ("ui-checks", "success"),
    "email_open": ("envelope-open", "info"),
    "email_click": ("cursor", "info"),
    "email_sent": ("envelope", "secondary"),
    "sms_sent": ("chat-dots", "secondary"),
    "purchase": ("bag-check", "warning"),
    "custom": ("lightning-charge", "dark"),
}
# Avatar colours: classes avatar-c0 … avatar-c7 in static/css/app.css (a class, not a style attribute: the CSP).
AVATAR_COLORS = 8


# The page and a keyset page's position (segments' members: ?after=/?before=): a link that changes the
# sort or the filters starts again at the first page.
PAGE_PARAMS = ("page", "after", "before")


def _query(context: dict[str, Any]) -> QueryDict:
    request = context.get("request")
    return request.GET.copy() if request is not None else QueryDict(mutable=True)


def _without_page(query: QueryDict) -> QueryDict:
    for name in PAGE_PARAMS:
        query.pop(name, None)
    return query


@register.simple_tag(takes_context=True)
def sort_header(context: dict[str, Any], key: str, label: str) -> str:
    """A table header link that sorts by `key`, toggling direction, with an arrow on the current column."""
    current = context.get("sort", "")
    query = _without_page(_query(context))
    active = current.lstrip("-") == key
    descending = current.startswith("-")
    query["sort"] = f"-{key}" if active and not descending else key
    icon = ""
    if active:
        icon = format_html('<i class="bi bi-arrow-{} ms-1" aria-hidden="true"></i>', "down" if descending else "up")
    return format_html(
        '<a href="?{}" class="sort-link{}" title="Sort by {}">{}{}</a>',
        query.urlencode(),
        " active" if active else "",
        label.lower(),
        label,
        icon,
    )


@register.simple_tag(takes_context=True)
def aria_sort(context: dict[str, Any], key: str) -> str:
    current = context.get("sort", "")
    if current.lstrip("-") != key:
        return "none"
    return "descending" if current.startswith("-") else "ascending"


@register.simple_tag(takes_context=True)
def query_without(context: dict[str, Any], *names: str) -> str:
    """The current query string without the given parameters (and without the page), starting with "?"."""
    query = _without_page(_query(context))
    for name in names:
        query.pop(name, None)
    encoded = query.urlencode()
    return f"?{encoded}" if encoded else "?"


@register.simple_tag(takes_context=True)
def current_query(context: dict[str, Any]) -> str:
    """The current query string without the page (for forwarding the list's filters)."""
    query = _without_page(_query(context))
    return query.urlencode()


@register.filter
def activity_icon(activity_type: str) -> str:
    return ACTIVITY_ICONS.get(activity_type, ("dot", "secondary"))[0]


@register.filter
def activity_color(activity_type: str) -> str:
    return ACTIVITY_ICONS.get(activity_type, ("dot", "secondary"))[1]


def _first_letter(text: str | None) -> str:
    """The first letter or digit of `text` ("" when it has none): "<b>Ann" gives "b", never "<"."""
    return next((c for c in text or "" if c.isalnum()), "")


@register.filter
def initials(contact: Any) -> str:
    """One or two letters for an avatar: from the name, else the email, else "?" (letters and digits only)."""
    first, last = getattr(contact, "first_name", ""), getattr(contact, "last_name", "")
    letters = (
        (_first_letter(first) + _first_letter(last))
        or _first_letter(getattr(contact, "email", ""))
        or "".join(c for c in getattr(contact, "name", "") or "" if c.isalnum())[:2]
    )
    return letters.upper() or "?"


@register.filter
def avatar_class(obj: Any) -> str:
    """The avatar's colour class for a record, the same every time: "avatar-c0" … "avatar-c7"."""
    return f"avatar-c{(getattr(obj, 'pk', 0) or 0) % AVATAR_COLORS}"


@register.filter(name="country_name")
def country_name_filter(country: Any) -> str:
    """`{{ contact.country|country_name }}`: the name of a country (field value or code), "" for none."""
    return country_name(getattr(country, "code", country))


@register.filter
def is_web_url(value: str) -> bool:
    """True for http(s) addresses: only those are rendered as links."""
    return str(value).lower().startswith(("http://", "https://"))


@register.filter
def get_item(mapping: Any, key: Any) -> Any:
    try:
        return mapping[key]
    except (KeyError, IndexError, TypeError):
        return None


@register.filter
def width_class(percent: Any) -> str:
    """A progress bar's width as a class, "w-pct-0" … "w-pct-100" (static/css/app.css): no style attribute."""
    try:
        value = round(float(percent))
    except (TypeError, ValueError):
        value = 0
    return f"w-pct-{min(100, max(0, value))}"
