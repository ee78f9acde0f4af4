"""Forms for field settings: they validate and lay out; `contacts.field_settings` does the work."""

from __future__ import annotations

from typing import Any

from crispy_forms.helper import FormHelper
from crispy_forms.layout import HTML, Div, Field, Layout
from django import forms
from django.core.exceptions import ValidationError
from django.utils.html import format_html

from contacts import field_settings
from contacts.models import ContactField, FieldType

CHOICES_HELP = (
    "One choice per line, as <code>code | Label</code> or just a label (a code is made from it). "
    "Codes are what is stored and used in group rules; labels are what people see."
)


def parse_choices(text: str) -> list[dict[str, str]]:
    """Turn the choices textarea ("code | Label" or "Label" per line) into a validated choice list."""
    choices: list[dict[str, str]] = []
    lines: dict[str, int] = {}
    for number, raw in enumerate((text or "").splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        if "|" in line:
            code, label = (part.strip() for part in line.split("|", 1))
            code = code or field_settings.code_from_label(label)
            label = label or code
        else:
            label, code = line, field_settings.code_from_label(line)
        if not code:
            raise ValidationError(f"Line {number}: give “{label}” a code, written as “code | {label}”.")
        if not field_settings.CHOICE_CODE_RE.match(code):
            raise ValidationError(
                f"Line {number}: the code “{code}” may use only letters, digits, “_” and “-”, "
                "starting with a letter or digit (at most 50 characters)."
            )
        if len(label) > field_settings.LABEL_MAX:
            raise ValidationError(f"Line {number}: a label may have at most {field_settings.LABEL_MAX} characters.")
        if code.lower() in lines:
            raise ValidationError(
                f"Lines {lines[code.lower()]} and {number} both have the code “{code}”; "
                "give each choice its own code, written as “code | Label”."
            )
        lines[code.lower()] = number
        choices.append({"code": code, "label": label})
    if len(choices) > field_settings.MAX_CHOICES:
        raise ValidationError(f"A field can have at most {field_settings.MAX_CHOICES} choices.")
    return choices


def choices_text(choices: list[dict[str, str]]) -> str:
    """The textarea form of a choice list: one "code | Label" line per choice."""
    return "\n".join(f"{c['code']} | {c.get('label') or c['code']}" for c in choices or [])


class FieldForm(forms.Form):
    """The definition an admin can edit: label, type, choices, required and help text."""

    label = forms.CharField(
        max_length=field_settings.LABEL_MAX,
        help_text="What people see on contact forms, pages and filters.",
        widget=forms.TextInput(attrs={"autofocus": True, "data-code-source": ""}),
    )
    type = forms.ChoiceField(
        choices=FieldType.choices,
        initial=FieldType.TEXT,
        widget=forms.Select(attrs={"data-type-select": ""}),
    )
    choices = forms.CharField(
        required=False,
        label="Choices",
        help_text=CHOICES_HELP,
        widget=forms.Textarea(
            attrs={
                "rows": 6,
                "class": "font-monospace",
                "spellcheck": "false",
                "placeholder": "enterprise | Enterprise\nmid_market | Mid-market\nSmall business",
            }
        ),
    )
    required = forms.BooleanField(
        required=False,
        label="Required",
        help_text="Contacts can't be saved without a value. Existing contacts are not changed.",
    )
    help_text = forms.CharField(
        required=False,
        max_length=field_settings.HELP_TEXT_MAX,
        label="Help text",
        help_text="Shown under the field on contact forms (optional).",
    )

    submit_label = "Save"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.helper = FormHelper()
        self.helper.form_tag = False
        self.helper.disable_csrf = True  # the page's <form> has its own token
        self.helper.layout = Layout(*self.layout_fields())

    def layout_fields(self) -> list[Any]:
        return [
            Field("label"),
            Field("type"),
            Div(Field("choices"), data_choices_row=""),
            Field("required"),
            Field("help_text"),
        ]

    def clean_label(self) -> str:
        label = (self.cleaned_data.get("label") or "").strip()
        if message := field_settings.label_clash(label=label, field=getattr(self, "field", None)):
            raise ValidationError(message)
        return label

    def clean_choices(self) -> list[dict[str, str]]:
        return parse_choices(self.cleaned_data.get("choices") or "")

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if cleaned.get("type") in field_settings.CHOICE_TYPES:
            if "choices" in cleaned and not cleaned["choices"]:
                self.add_error("choices", "Add at least one choice, one per line.")
        else:
            cleaned["choices"] = []  # a hidden choices box left filled in is not a choice list
        return cleaned

    def add_service_errors(self, exc: ValidationError) -> None:
        """Show a service's ValidationError on the matching form fields (others at the top)."""
        if hasattr(exc, "error_dict"):
            for name, errors in exc.message_dict.items():
                self.add_error(name if name in self.fields else None, errors)
        else:
            self.add_error(None, exc.messages)


class FieldCreateForm(FieldForm):
    """A new field: the definition plus its code (suggested from the label, validated, unique)."""

    code = forms.CharField(
        max_length=50,
        help_text=(
            "Stored with every value and used in group rules. Lower-case letters, digits and single "
            "underscores, starting with a letter. It can't be changed later."
        ),
        widget=forms.TextInput(
            attrs={"class": "font-monospace", "data-code-input": "", "autocapitalize": "off", "spellcheck": "false"}
        ),
    )

    submit_label = "Add field"

    def layout_fields(self) -> list[Any]:
        fields = super().layout_fields()
        return [fields[0], Field("code"), *fields[1:]]

    def clean_code(self) -> str:
        return field_settings.validate_code(self.cleaned_data.get("code") or "")


class FieldEditForm(FieldForm):
    """An existing field. The code is shown, never accepted: it is not a form field at all."""

    def __init__(self, *args: Any, field: ContactField, **kwargs: Any) -> None:
        self.field = field
        kwargs["initial"] = {
            "label": field.label,
            "type": field.type,
            "choices": choices_text(field.choices),
            "required": field.required,
            "help_text": field.help_text,
            **(kwargs.get("initial") or {}),
        }
        super().__init__(*args, **kwargs)
        self.fields["label"].widget.attrs.pop("data-code-source", None)

    def layout_fields(self) -> list[Any]:
        fields = super().layout_fields()
        code = format_html(
            '<div class="mb-3"><span class="form-label d-block">Code</span>'
            '<div class="d-flex align-items-center gap-2"><code class="fs-6" id="field-code">{}</code>'
            '<span class="badge text-bg-light border text-body-secondary fw-normal">'
            '<i class="bi bi-lock me-1" aria-hidden="true"></i>Can’t be changed</span></div>'
            '<div class="form-text">Stored with every value and used in group rules.</div></div>',
            self.field.code,
        )
        note = HTML(
            '<div class="alert alert-info small py-2" data-type-change-note hidden>'
            '<i class="bi bi-info-circle me-1" aria-hidden="true"></i>'
            "On saving, stored values are converted to the new type. "
            "If any value can't be converted, nothing changes and you'll see which values to fix first.</div>"
        )
        return [fields[0], HTML(code), fields[1], note, *fields[2:]]
