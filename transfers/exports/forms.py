"""Forms of the export pages: the column chooser, and the group definitions upload."""

from __future__ import annotations

from typing import Any

from django import forms

from transfers.exports.columns import Column, Section, column_catalogue, default_column_keys
from transfers.exports.service import ExportFormat

MAX_DEFINITIONS_BYTES = 2 * 1024 * 1024


class ExportForm(forms.Form):
    """Which columns, which format, and the CSV options; the filters travel beside it (hidden fields)."""

    columns = forms.MultipleChoiceField(widget=forms.CheckboxSelectMultiple, error_messages={
        "required": "Choose at least one column."})  # fmt: skip
    format = forms.ChoiceField(
        choices=[(ExportFormat.CSV.value, "CSV"), (ExportFormat.XLSX.value, "Excel (XLSX)")],
        initial=ExportFormat.CSV.value,
        widget=forms.RadioSelect(attrs={"class": "form-check-input"}),
    )
    bom = forms.BooleanField(
        required=False,
        initial=True,
        label="Byte order mark, so Excel reads accents right",
        widget=forms.CheckboxInput(attrs={"class": "form-check-input"}),
    )
    guard = forms.BooleanField(
        required=False,
        initial=True,
        label="Protect against formulas (text starting with = + − @ gets a leading ')",
        widget=forms.CheckboxInput(attrs={"class": "form-check-input"}),
    )

    def __init__(self, *args: Any, membership: bool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.catalogue: list[Column] = column_catalogue(membership=membership)
        self.fields["columns"].choices = [(c.key, c.label) for c in self.catalogue]  # type: ignore[attr-defined]
        self.fields["columns"].initial = default_column_keys(membership=membership)

    def sections(self) -> list[tuple[str, list[Column]]]:
        """The columns under their section titles, in catalogue order (for the chooser's layout)."""
        grouped: dict[str, list[Column]] = {}
        for column in self.catalogue:
            grouped.setdefault(Section(column.section).value, []).append(column)
        return list(grouped.items())

    def chosen(self) -> set[str]:
        """The keys to show ticked: the submitted ones, or the defaults."""
        if self.is_bound:
            return set(self.data.getlist("columns"))  # type: ignore[attr-defined]
        return set(self.fields["columns"].initial)

    def columns_in_order(self) -> list[Column]:
        wanted = set(self.cleaned_data["columns"])
        return [c for c in self.catalogue if c.key in wanted]


class DefinitionsUploadForm(forms.Form):
    file = forms.FileField(label="Group definitions file (JSON)")

    def clean_file(self) -> str:
        upload = self.cleaned_data["file"]
        if upload.size > MAX_DEFINITIONS_BYTES:
            raise forms.ValidationError("The file is larger than 2 MB: that is not a group definitions file.")
        try:
            return upload.read().decode("utf-8-sig")
        except UnicodeDecodeError:
            raise forms.ValidationError("The file is not UTF-8 text: that is not a group definitions file.") from None


class DefinitionsConfirmForm(forms.Form):
    """The second step: the file's text travels back with the user's choice."""

    text = forms.CharField(widget=forms.HiddenInput, max_length=MAX_DEFINITIONS_BYTES)
    only_resolving = forms.BooleanField(required=False, widget=forms.HiddenInput)
