"""Forms of the import pages: the upload, and the mapping screen (a target per column plus the options)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django import forms
from django.conf import settings
from django.core.files.uploadedfile import UploadedFile

from segments.models import ContactGroup
from transfers.imports.kinds import CONTACTS, Kind
from transfers.imports.mapping import IGNORE, KNOWN_IGNORED, header_key
from transfers.imports.reading import FileRefused, Table, table_read
from transfers.imports.values import DATE_FORMATS
from transfers.models import SavedMapping

MAX_UPLOAD_BYTES = getattr(settings, "IMPORT_MAX_BYTES", 50 * 1024 * 1024)
# Types of a custom field an Admin may create from a column on the mapping screen.
NEW_FIELD_TYPES = {"new:text": "text", "new:number": "number", "new:date": "date", "new:boolean": "boolean"}


class UploadForm(forms.Form):
    file = forms.FileField(
        label="CSV or Excel file",
        help_text="A .csv (comma, semicolon or tab separated, any common encoding), .xlsx or .xls file whose first "
        "row names the columns.",
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,.txt,.tsv,.xlsx,.xls,.ods"}),
    )
    saved_mapping = forms.ModelChoiceField(
        queryset=SavedMapping.objects.order_by("name"),
        required=False,
        label="Saved mapping",
        empty_label="Map automatically",
        help_text="Reuse the mapping saved for files from the same tool.",
    )

    table: Table | None = None
    file_bytes: bytes = b""

    def clean_file(self) -> UploadedFile:
        upload: UploadedFile = self.cleaned_data["file"]
        if upload.size and upload.size > MAX_UPLOAD_BYTES:
            raise forms.ValidationError(f"The file is larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MB.")
        self.file_bytes = upload.read()
        try:
            self.table = table_read(data=self.file_bytes, file_name=upload.name or "")
        except FileRefused as exc:
            raise forms.ValidationError(str(exc)) from None
        return upload


class MappingForm(forms.Form):
    """A select per column (`column_<n>`), the date format, anonymous rows, the group, accounts from a company column,
    and saving the mapping. An account import has only the selects and saving."""

    date_format = forms.ChoiceField(
        choices=list(DATE_FORMATS.items()),
        label="Dates",
        help_text="How to read dates like 03/04/2025 (day or month first).",
    )
    allow_anonymous = forms.BooleanField(
        required=False,
        label="Also import rows without an email",
        help_text="Each becomes a new anonymous contact (it cannot be matched again by a later import).",
    )
    group = forms.ModelChoiceField(
        queryset=ContactGroup.objects.filter(is_condition_based=False).order_by("name"),
        required=False,
        label="Add everyone imported to the group",
        empty_label="No group",
        widget=forms.Select(attrs={"data-picker": ""}),
    )
    new_group = forms.CharField(
        required=False, max_length=200, label="…or to a new static group named", help_text="Leave empty for none."
    )
    create_accounts = forms.BooleanField(
        required=False,
        label="Create accounts that do not exist",
        help_text="With a column mapped to Account: a company name no account has creates one account (once, "
        "however many rows name it). Otherwise such a contact is imported without an account and noted in the report.",
    )
    save_as = forms.CharField(
        required=False,
        max_length=100,
        label="Save this mapping as",
        help_text="Reuse it for the next file from the same tool (a name you will recognise, e.g. “HubSpot”).",
    )

    def __init__(
        self,
        *args: Any,
        header: Sequence[str],
        samples: Sequence[Sequence[str]],
        can_create_fields: bool,
        can_create_groups: bool,
        can_save: bool,
        can_create_accounts: bool = False,
        kind: Kind = CONTACTS,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.header = list(header)
        self.samples = samples
        self.kind = kind
        choices: list[tuple[str, Any]] = [(IGNORE, "— Ignore this column —")]
        targets = kind.targets()
        standard = [(t.value, t.label) for t in targets if t.field is None]
        custom = [(t.value, t.label) for t in targets if t.field is not None]
        choices.append((f"{kind.noun.capitalize()} fields", standard))
        if custom:
            choices.append(("Custom fields", custom))
        if can_create_fields and kind == CONTACTS:
            choices.append(
                (
                    "Create a custom field from this column",
                    [(value, f"New {kind} field") for value, kind in NEW_FIELD_TYPES.items()],
                )
            )
        for index, name in enumerate(self.header):
            self.fields[f"column_{index}"] = forms.ChoiceField(
                choices=choices,
                required=False,
                label=name,
                widget=forms.Select(attrs={"class": "form-select form-select-sm", "aria-label": f"Field for {name}"}),
            )
        if kind != CONTACTS:
            for name in ("date_format", "allow_anonymous", "group", "new_group", "create_accounts"):
                del self.fields[name]
        if not can_create_groups and "new_group" in self.fields:
            del self.fields["new_group"]
        if not can_create_accounts and "create_accounts" in self.fields:
            del self.fields["create_accounts"]
        if not can_save:
            del self.fields["save_as"]

    def columns(self) -> list[tuple[str, forms.BoundField, list[str], str]]:
        """(column name, its select, sample values, a hint) for the template."""
        return [
            (
                name,
                self[f"column_{index}"],
                [row[index] for row in self.samples if row[index].strip()][:3],
                KNOWN_IGNORED.get(header_key(name), "") if self.kind == CONTACTS else "",
            )
            for index, name in enumerate(self.header)
        ]

    def mapping(self) -> list[str]:
        return [self.cleaned_data.get(f"column_{index}") or IGNORE for index in range(len(self.header))]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("group") and data.get("new_group", "").strip():
            self.add_error("new_group", "Choose an existing group or name a new one, not both.")
        return data
