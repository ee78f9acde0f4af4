"""Campaign forms: validate and lay out; the views call campaigns.services with cleaned_data."""

from __future__ import annotations

import re
from email.utils import parseaddr
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from campaigns.models import Campaign, CampaignKind, CampaignStatus, Channel, ContentVariant, GroupRole, SplitArm
from campaigns.personalisation import TokenError, allowed_tokens, tokens_check
from contacts.forms import SafePkMixin
from contacts.models import Consent
from segments.models import ContactGroup

SMS_SENDER = re.compile(r"^(?:[A-Za-z0-9 ]{1,11}|\+?[0-9]{3,15})$")


class GroupMultipleChoiceField(SafePkMixin, forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        return f"{obj.name} ({obj.code})"


class ConsentChoiceField(SafePkMixin, forms.ModelChoiceField):
    pass


class GroupChoiceField(SafePkMixin, forms.ModelChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        return f"{obj.name} ({obj.code})"


def _group_select(label: str) -> forms.SelectMultiple:
    return forms.SelectMultiple(attrs={"data-picker": "", "placeholder": "Type a group's name…", "aria-label": label})


def in_submitted_order(form: forms.Form, name: str) -> list[ContactGroup]:
    """The groups of a multiple-choice field in the order the user picked them (the order sent)."""
    raw = [str(v) for v in form.data.getlist(name)] if hasattr(form.data, "getlist") else []
    position = {value: i for i, value in enumerate(raw)}
    return sorted(form.cleaned_data.get(name) or [], key=lambda g: position.get(str(g.pk), len(raw)))


class TokenFieldsMixin:
    """Checks the personalisation tokens of the content fields; the error names the token."""

    token_fields: tuple[str, ...] = ("subject", "preheader", "body")
    cleaned_data: dict[str, Any]

    def _tokens(self) -> list[str]:
        if not hasattr(self, "_allowed"):
            self._allowed = allowed_tokens()
        return self._allowed

    def clean_tokens(self) -> None:
        for name in self.token_fields:
            try:
                tokens_check(self.cleaned_data.get(name) or "", allowed=self._tokens())
            except TokenError as exc:
                self.add_error(name, [f"{p[0].upper()}{p[1:]}." for p in exc.problems])  # type: ignore[attr-defined]


KIND_CHOICES = [
    (CampaignKind.ONE_OFF.value, "Send once — now or at a time you choose, to the audience of that moment"),
    (CampaignKind.TRIGGERED.value, "Send when someone joins — to each contact who enters an included group "
     "after you activate it, once per contact"),
]  # fmt: skip


class CampaignForm(TokenFieldsMixin, forms.Form):
    name = forms.CharField(max_length=200)
    channel = forms.ChoiceField(choices=Channel.choices, widget=forms.RadioSelect, initial=Channel.EMAIL)
    kind = forms.ChoiceField(
        label="When", choices=KIND_CHOICES, widget=forms.RadioSelect, initial=CampaignKind.ONE_OFF, required=False
    )
    daily_cap = forms.IntegerField(
        label="Daily cap",
        min_value=1,
        max_value=1_000_000,
        required=False,
        widget=forms.NumberInput(attrs={"placeholder": "No cap"}),
        help_text="At most this many new messages a day. Who joins beyond it waits, in order, for the next day "
        "(and gets it then if still in the group). Blank: no cap.",
    )
    include = GroupMultipleChoiceField(
        queryset=ContactGroup.objects.order_by("name"),
        label="Included groups",
        help_text="Members of any of these groups receive the campaign (sent when someone joins: whoever joins "
        "one of them).",
        widget=_group_select("Included groups"),
    )
    exclude = GroupMultipleChoiceField(
        queryset=ContactGroup.objects.order_by("name"),
        label="Excluded groups",
        required=False,
        help_text="Members of any of these groups never receive it, even when in an included group.",
        widget=_group_select("Excluded groups"),
    )
    required_consent = ConsentChoiceField(
        queryset=Consent.objects.order_by("name"),
        required=False,
        empty_label="No consent required",
        help_text="Only contacts who agreed to this (and did not revoke it) receive the campaign.",
    )
    sender = forms.CharField(
        max_length=200,
        required=False,
        help_text=(
            "Email: an address, or a name and address like Shop &lt;shop@example.com&gt;. "
            "SMS: a sender name of up to 11 letters or digits, or a number."
        ),
    )
    subject = forms.CharField(max_length=200, required=False)
    preheader = forms.CharField(
        max_length=200, required=False, help_text="The preview line shown after the subject in most inboxes."
    )
    body = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 12, "class": "font-monospace", "data-sms-source": ""}),
        required=False,
        help_text="Email: HTML (the plain-text part is generated from it). SMS: plain text.",
    )

    def __init__(self, *args: Any, campaign: Campaign | None = None, **kwargs: Any) -> None:
        if campaign is not None:
            links = list(campaign.group_links.order_by("position", "id"))
            kwargs["initial"] = {
                "name": campaign.name,
                "channel": campaign.channel,
                "include": [link.group_id for link in links if link.role == GroupRole.INCLUDE],
                "exclude": [link.group_id for link in links if link.role == GroupRole.EXCLUDE],
                "required_consent": campaign.required_consent_id,
                "kind": campaign.kind,
                "daily_cap": campaign.daily_cap,
                "sender": campaign.sender,
                "subject": campaign.subject,
                "preheader": campaign.preheader,
                "body": campaign.body,
                **kwargs.get("initial", {}),
            }
        super().__init__(*args, **kwargs)
        self.campaign = campaign
        if campaign is not None and campaign.status != CampaignStatus.DRAFT:
            self.fields["kind"].disabled = True  # chosen for good once it was sent or activated
            self.fields["kind"].help_text = "Chosen for good once the campaign was sent or activated."

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        if not data.get("kind"):  # not sent: as it was (a new campaign: sent once)
            data["kind"] = self.campaign.kind if self.campaign is not None else CampaignKind.ONE_OFF
        if data["kind"] != CampaignKind.TRIGGERED:
            data["daily_cap"] = None
        include, exclude = data.get("include") or [], data.get("exclude") or []
        both = sorted({g.name for g in include} & {g.name for g in exclude})
        if both:
            self.add_error("exclude", f"A group cannot be both included and excluded: {', '.join(both)}.")
        channel, sender = data.get("channel"), (data.get("sender") or "").strip()
        if sender and channel == Channel.EMAIL:
            _, address = parseaddr(sender)
            try:
                validate_email(address)
            except ValidationError:
                self.add_error("sender", "Enter an email address, optionally as “Name <address>”.")
        elif sender and channel == Channel.SMS and not SMS_SENDER.match(sender):
            self.add_error("sender", "An SMS sender is up to 11 letters, digits or spaces, or a phone number.")
        data["sender"] = sender
        self.clean_tokens()
        if not self.errors:
            data["include"], data["exclude"] = in_submitted_order(self, "include"), in_submitted_order(self, "exclude")
        return data


