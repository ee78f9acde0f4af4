"""Personalisation tokens: {{ first_name }}, {{ account.name }}, {{ custom.<code> }}, with fallbacks
({{ first_name|default:"there" }}).

Invariant: this is NOT a template engine. The only syntax is `{{ name }}` and `{{ name|default:"text" }}`
where `name` is on a whitelist (built-in contact fields, account fields, active custom fields); any other
`{{ … }}`, any `{% … %}` or `{# … #}`, is an error naming it, found at save time (`tokens_check`).
Rendering substitutes values from a dict of plain strings built from the contact's allowed fields
(`contact_values`): nothing else about the contact, its relations or Python is reachable.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from html import escape
from typing import Any

from contacts.custom_fields import display_value
from contacts.models import Contact, ContactField

CONTACT_TOKENS = (
    "first_name",
    "last_name",
    "full_name",
    "email",
    "phone",
    "city",
    "country",
    "job_title",
    "lead_score",
)
ACCOUNT_TOKENS = ("account.name", "account.domain", "account.industry", "account.country")
CUSTOM_PREFIX = "custom."

TOKEN = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)
TAG = re.compile(r"\{%.*?%\}|\{#.*?#\}|\{%|\{#", re.DOTALL)
INNER = re.compile(
    r"""^\s*(?P<name>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)?)\s*
        (?:\|\s*default\s*:\s*(?:"(?P<dq>[^"{}]*)"|'(?P<sq>[^'{}]*)')\s*)?$""",
    re.VERBOSE,
)


class TokenError(ValueError):
    """Bad personalisation: the message names every offending token."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))


@dataclass(frozen=True)
class Token:
    source: str  # the whole "{{ … }}"
    name: str
    default: str


def allowed_tokens() -> list[str]:
    """Every token name usable now: built-in and account fields, then active custom fields."""
    custom = ContactField.objects.active().order_by("order", "id").values_list("code", flat=True)
    return [*CONTACT_TOKENS, *ACCOUNT_TOKENS, *(f"{CUSTOM_PREFIX}{code}" for code in custom)]


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= 60 else text[:57] + "…"


def tokens_parse(text: str, *, allowed: Iterable[str]) -> list[Token]:
    """The tokens in `text`; TokenError naming every tag, malformed token or unknown name."""
    allowed_set = set(allowed)
    problems = [f"template tags are not allowed: {_short(m.group(0))}" for m in TAG.finditer(text)]
    tokens: list[Token] = []
    for match in TOKEN.finditer(text):
        source = match.group(0)
        inner = INNER.match(match.group(1))
        if inner is None:
            problems.append(f'{_short(source)} is not a token (write {{{{ name }}}} or {{{{ name|default:"text" }}}})')
            continue
        name = inner.group("name")
        if name not in allowed_set:
            problems.append(f"unknown token {_short(source)}: “{name}” is not a field you can use")
            continue
        default = inner.group("dq") if inner.group("dq") is not None else (inner.group("sq") or "")
        tokens.append(Token(source=source, name=name, default=default))
    rest = TOKEN.sub("", text)
    if "{{" in rest or "}}" in rest:
        problems.append("a “{{” or “}}” without its other half")
    if problems:
        raise TokenError(problems)
    return tokens


def tokens_check(text: str, *, allowed: Iterable[str] | None = None) -> None:
    """Raise TokenError when `text` uses anything but allowed tokens (the save-time check)."""
    tokens_parse(text, allowed=allowed_tokens() if allowed is None else allowed)


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _country_name(country: Any) -> str:
    return _text(getattr(country, "name", country)) if country else ""


# Each built-in token's value for one contact (plain strings, "" when empty).
_CONTACT_VALUES: dict[str, Callable[[Contact], str]] = {
    "first_name": lambda c: c.first_name,
    "last_name": lambda c: c.last_name,
    "full_name": lambda c: c.full_name,
    "email": lambda c: _text(c.email),
    "phone": lambda c: c.phone,
    "city": lambda c: c.city,
    "country": lambda c: _country_name(c.country),
    "job_title": lambda c: c.job_title,
    "lead_score": lambda c: _text(c.lead_score),
    "account.name": lambda c: c.account.name if c.account else "",
    "account.domain": lambda c: c.account.domain if c.account else "",
    "account.industry": lambda c: c.account.industry if c.account else "",
    "account.country": lambda c: _country_name(c.account.country) if c.account else "",
}


def contact_values(
    contact: Contact, *, fields: Iterable[ContactField] | None = None, names: Iterable[str] | None = None
) -> dict[str, str]:
    """The sandbox: every allowed token's value for one contact, as plain strings ("" when empty).

    `names`: only these tokens (a sender renders many messages from templates using a few of them).
    """
    wanted = None if names is None else set(names)
    values = {name: value(contact) for name, value in _CONTACT_VALUES.items() if wanted is None or name in wanted}
    custom = contact.custom if isinstance(contact.custom, dict) else {}
    for field in ContactField.objects.active() if fields is None else fields:
        name = f"{CUSTOM_PREFIX}{field.code}"
        if wanted is None or name in wanted:
            values[name] = display_value(field=field, value=custom.get(field.code))
    return values


def render(text: str, *, values: dict[str, str], html: bool = False) -> str:
    """`text` with every token replaced by its value (or fallback); values HTML-escaped when `html`.

    TokenError when a token is not among `values` (e.g. a custom field retired since the text was saved).
    """
    tokens = tokens_parse(text, allowed=values.keys())
    by_source = {t.source: t for t in tokens}

    def substitute(match: re.Match[str]) -> str:
        token = by_source[match.group(0)]
        value = values.get(token.name, "").strip() or token.default
        return escape(value) if html else value

    return TOKEN.sub(substitute, text)
