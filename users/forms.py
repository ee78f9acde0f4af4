"""Forms for inviting users and changing roles; services do the writes."""

from __future__ import annotations

from django import forms

from contacts.roles import Role

ROLE_HELP = {
    Role.MARKETER: "builds contact groups and works with contacts, accounts and imports",
    Role.ADMIN: "everything a Marketer does, plus field settings and managing users",
    Role.STAFF: "adds and edits contacts and accounts, adds them to groups",
}
ROLE_CHOICES = [(role.value, f"{role.value} — {ROLE_HELP[role]}") for role in Role]


class RoleField(forms.TypedChoiceField):
    def __init__(self, **kwargs: object) -> None:
        super().__init__(choices=ROLE_CHOICES, coerce=Role, **kwargs)  # type: ignore[arg-type]


class InviteForm(forms.Form):
    email = forms.EmailField(help_text="They sign in with this address as their username.")
    first_name = forms.CharField(max_length=150, required=False)
    last_name = forms.CharField(max_length=150, required=False)
    role = RoleField(initial=Role.MARKETER.value, widget=forms.RadioSelect)


class RoleForm(forms.Form):
    role = RoleField(label="Role")