class VariantForm(TokenFieldsMixin, forms.Form):
    group = GroupChoiceField(queryset=ContactGroup.objects.none(), help_text="One of the campaign's included groups.")
    priority = forms.IntegerField(min_value=1, max_value=999, initial=1, help_text="Lower numbers are tried first.")
    subject = forms.CharField(max_length=200, required=False, help_text="Blank: the campaign's subject.")
    preheader = forms.CharField(max_length=200, required=False, help_text="Blank: the campaign's preheader.")
    body = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 8, "class": "font-monospace", "data-sms-source": ""}),
        required=False,
        help_text="Blank: the campaign's body.",
    )

    def __init__(self, *args: Any, campaign: Campaign, variant: ContentVariant | None = None, **kwargs: Any) -> None:
        if variant is not None:
            kwargs["initial"] = {
                "group": variant.group_id,
                "priority": variant.priority,
                "subject": variant.subject,
                "preheader": variant.preheader,
                "body": variant.body,
            }
        else:
            last = campaign.variants.order_by("-priority").values_list("priority", flat=True).first()
            kwargs.setdefault("initial", {"priority": (last or 0) + 1})
        super().__init__(*args, **kwargs)
        included = campaign.group_links.filter(role=GroupRole.INCLUDE).values("group_id")
        self.fields["group"].queryset = ContactGroup.objects.filter(pk__in=included).order_by("name")  # type: ignore[attr-defined]
        if campaign.channel == Channel.SMS:
            del self.fields["subject"], self.fields["preheader"]
            self.token_fields = ("body",)

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        self.clean_tokens()
        return data


