from django import forms

from api.models import TokenScope


class TokenForm(forms.Form):
    name = forms.CharField(
        max_length=100,
        help_text="What the token is for, e.g. “CRM sync”.",
        widget=forms.TextInput(attrs={"placeholder": "CRM sync"}),
    )
    scope = forms.ChoiceField(
        choices=TokenScope.choices,
        initial=TokenScope.READ,
        widget=forms.RadioSelect,
        help_text="A read-only token can read everything your role may read, and change nothing.",
    )
