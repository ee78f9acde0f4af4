"""How chosen groups overlap: the size of every non-empty region of up to four groups, in one SQL query.

Each member of any chosen group gets a bitmask (bit i set when in group i); the query counts
contacts per mask. Memberships are unique per (group, contact), so SUM of the bits is the mask.
Merged contacts are left out (they hold no memberships by the membership invariant; the join makes
the count exact even if one slipped through).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Case, IntegerField, Sum, Value, When

from config.replica import read_connection
from segments.models import ContactGroup, Membership

MAX_GROUPS = 4


@dataclass(frozen=True)
class Region:
    mask: int
    count: int
    groups: tuple[ContactGroup, ...]  # the groups a contact of this region is in (and no other chosen)


@dataclass(frozen=True)
class Overlap:
    groups: tuple[ContactGroup, ...]
    regions: tuple[Region, ...]  # non-empty regions, largest first
    total: int  # contacts in at least one group

    def count(self, mask: int) -> int:
        return next((r.count for r in self.regions if r.mask == mask), 0)


def group_overlap(*, group_ids: list[int]) -> Overlap:
    """Region sizes of the first four distinct `group_ids` (existing groups only), one query."""
    wanted = list(dict.fromkeys(group_ids))
    found = ContactGroup.objects.in_bulk(wanted)
    groups = tuple(found[pk] for pk in wanted if pk in found)[:MAX_GROUPS]
    if not groups:
        return Overlap(groups=(), regions=(), total=0)
    bit = Case(
        *[When(group_id=g.pk, then=Value(1 << i)) for i, g in enumerate(groups)],
        default=Value(0),
        output_field=IntegerField(),
    )
    per_contact = (
        Membership.objects.filter(group_id__in=[g.pk for g in groups], contact__merged_into__isnull=True)
        .values("contact_id")
        .annotate(mask=Sum(bit))
        .values("mask")
        .order_by()
    )
    sql, params = per_contact.query.sql_with_params()
    with read_connection().cursor() as cursor:
        cursor.execute(f"SELECT mask, COUNT(*) FROM ({sql}) AS per_contact GROUP BY mask", params)
        rows = cursor.fetchall()
    regions = tuple(
        sorted(
            (
                Region(
                    mask=int(mask),
                    count=int(n),
                    groups=tuple(g for i, g in enumerate(groups) if int(mask) & (1 << i)),
                )
                for mask, n in rows
            ),
            key=lambda r: (-r.count, r.mask),
        )
    )
    return Overlap(groups=groups, regions=regions, total=sum(r.count for r in regions))
