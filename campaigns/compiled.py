"""Content compiled once per (variant, A/B arm) for a send: the same messages as compose.message_for and
sending.email_for, rendered without re-parsing anything per contact.

Invariant: for every contact, `CompiledContent.message(...)` equals `compose.message_for(...)` and
`CompiledContent.html_tracked(...)` equals `tracking.html_tracked(...)` (tests/campaigns/test_compiled.py
checks both on random templates and values). Where that cannot be shown for a template, the compiled
content falls back to the reference code for that part, per message:
- the plain-text part is substituted into the body's text converted once (html_to_text of the body with
  a sentinel per token) only when every token sits in plain text: not inside a tag, a comment, a link,
  script/style, or right after an unfinished character reference (`&am{{ x }}`);
- links are rewritten at their place in the template only when no token is within the tag-free stretch
  of a quote character (a value could then complete or alter an `href="…"`).
A token that no longer exists makes the whole (variant, arm) fail with the same TokenError as message_for.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from html import escape, unescape

from django.conf import settings
from django.core import signing
from django.urls import reverse

from campaigns.compose import Message, content_for
from campaigns.models import Campaign, Channel, ContentVariant, Delivery, SplitArm
from campaigns.personalisation import TOKEN, TokenError, contact_values, tokens_parse
from campaigns.plaintext import _Converter, html_to_text
from campaigns.sms import with_opt_out
from campaigns.tracking import _HREF, CLICK_SALT, OPEN_SALT, html_tracked, open_value
from contacts.models import Contact, ContactField

_LEFT, _RIGHT = "\ue000", "\ue001"  # private-use characters: a token's sentinel is _LEFT + index + _RIGHT
_SENTINEL = re.compile(f"{_LEFT}(\\d+){_RIGHT}")
_WHITESPACE = re.compile(r"[ \t\r\n\f]+")  # what the HTML-to-text converter collapses
_OPEN_REFERENCE = re.compile(r"&[#\w]*$")


@dataclass(frozen=True)
class Slot:
    name: str
    default: str


class Template:
    """A personalisation text split once into literal parts and token slots."""

    def __init__(self, text: str, *, allowed: Iterable[str]) -> None:
        by_source = {t.source: t for t in tokens_parse(text, allowed=allowed)}
        self.parts: list[str | Slot] = []
        end = 0
        for match in TOKEN.finditer(text):
            self.parts.append(text[end : match.start()])
            token = by_source[match.group(0)]
            self.parts.append(Slot(token.name, token.default))
            end = match.end()
        self.parts.append(text[end:])
        self.slots = [p for p in self.parts if isinstance(p, Slot)]

    def render(self, values: dict[str, str], *, html: bool = False) -> str:
        """As personalisation.render: each value stripped, else the token's fallback; escaped when `html`."""
        out = []
        for part in self.parts:
            if isinstance(part, Slot):
                value = values.get(part.name, "").strip() or part.default
                out.append(escape(value) if html else value)
            else:
                out.append(part)
        return "".join(out)

    def with_sentinels(self) -> str:
        """The HTML with the i-th token replaced by its sentinel (escape leaves sentinels alone)."""
        out, index = [], 0
        for part in self.parts:
            if isinstance(part, Slot):
                out.append(f"{_LEFT}{index}{_RIGHT}")
                index += 1
            else:
                out.append(part)
        return "".join(out)


class _Probe(_Converter):
    """html_to_text's converter, noting whether a sentinel appears anywhere but in plain text."""

    def __init__(self) -> None:
        super().__init__()
        self.unsafe = False

    def _check(self, *texts: str | None) -> None:
        if any(t and _LEFT in t for t in texts):
            self.unsafe = True

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._check(tag, *(v for pair in attrs for v in pair))
        super().handle_starttag(tag, attrs)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._check(tag, *(v for pair in attrs for v in pair))
        super().handle_startendtag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        self._check(tag)
        super().handle_endtag(tag)

    def handle_data(self, data: str) -> None:
        if self.skipping or self.links:
            self._check(data)
        super().handle_data(data)

    def handle_comment(self, data: str) -> None:
        self._check(data)

    def handle_decl(self, decl: str) -> None:
        self._check(decl)

    def handle_pi(self, data: str) -> None:
        self._check(data)

    def unknown_decl(self, data: str) -> None:
        self._check(data)


def _text_plan(body: Template) -> str | None:
    """The body's plain text with sentinels where the tokens go, or None when it cannot be used."""
    html = body.with_sentinels()
    for match in _SENTINEL.finditer(html):
        if _OPEN_REFERENCE.search(html[: match.start()]):
            return None
    probe = _Probe()
    probe.feed(html)
    probe.close()
    if probe.unsafe:
        return None
    text = html_to_text(html)
    if sorted(_SENTINEL.findall(text)) != sorted(_SENTINEL.findall(html)):
        return None
    return text


