"""Bulk actions on selected contacts: a registry other apps extend, and the actions `contacts` ships.

Extension point: another app (e.g. segments, "Add to contact group") appends a `BulkAction` in its
`AppConfig.ready()` with `register_bulk_action(...)`; `contacts` never imports that app. The contact
list shows every registered action the user has permission for; the bulk view asks for the action's
form (if any) on a confirm page and then calls `run`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django import forms

from contacts import services
from contacts.forms import BulkAssignAccountForm


@dataclass(frozen=True)
class BulkAction:
    """One action offered for selected contacts.

    `run(contact_ids=[...], data=form.cleaned_data or {}, user=request.user)` does the work (through a
    service that sends one `contacts_changed` signal) and returns the success message.
    """

    name: str  # identifier used in the URL/form, unique
    label: str  # button text, e.g. "Assign to account"
    icon: str  # bootstrap-icons name without the "bi-" prefix
    permissions: tuple[str, ...]  # all needed, e.g. ("contacts.delete_contact",)
    run: Callable[..., str]
    form_class: type[forms.Form] | None = None  # extra input asked for on the confirm page
    description: str = ""  # shown on the confirm page, e.g. what happens and whether it can be undone
    danger: bool = False  # red button, for destructive actions
    confirm_label: str = ""  # the confirm button, "{count}" replaced, e.g. "Delete {count}"; default `label`

    def confirm_text(self, count: int) -> str:
        text = self.confirm_label or self.label
        return text.replace("{count}", f"{count:,} contact{'' if count == 1 else 's'}")

    def allowed(self, user: Any) -> bool:
        return all(user.has_perm(p) for p in self.permissions)


BULK_ACTIONS: list[BulkAction] = []


def register_bulk_action(action: BulkAction) -> None:
    """Add an action to the list (an action with the same name is replaced, keeping its place)."""
    for index, existing in enumerate(BULK_ACTIONS):
        if existing.name == action.name:
            BULK_ACTIONS[index] = action
            return
    BULK_ACTIONS.append(action)


def get_bulk_action(name: str) -> BulkAction | None:
    return next((a for a in BULK_ACTIONS if a.name == name), None)


def bulk_actions_for(user: Any) -> list[BulkAction]:
    """The registered actions this user may run, in registration order (destructive ones last)."""
    return sorted((a for a in BULK_ACTIONS if a.allowed(user)), key=lambda a: a.danger)


def _plural(n: int) -> str:
    return f"{n:,} contact{'' if n == 1 else 's'}"


def _assign_account(*, contact_ids: list[int], data: dict[str, Any], **_: Any) -> str:
    account = data["account"]
    changed = services.contacts_assign_account(contact_ids=contact_ids, account=account)
    unchanged = len(contact_ids) - changed
    message = f"{_plural(changed)} assigned to {account}."
    if unchanged:
        message += f" {_plural(unchanged)} already belonged to it."
    return message


def _delete(*, contact_ids: list[int], **_: Any) -> str:
    deleted = services.contacts_delete(contact_ids=contact_ids)
    extra = deleted - len(contact_ids)
    message = f"{_plural(len(contact_ids))} deleted."
    if extra > 0:
        message += f" {_plural(extra)} merged into them {'was' if extra == 1 else 'were'} deleted too."
    return message


register_bulk_action(
    BulkAction(
        name="assign_account",
        label="Assign to account",
        icon="buildings",
        permissions=("contacts.change_contact",),
        run=_assign_account,
        form_class=BulkAssignAccountForm,
        description="Each selected contact will belong to the account you choose.",
        confirm_label="Assign {count}",
    )
)
register_bulk_action(
    BulkAction(
        name="delete",
        label="Delete",
        icon="trash",
        permissions=("contacts.delete_contact",),
        run=_delete,
        description=(
            "The selected contacts, their activities and consents, and any contacts merged into them "
            "will be deleted permanently. This cannot be undone."
        ),
        danger=True,
        confirm_label="Delete {count}",
    )
)
