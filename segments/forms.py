"""Forms for contact groups: validate and lay out; the views call services with cleaned_data."""

from __future__ import annotations

import json
from typing import Any

from crispy_forms.helper import FormHelper
from django import forms
from django.utils import timezone

from contacts.forms import SafePkMixin
from contacts.models import Account, Contact
from segments.models import GROUP_CODE_VALIDATOR, ContactGroup
from segments.rules import MAX_DEPTH, RuleError, validate
from segments.services import group_code_clash, group_name_clash


def condition_json(text: str) -> Any:
    """What a condition field's text holds as JSON (None when blank); a form error when it is not JSON."""
    text = text.strip()
    if not text:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise forms.ValidationError(f"This is not valid JSON: {exc.msg} (line {exc.lineno}).") from None
    except RecursionError:  # valid JSON nested deeper than the parser goes
        raise forms.ValidationError(f"The conditions are nested too deeply (at most {MAX_DEPTH} levels).") from None


class GroupForm(forms.Form):
    name = forms.CharField(max_length=200)
    code = forms.CharField(
        max_length=50,
        validators=[GROUP_CODE_VALIDATOR],
        help_text=(
            "Identifier used in conditions and integrations: letters, digits and underscores, starting with a "
            "letter (e.g. InactiveContacts or inactive_contacts). It cannot be changed later."
        ),
    )
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)
    is_condition_based = forms.BooleanField(
        label="Condition-based: members are also added and removed by a condition", required=False
    )
    condition = forms.CharField(
        label="Condition",
        # The visual builder (templates/segments/_builder.html) edits the rule tree JSON held here.
        widget=forms.HiddenInput(attrs={"data-builder-input": ""}),
        required=False,
        help_text="Who belongs to the group. Build it visually, or switch on “Edit as JSON” to paste a rule tree.",
    )
    scheduled_rebuild = forms.BooleanField(
        label="Rebuild every night (keeps members right when the condition uses relative dates)", required=False
    )

    def __init__(self, *args: Any, group: ContactGroup | None = None, **kwargs: Any) -> None:
        self.group = group
        if group is not None:
            kwargs["initial"] = {
                **(kwargs.get("initial") or {}),
                **{
                    "name": group.name,
                    "code": group.code,
                    "description": group.description,
                    "is_condition_based": group.is_condition_based,
                    "condition": json.dumps(group.condition, indent=2) if group.condition else "",
                    "scheduled_rebuild": group.scheduled_rebuild,
                },
            }
        super().__init__(*args, **kwargs)
        if group is not None:
            self.fields["code"].disabled = True
            self.fields["code"].help_text = "The code cannot be changed."
        self.helper = FormHelper()
        self.helper.form_tag = False

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        if message := group_name_clash(name=name, group=self.group):
            raise forms.ValidationError(message)
        return name

    def clean_code(self) -> str:
        code = self.cleaned_data["code"]
        if self.group is None and (message := group_code_clash(code=code)):
            raise forms.ValidationError(message)
        return code

    def clean_condition(self) -> Any:
        return condition_json(self.cleaned_data["condition"])

    def clean(self) -> dict[str, Any]:
        from segments.rules import CycleError, RuleError, validate

        super().clean()
        data = self.cleaned_data
        tree = data.get("condition")
        if data.get("is_condition_based") and not tree and "condition" not in self.errors:
            self.add_error("condition", "A condition-based group needs a condition.")
        elif tree is not None and data.get("code"):
            try:
                data["condition"] = validate(tree, group=self.group or data["code"])
            except RuleError as exc:
                self.add_error("condition", str(exc))
                # A summary at the top of the form; the builder marks the rule with the details.
                reason = "it would make groups depend on each other in a loop" if isinstance(exc, CycleError) else ""
                self.add_error(None, f"Not saved: {reason or 'the condition has an error'}; the rule is marked below.")
        return data


class _SafeModelMultipleChoiceField(SafePkMixin, forms.ModelMultipleChoiceField):
    """Refuses malformed or out-of-range ids (a 20-digit id) as an invalid choice, without a query."""


class ContactsPickForm(forms.Form):
    contacts = _SafeModelMultipleChoiceField(
        queryset=Contact.objects.filter(merged_into__isnull=True),
        widget=forms.SelectMultiple(attrs={"data-picker": "", "placeholder": "Search contacts by name or email…"}),
        label="Contacts",
    )


class AccountsPickForm(forms.Form):
    accounts = _SafeModelMultipleChoiceField(
        queryset=Account.objects.all(),
        widget=forms.SelectMultiple(attrs={"data-picker": "", "placeholder": "Search accounts by name or domain…"}),
        label="Accounts",
    )


class SelectedMembersForm(forms.Form):
    """Which members to remove: the selected contact ids, or everyone (`all`)."""

    selected = _SafeModelMultipleChoiceField(queryset=Contact.objects.all(), required=False)
    all = forms.BooleanField(required=False)

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        if not data.get("all") and not data.get("selected"):
            raise forms.ValidationError("Select at least one member.")
        return data


class GroupCopyForm(forms.Form):
    name = forms.CharField(max_length=200)
    code = forms.CharField(max_length=50, validators=[GROUP_CODE_VALIDATOR])
    freeze = forms.BooleanField(
        required=False,
        initial=True,
        label="Freeze: a static group of today's members (for an audit trail before a send)",
        help_text="Untick to copy the group as it is: condition, accounts and members, kept up to date.",
    )

    def __init__(self, *args: Any, group: ContactGroup, **kwargs: Any) -> None:
        today = timezone.localdate()
        kwargs["initial"] = {
            **(kwargs.get("initial") or {}),
            "name": f"{group.name} ({today:%Y-%m-%d})",
            "code": f"{group.code}_{today:%Y%m%d}"[:50],
        }
        super().__init__(*args, **kwargs)
        self.helper = FormHelper()
        self.helper.form_tag = False

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        if message := group_name_clash(name=name):
            raise forms.ValidationError(message)
        return name

    def clean_code(self) -> str:
        code = self.cleaned_data["code"]
        if message := group_code_clash(code=code):
            raise forms.ValidationError(message)
        return code


class RuleFilterForm(forms.Form):
    """The contact list's advanced filter: one rule tree (JSON), validated like a group's condition."""

    condition = forms.CharField(
        label="Conditions",
        widget=forms.HiddenInput(attrs={"data-builder-input": ""}),
        required=False,
        help_text="Combine any fields, activities, consents and groups; save the result as a condition-based group.",
    )

    def clean_condition(self) -> dict[str, Any] | None:
        text = self.cleaned_data["condition"]
        if not text.strip():
            return None
        tree = condition_json(text)
        try:
            return validate(tree)
        except RuleError as exc:
            raise forms.ValidationError(str(exc)) from None
