"""The contact list's "Add to contact group" bulk action (registered in SegmentsConfig.ready)."""

from __future__ import annotations

from typing import Any

from django import forms

from contacts.bulk_actions import BulkAction
from contacts.models import Contact
from segments import services
from segments.models import ContactGroup


class AddToGroupForm(forms.Form):
    group = forms.ModelChoiceField(
        queryset=ContactGroup.objects.order_by("name"),
        label="Contact group",
        empty_label="Choose a group…",
        widget=forms.Select(attrs={"data-picker": ""}),
        help_text="The contacts are added by hand; they stay members until removed by hand.",
    )


def _add_to_group(*, contact_ids: list[int], data: dict[str, Any], **_: Any) -> str:
    group = data["group"]
    change = services.group_add_contacts(group=group, contacts=Contact.objects.filter(pk__in=contact_ids))
    already = len(contact_ids) - change.added
    message = f"{change.added:,} contact{'' if change.added == 1 else 's'} added to “{group.name}”."
    if already > 0:
        message += f" {already:,} were already members (or are merged contacts, which are never members)."
    return message


ADD_TO_GROUP = BulkAction(
    name="add_to_group",
    label="Add to contact group",
    icon="collection",
    permissions=("segments.add_membership",),
    run=_add_to_group,
    form_class=AddToGroupForm,
    description="The selected contacts become members of the group you choose, added by hand.",
    confirm_label="Add {count} to the group",
)