LABELS = "ABCD"


class SplitForm(TokenFieldsMixin, forms.Form):
    """Up to four arms; an arm with a blank percentage is not used."""

    def __init__(self, *args: Any, campaign: Campaign, **kwargs: Any) -> None:
        arms: dict[str, SplitArm] = {a.label: a for a in campaign.arms.all()}
        initial: dict[str, Any] = {}
        for label, arm in arms.items():
            initial.update(
                {f"{label}_percent": arm.percent, f"{label}_subject": arm.subject, f"{label}_body": arm.body}
            )
        kwargs.setdefault("initial", initial)
        super().__init__(*args, **kwargs)
        email = campaign.channel == Channel.EMAIL
        names = []
        for label in LABELS:
            self.fields[f"{label}_percent"] = forms.IntegerField(
                label=f"Variant {label}: share (%)",
                min_value=1,
                max_value=99,
                required=False,
                widget=forms.NumberInput(attrs={"class": "form-control"}),
            )
            if email:
                self.fields[f"{label}_subject"] = forms.CharField(
                    label=f"Variant {label}: subject",
                    max_length=200,
                    required=False,
                    widget=forms.TextInput(attrs={"class": "form-control"}),
                )
                names.append(f"{label}_subject")
            self.fields[f"{label}_body"] = forms.CharField(
                label=f"Variant {label}: body",
                required=False,
                widget=forms.Textarea(attrs={"rows": 3, "class": "form-control font-monospace"}),
            )
            names.append(f"{label}_body")
        self.token_fields = tuple(names)

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        self.clean_tokens()
        used = [label for label in LABELS if data.get(f"{label}_percent")]
        if used and used != list(LABELS[: len(used)]):
            raise ValidationError("Fill the variants in order: A, B, then C and D.")
        if len(used) == 1:
            raise ValidationError("An A/B split needs at least two variants (or none, for no split).")
        total = sum(data[f"{label}_percent"] for label in used)
        if used and total != 100:
            raise ValidationError(f"The shares add up to {total} %, not 100 %.")
        return data

    def arms(self) -> list[dict[str, Any]]:
        data = self.cleaned_data
        return [
            {
                "percent": data[f"{label}_percent"],
                "subject": data.get(f"{label}_subject", ""),
                "body": data.get(f"{label}_body", ""),
            }
            for label in LABELS
            if data.get(f"{label}_percent")
        ]


class TestSendForm(forms.Form):
    to = forms.EmailField(label="Send a test to", widget=forms.EmailInput(attrs={"placeholder": "you@example.com"}))
    contact = forms.IntegerField(widget=forms.HiddenInput, required=False)


class AudienceForm(forms.Form):
    """The audience part of the campaign form, read by the live audience panel (GET)."""

    channel = forms.ChoiceField(choices=Channel.choices, required=False)
    kind = forms.ChoiceField(choices=CampaignKind.choices, required=False)
    include = GroupMultipleChoiceField(queryset=ContactGroup.objects.all(), required=False)
    exclude = GroupMultipleChoiceField(queryset=ContactGroup.objects.all(), required=False)
    required_consent = ConsentChoiceField(queryset=Consent.objects.all(), required=False)

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        data["include"], data["exclude"] = in_submitted_order(self, "include"), in_submitted_order(self, "exclude")
        return data


class SendForm(forms.Form):
    """Send now, or schedule for a moment in the future (the browser's local time, in the project's zone)."""

    action = forms.ChoiceField(choices=[("now", "Send now"), ("schedule", "Schedule")])
    at = forms.DateTimeField(
        label="Send at",
        required=False,
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"],
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )
    # The safety rail (campaigns.safety): the ticked "I checked the audience: send to N people" and the signed numbers.
    confirm = forms.IntegerField(required=False, min_value=0)
    confirm_token = forms.CharField(required=False, max_length=500)

    def clean(self) -> dict[str, Any]:
        from django.utils import timezone

        data = super().clean() or {}
        if data.get("action") == "schedule":
            at = data.get("at")
            if at is None:
                self.add_error("at", "Choose when to send it.")
            elif at <= timezone.now():
                self.add_error("at", "Choose a moment in the future (or send now).")
        return data
