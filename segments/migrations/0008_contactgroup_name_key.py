"""Group names become unique ignoring case, accents and spacing (ContactGroup.name_key); group codes may be
Kentico-style (`InactiveContacts`), unique ignoring case.

Backfill: every group gets its name_key. Where old data holds look-alike names ("Inactive contacts" and
"inactive  contacts"), the older group keeps its name and each later one is renamed "<name> (2)",
"<name> (3)", …; every rename is printed. Codes are not touched (conditions refer to them): the old rule
allowed only lower-case codes, so none can clash ignoring case. The constraints follow in 0009.
"""

import re
import unicodedata

import django.core.validators
from django.db import migrations, models


def _key(text):
    decomposed = unicodedata.normalize("NFKD", text or "")
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return re.sub(r"\s+", " ", bare.casefold()).strip()[:400]


def backfill_name_keys(apps, schema_editor):
    ContactGroup = apps.get_model("segments", "ContactGroup")
    seen = set()
    for group in ContactGroup.objects.order_by("id"):
        name = group.name
        key = _key(name)
        number = 2
        while key in seen:
            suffix = f" ({number})"
            name = group.name[: 200 - len(suffix)] + suffix
            key = _key(name)
            number += 1
        if name != group.name:
            print(
                f"\n  segments: group {group.code!r} renamed {group.name!r} -> {name!r} "
                "(another group had the same name ignoring case and accents)"
            )
        seen.add(key)
        ContactGroup.objects.filter(pk=group.pk).update(name=name, name_key=key)


class Migration(migrations.Migration):
    dependencies = [
        ("segments", "0007_membership_covering_unique"),
    ]

    operations = [
        migrations.AddField(
            model_name="contactgroup",
            name="name_key",
            field=models.CharField(default="", editable=False, max_length=400),
            preserve_default=False,
        ),
        migrations.RunPython(backfill_name_keys, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="contactgroup",
            name="code",
            field=models.CharField(
                max_length=50,
                unique=True,
                validators=[
                    django.core.validators.RegexValidator(
                        "^[A-Za-z][A-Za-z0-9_]{0,49}$",
                        "Use letters (either case), digits and underscores, starting with a letter (at most 50 "
                        "characters), e.g. “InactiveContacts” or “inactive_contacts”.",
                    )
                ],
            ),
        ),
    ]
