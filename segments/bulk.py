"""The contact list's "Add to contact group" bulk action (registered in SegmentsConfig.ready)."""

from __future__ import annotations

from typing import Any

from django import forms

from contacts.bulk_actions import BulkAction
from contacts.models import Contact
from segments import services
from segments.memberships import SourceChange
from segments.models import ContactGroup


class GroupChoiceField(forms.ModelChoiceField):
    """A group picker whose options show the code beside the name: “Inactive contacts (inactive_365)”."""

    def label_from_instance(self, obj: Any) -> str:
        return obj.picker_label


class AddToGroupForm(forms.Form):
    group = GroupChoiceField(
        queryset=ContactGroup.objects.order_by("name"),
        label="Contact group",
        empty_label="Choose a group…",
        widget=forms.Select(attrs={"data-picker": ""}),
        help_text="The contacts are added by hand; they stay members until removed by hand.",
    )


def _add_to_group(*, contact_ids: list[int], data: dict[str, Any], user: Any = None, **_: Any) -> str:
    group = data["group"]
    change = services.group_add_contacts(
        group=group, contacts=Contact.objects.filter(pk__in=contact_ids), actor_id=getattr(user, "pk", None)
    )
    return added_by_hand_message(group=group, picked=len(contact_ids), change=change)


def added_by_hand_message(*, group: ContactGroup, picked: int, change: SourceChange) -> str:
    """What adding `picked` contacts by hand did: who joined, who was in already and is now also in by hand."""

    def contacts(n: int) -> str:
        return f"{n:,} contact{'' if n == 1 else 's'}"

    message = f"{contacts(change.added)} added to “{group.name}”."
    if change.marked:
        were = "was" if change.marked == 1 else "were"
        message += (
            f" {contacts(change.marked)} {were} already in through the condition or an account"
            " and now also by hand, so they stay when those change."
        )
    rest = picked - change.added - change.marked
    if rest > 0:
        message += f" {contacts(rest)} {'was' if rest == 1 else 'were'} already added by hand or merged into another."
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
