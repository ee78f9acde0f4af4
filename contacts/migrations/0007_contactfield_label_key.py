"""Custom field labels become unique ignoring case, accents and spacing (ContactField.label_key), and new
codes may not contain "__" (Django's lookup separator).

Backfill: every field gets its label_key. Where old data holds look-alike labels ("Favourite product" and
"favourité  product"), the older field keeps its label and each later one is renamed "<label> (2)",
"<label> (3)", …; every rename is printed. Existing codes with "__" are kept (values and conditions use
them; the contact list reads them safely) and printed, so an admin can retire and replace them.
The unique constraint follows in 0008, in its own transaction.
"""

import re
import unicodedata

from django.db import migrations, models

import django.core.validators

import contacts.models


def _key(text):
    decomposed = unicodedata.normalize("NFKD", text or "")
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return re.sub(r"\s+", " ", bare.casefold()).strip()[:400]


def backfill_label_keys(apps, schema_editor):
    ContactField = apps.get_model("contacts", "ContactField")
    seen = set()
    for field in ContactField.objects.order_by("id"):
        label = field.label
        key = _key(label)
        number = 2
        while key in seen:
            suffix = f" ({number})"
            label = field.label[: 100 - len(suffix)] + suffix
            key = _key(label)
            number += 1
        if label != field.label:
            print(
                f"\n  contacts: field {field.code!r} renamed {field.label!r} -> {label!r} "
                "(another field had the same label ignoring case and accents)"
            )
        seen.add(key)
        ContactField.objects.filter(pk=field.pk).update(label=label, label_key=key)
    for code in ContactField.objects.filter(code__contains="__").values_list("code", flat=True):
        print(
            f"\n  contacts: field code {code!r} contains '__'; it keeps working, but new codes cannot: "
            "consider retiring it and adding a replacement"
        )


class Migration(migrations.Migration):
    dependencies = [
        ("contacts", "0006_name_sort_covering_index"),
    ]

    operations = [
        migrations.AddField(
            model_name="contactfield",
            name="label_key",
            field=models.CharField(default="", editable=False, max_length=400),
            preserve_default=False,
        ),
        migrations.RunPython(backfill_label_keys, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="contactfield",
            name="code",
            field=models.CharField(
                max_length=50,
                unique=True,
                validators=[
                    django.core.validators.RegexValidator(
                        "^[a-z][a-z0-9_]{0,49}$",
                        "Use lower-case letters, digits and underscores, starting with a letter (at most 50 characters).",
                    ),
                    contacts.models.no_double_underscore,
                ],
            ),
        ),
    ]