def _normalise(text: str) -> str:
    """html_to_text's last steps: spaces collapsed and lines stripped, at most one blank line in a row."""
    lines = [re.sub(r" {2,}", " ", line).strip() for line in text.split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def _link_plan(body: Template) -> list[str | int | tuple[str]] | None:
    """The body HTML as literal text, token indexes and (url,) links to rewrite; None when unsafe."""
    html = body.with_sentinels()
    for match in _SENTINEL.finditer(html):
        left = max(html.rfind("<", 0, match.start()), html.rfind(">", 0, match.start()))
        ends = [i for i in (html.find("<", match.end()), html.find(">", match.end())) if i >= 0]
        stretch = html[left + 1 : min(ends) if ends else len(html)]
        if '"' in stretch or "'" in stretch:
            return None
    plan: list[str | int | tuple[str]] = []
    end = 0
    for match in _HREF.finditer(html):
        if _LEFT in match.group(0):
            return None
        _split_sentinels(html[end : match.start("url")], plan)
        plan.append((unescape(match["url"]),))
        end = match.end("url")
    _split_sentinels(html[end:], plan)
    return plan


def _split_sentinels(text: str, plan: list[str | int | tuple[str]]) -> None:
    end = 0
    for match in _SENTINEL.finditer(text):
        plan.append(text[end : match.start()])
        plan.append(int(match.group(1)))
        end = match.end()
    plan.append(text[end:])


class Urls:
    """The tracking and unsubscribe links of sent messages, reversed once (tracking.open_url and friends)."""

    def __init__(self) -> None:
        def around(name: str) -> tuple[str, str]:
            prefix, suffix = reverse(name, args=["TOKEN"]).split("TOKEN")
            return settings.SITE_URL + prefix, suffix

        self.open = around("track_open")
        self.click = around("track_click")
        self.unsubscribe = around("unsubscribe")
        self.open_signer = signing.Signer(salt=OPEN_SALT)

    def open_url(self, delivery_id: int, contact_id: int | None, campaign_id: int | None) -> str:
        value = open_value(delivery_id=delivery_id, contact_id=contact_id, campaign_id=campaign_id)
        return f"{self.open[0]}{self.open_signer.sign(value)}{self.open[1]}"

    def click_url(self, delivery_id: int, url: str) -> str:
        token = signing.dumps([delivery_id, url], salt=CLICK_SALT, compress=True)
        return f"{self.click[0]}{token}{self.click[1]}"


class CompiledContent:
    """One (variant, arm)'s content, parsed once; `error` is set when its tokens no longer exist."""

    def __init__(
        self, *, campaign: Campaign, variant: ContentVariant | None, arm: SplitArm | None, allowed: list[str]
    ) -> None:
        self.campaign, self.variant, self.arm = campaign, variant, arm
        self.error: TokenError | None = None
        content = content_for(campaign=campaign, variant=variant, arm=arm)
        try:
            self.body = Template(content.body, allowed=allowed)
            self.subject = Template(content.subject, allowed=allowed)
            self.preheader = Template(content.preheader, allowed=allowed)
        except TokenError as exc:
            self.error = exc
            return
        self.is_sms = campaign.channel == Channel.SMS
        texts = [self.body] if self.is_sms else [self.body, self.subject, self.preheader]
        self.names = {slot.name for t in texts for slot in t.slots}
        self.text_plan = None if self.is_sms else _text_plan(self.body)
        self.link_plan = None if self.is_sms else _link_plan(self.body)

    def values(self, contact: Contact, fields: list[ContactField]) -> dict[str, str]:
        return contact_values(contact, fields=fields, names=self.names)

    def message(self, values: dict[str, str]) -> Message:
        """compose.message_for's Message for a contact with these values."""
        arm = self.arm.label if self.arm else None
        if self.is_sms:
            # every SMS says how to opt out, as compose.message_for's does
            return Message("", "", "", with_opt_out(self.body.render(values)), self.variant, arm)
        html = self.body.render(values, html=True)
        if self.text_plan is None:
            text = html_to_text(html)
        else:
            slots = self.body.slots
            text = _normalise(
                _SENTINEL.sub(
                    lambda m: _WHITESPACE.sub(" ", values.get(slots[int(m[1])].name, "").strip()
                                              or slots[int(m[1])].default),
                    self.text_plan,
                )
            )  # fmt: skip
        return Message(self.subject.render(values), self.preheader.render(values), html, text, self.variant, arm)

    def html_tracked(
        self, *, html: str, values: dict[str, str], delivery: Delivery, campaign_id: int, urls: Urls
    ) -> str:
        """tracking.html_tracked(html=message.html, …) of the delivery, from the plan when there is one."""
        delivery_id, contact_id = delivery.pk, delivery.contact_id
        if self.link_plan is None:
            return html_tracked(html=html, delivery_id=delivery_id, contact_id=contact_id, campaign_id=campaign_id)
        out = []
        slots = self.body.slots
        for part in self.link_plan:
            if isinstance(part, str):
                out.append(part)
            elif isinstance(part, int):
                slot = slots[part]
                out.append(escape(values.get(slot.name, "").strip() or slot.default))
            else:
                out.append(escape(urls.click_url(delivery_id, part[0])))
        pixel = (
            f'<img src="{escape(urls.open_url(delivery_id, contact_id, campaign_id))}" width="1" height="1" alt="" '
            'style="display:block;width:1px;height:1px;border:0">'
        )
        return "".join(out) + "\n" + pixel
