from __future__ import annotations

from typing import Any

from django import forms

from segments.models import ContactGroup
from webhooks.models import Endpoint, EventType
from webhooks.targets import TargetRefused, target_check


class EndpointForm(forms.ModelForm):
    url = forms.URLField(max_length=500, assume_scheme="https", label="URL", help_text="Where events are POSTed.")
    events = forms.MultipleChoiceField(
        choices=[
            ("Membership", [(t.value, t.label) for t in EventType if not t.value.startswith(("campaign", "contact"))]),
            ("Campaigns", [(t.value, t.label) for t in EventType if t.value.startswith(("campaign", "contact"))]),
        ],
        widget=forms.CheckboxSelectMultiple,
        help_text="Which events to send.",
    )
    groups = forms.ModelMultipleChoiceField(
        queryset=ContactGroup.objects.order_by("name"),
        required=False,
        help_text="Membership events of these groups only; leave empty for every group. Campaign events are "
        "not filtered by group.",
    )

    class Meta:
        model = Endpoint
        fields = ["url", "groups", "events"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["groups"].widget.attrs.update({"data-picker": "", "placeholder": "Every group"})

    def clean_url(self) -> str:
        url = self.cleaned_data["url"]
        try:
            target_check(url=url)
        except TargetRefused as refused:
            raise forms.ValidationError(str(refused)) from refused
        return url
