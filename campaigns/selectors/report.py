"""A sent campaign's results, counted in the database: one statement per section.

Definitions (the report's UI copy says the same):
- audience: the deliveries frozen when the send started (one per contact); sent / failed / skipped /
  not confirmed / pending: their status.
- opened: recipients (deliveries) with at least one `email_open` activity of the campaign OR a click
  (a click proves the message was opened; a mail client blocking images records no open). `opened_seen`
  counts only the recorded opens, so both figures are at hand. clicked: recipients with ≥ 1 `email_click`.
  opens / clicks: every recorded event (a mail client may load the pixel twice).
- rates divide by `sent`; click-to-open divides clicked by opened.
- by included group: the deliveries whose contact was in that group when the audience was frozen
  (Delivery.included_groups); a contact in two included groups counts in both rows, so rows add up to more
  than the total. Deliveries frozen before that column existed fall back to the group's current members
  (`groups_recorded` is then False and the page says so).

Activities are joined to deliveries by contact. TRICKY: a merge moves the merged contact's activities to
the contact it was merged into, while the delivery keeps naming the merged one; so an activity of contact
P also counts for the deliveries of the contacts merged into P (an index probe on merged_into per opener,
bounded by the openers, never by the audience). If P and a contact merged into it BOTH received the campaign,
P's open counts for both deliveries (merges after a send are rare; the totals stay per delivery).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, fields
from typing import Any

from django.db import connection, transaction
from django.db.models import Count, Q
from django.db.models.functions import TruncHour
from django.utils import timezone

from campaigns.models import (
    MAX_RECORDED_GROUPS,
    Campaign,
    CampaignGroup,
    ContentVariant,
    Delivery,
    DeliveryStatus,
    GroupRole,
    SplitArm,
    Unsubscribe,
)
from contacts.models import Activity, ActivityType, Contact
from segments.models import ContactGroup, Membership

OPEN = ActivityType.EMAIL_OPEN.value
CLICK = ActivityType.EMAIL_CLICK.value
HOURLY_FOR = dt.timedelta(hours=48)  # the timeline's hourly part; daily after it


@dataclass
class Stats:
    """Counts over a set of deliveries; every rate divides by `sent` (click-to-open by `opened`)."""

    audience: int = 0
    sent: int = 0
    failed: int = 0
    skipped: int = 0
    unknown: int = 0
    pending: int = 0
    opened: int = 0
    opened_seen: int = 0
    clicked: int = 0
    opens: int = 0
    clicks: int = 0
    unsubscribed: int = 0

    def add(self, other: Stats) -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))

    @staticmethod
    def _rate(part: int, whole: int) -> float | None:
        return part / whole if whole else None

    @property
    def open_rate(self) -> float | None:
        return self._rate(self.opened, self.sent)

    @property
    def click_rate(self) -> float | None:
        return self._rate(self.clicked, self.sent)

    @property
    def click_to_open(self) -> float | None:
        return self._rate(self.clicked, self.opened)

    @property
    def failed_rate(self) -> float | None:
        return self._rate(self.failed, self.audience)

    @property
    def unsubscribe_rate(self) -> float | None:
        return self._rate(self.unsubscribed, self.sent)

    @property
    def opened_by_click(self) -> int:
        """Recipients counted as opened only because they clicked (images blocked: no open recorded)."""
        return self.opened - self.opened_seen


@dataclass
class Row:
    """One line of a breakdown table."""

    label: str
    stats: Stats
    detail: str = ""
    group: ContactGroup | None = None


@dataclass
class Report:
    total: Stats
    by_group: list[Row] = field(default_factory=list)
    by_variant: list[Row] = field(default_factory=list)  # content variants (only when the campaign has some)
    by_arm: list[Row] = field(default_factory=list)  # A/B arms (only when the campaign was split)
    groups_recorded: bool = True  # False: some deliveries predate Delivery.included_groups (current members)


def included_group_bits(*, campaign_ids: list[int]) -> dict[int, list[tuple[ContactGroup, int | None]]]:
    """Each campaign's included groups in order with their bit in Delivery.included_groups (None past the
    first MAX_RECORDED_GROUPS) — the order freeze_audience records them in (audience_spec: position, id)."""
    links = (
        CampaignGroup.objects.filter(campaign_id__in=campaign_ids, role=GroupRole.INCLUDE)
        .select_related("group")
        .order_by("campaign_id", "position", "id")
    )
    bits: dict[int, list[tuple[ContactGroup, int | None]]] = {pk: [] for pk in campaign_ids}
    for link in links:
        index = len(bits[link.campaign_id])
        bits[link.campaign_id].append((link.group, index if index < MAX_RECORDED_GROUPS else None))
    return bits


def db_table(model: Any) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def engagement_cte(*, campaign_filter: str) -> str:
    """Two CTEs of open and click events per campaign and delivery contact: `ev` by the activity's contact,
    `evm` for the contacts merged into it (driven from the few merged contacts, index probes by contact);
    `campaign_filter` is SQL on `a.campaign_id`. Join them with `engagement_joins`."""
    activity, contact = db_table(Activity), db_table(Contact)
    counts = (
        f"SUM(CASE WHEN a.type = '{OPEN}' THEN 1 ELSE 0 END) AS opens, "
        f"SUM(CASE WHEN a.type = '{CLICK}' THEN 1 ELSE 0 END) AS clicks"
    )
    return f"""
    ev AS (
        SELECT a.campaign_id AS campaign_id, a.contact_id AS contact_id, {counts}
        FROM {activity} a
        WHERE {campaign_filter} AND a.type IN ('{OPEN}', '{CLICK}')
        GROUP BY a.campaign_id, a.contact_id
    ),
    evm AS (
        SELECT a.campaign_id AS campaign_id, c.id AS contact_id, {counts}
        FROM {contact} c JOIN {activity} a ON a.contact_id = c.merged_into_id
        WHERE c.merged_into_id IS NOT NULL AND {campaign_filter} AND a.type IN ('{OPEN}', '{CLICK}')
        GROUP BY a.campaign_id, c.id
    )"""


def engagement_joins(*, by_campaign: bool) -> str:
    """LEFT JOINs of the deliveries `d` to `ev` (as e) and `evm` (as m), also on the campaign when asked."""
    also = " AND {0}.campaign_id = d.campaign_id" if by_campaign else ""
    return (
        f"LEFT JOIN ev e ON e.contact_id = d.contact_id{also.format('e')} "
        f"LEFT JOIN evm m ON m.contact_id = d.contact_id{also.format('m')}"
    )


OPENS = "(COALESCE(e.opens, 0) + COALESCE(m.opens, 0))"
CLICKS = "(COALESCE(e.clicks, 0) + COALESCE(m.clicks, 0))"


def stats_columns() -> str:
    """The aggregate columns of Stats, in field order, over `d` (deliveries), `e`/`m` (engagement_joins) and `u`
    (opt-outs)."""

    def status(*values: str) -> str:
        listed = ", ".join(f"'{v}'" for v in values)
        return f"SUM(CASE WHEN d.status IN ({listed}) THEN 1 ELSE 0 END)"

    return ", ".join(
        [
            "COUNT(*)",
            status(DeliveryStatus.SENT),
            status(DeliveryStatus.FAILED),
            status(DeliveryStatus.SKIPPED),
            status(DeliveryStatus.UNKNOWN),
            status(DeliveryStatus.QUEUED, DeliveryStatus.SENDING),
            f"SUM(CASE WHEN {OPENS} > 0 OR {CLICKS} > 0 THEN 1 ELSE 0 END)",
            f"SUM(CASE WHEN {OPENS} > 0 THEN 1 ELSE 0 END)",
            f"SUM(CASE WHEN {CLICKS} > 0 THEN 1 ELSE 0 END)",
            f"SUM({OPENS})",
            f"SUM({CLICKS})",
            "SUM(CASE WHEN u.contact_id IS NULL THEN 0 ELSE 1 END)",
        ]
    )


def fetch_all(sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
    """Run one report statement. On PostgreSQL without JIT: compiling these wide aggregates costs more than it
    saves (1.3 s of 5.1 s at 600k recipients, bench.campaign_report --explain)."""
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL jit = off")
        cursor.execute(sql, params)
        return cursor.fetchall()


STATS_WIDTH = len(fields(Stats))


def stats_of(values: tuple[Any, ...] | list[Any]) -> Stats:
    return Stats(*(int(v or 0) for v in values))


def _fallback_bits(groups: list[tuple[ContactGroup, int | None]]) -> tuple[str, list[Any]]:
    """SQL for the bit set from the contacts' CURRENT memberships (deliveries frozen without it)."""
    membership = db_table(Membership)
    parts, params = ["0"], []
    for group, bit in groups:
        if bit is None:
            continue
        parts.append(
            f"(CASE WHEN EXISTS (SELECT 1 FROM {membership} m WHERE m.group_id = %s AND m.contact_id = d.contact_id) "
            f"THEN {1 << bit} ELSE 0 END)"
        )
        params.append(group.pk)
    return " + ".join(parts), params


def campaign_report(*, campaign: Campaign) -> Report:
    """Totals and the breakdowns by included group, content variant and A/B arm: ONE statement over the
    campaign's deliveries (grouped by variant, arm and group bit set), summed up here."""
    groups = included_group_bits(campaign_ids=[campaign.pk])[campaign.pk]
    fallback, fallback_params = _fallback_bits(groups)
    sql = f"""
    WITH {engagement_cte(campaign_filter="a.campaign_id = %s")},
    u AS (SELECT DISTINCT contact_id FROM {db_table(Unsubscribe)} WHERE campaign_id = %s)
    SELECT d.variant_id, d.arm, COALESCE(d.included_groups, {fallback}),
           SUM(CASE WHEN d.included_groups IS NULL THEN 1 ELSE 0 END), {stats_columns()}
    FROM {db_table(Delivery)} d
    {engagement_joins(by_campaign=False)}
    LEFT JOIN u ON u.contact_id = d.contact_id
    WHERE d.campaign_id = %s
    GROUP BY 1, 2, 3
    """
    rows = fetch_all(sql, [campaign.pk, campaign.pk, campaign.pk, *fallback_params, campaign.pk])

    report = Report(total=Stats())
    variants: dict[int | None, Stats] = {}
    arms: dict[str, Stats] = {}
    masks: dict[int, Stats] = {}
    for variant_id, arm, mask, unrecorded, *values in rows:
        stats = stats_of(values)
        report.total.add(stats)
        variants.setdefault(variant_id, Stats()).add(stats)
        arms.setdefault(arm or "", Stats()).add(stats)
        masks.setdefault(int(mask or 0), Stats()).add(stats)
        if unrecorded:
            report.groups_recorded = False
    for group, bit in groups:
        stats = Stats()
        if bit is not None:
            for mask, part in masks.items():
                if mask & (1 << bit):
                    stats.add(part)
        report.by_group.append(Row(group.name, stats, group.code, group=group))
    report.by_variant = _variant_rows(campaign, variants)
    report.by_arm = _arm_rows(campaign, arms)
    return report


def _variant_rows(campaign: Campaign, variants: dict[int | None, Stats]) -> list[Row]:
    known = list(ContentVariant.objects.filter(campaign=campaign).select_related("group").order_by("priority", "id"))
    if not known:
        return []
    rows = [
        Row(f"Members of “{v.group.name}”", variants.get(v.pk, Stats()), f"priority {v.priority}", group=v.group)
        for v in known
    ]
    rows.append(Row("Everyone else", variants.get(None, Stats()), "the campaign's own content"))
    return rows


def _arm_rows(campaign: Campaign, arms: dict[str, Stats]) -> list[Row]:
    known = list(SplitArm.objects.filter(campaign=campaign).order_by("label"))
    labels = [a.label for a in known] + sorted(set(arms) - {a.label for a in known} - {""})
    if not labels:
        return []
    by_label = {a.label: a for a in known}
    rows = []
    for label in labels:
        arm = by_label.get(label)
        detail = f"{arm.percent} %" if arm else ""
        if arm and arm.subject:
            detail += f" · subject “{arm.subject}”"
        rows.append(Row(f"Variant {label}", arms.get(label, Stats()), detail))
    return rows


# --- over time -------------------------------------------------------------------------------------


@dataclass
class Bucket:
    start: dt.datetime  # aware, project time zone
    label: str
    opens: int = 0
    clicks: int = 0


@dataclass
class Timeline:
    hourly: list[Bucket]  # the first HOURLY_FOR after the send started, hour by hour
    daily: list[Bucket]  # every day from the send's day to the last event (the hourly part summed in)

    def chart_data(self) -> dict[str, Any]:
        """What the page's chart reads (json_script)."""

        def series(buckets: list[Bucket]) -> dict[str, list[Any]]:
            return {
                "labels": [b.label for b in buckets],
                "opens": [b.opens for b in buckets],
                "clicks": [b.clicks for b in buckets],
            }

        return {"hourly": series(self.hourly), "daily": series(self.daily)}

    @property
    def empty(self) -> bool:
        return not any(b.opens or b.clicks for b in self.daily)


def send_start(campaign: Campaign) -> dt.datetime | None:
    """When the campaign's send started (the first delivery's sent time for older rows)."""
    return campaign.send_started_at or campaign.sent_at


def campaign_timeline(*, campaign: Campaign, now: dt.datetime | None = None) -> Timeline:
    """Open and click events per hour for the first 48 h after the send started, then per day (project time
    zone): ONE statement counting the campaign's events per local hour; days are those hours summed, and
    empty buckets are filled in here."""
    zone = timezone.get_current_timezone()
    now = now or timezone.now()
    start = send_start(campaign)
    if start is None:
        return Timeline(hourly=[], daily=[])
    first_hour = start.astimezone(zone).replace(minute=0, second=0, microsecond=0)
    cutoff = first_hour + HOURLY_FOR
    # TRICKY: one truncation, not CASE(hour before the cutoff, else day): inside a CASE Django skips Trunc's
    # conversion from the local wall-clock value back to an aware datetime, so buckets would shift by the offset.
    rows = (
        Activity.objects.filter(campaign=campaign, type__in=[OPEN, CLICK], occurred_at__lte=now)
        .values(hour=TruncHour("occurred_at", tzinfo=zone))
        .annotate(opens=Count("pk", filter=Q(type=OPEN)), clicks=Count("pk", filter=Q(type=CLICK)))
        .order_by()
    )
    hours: dict[dt.datetime, tuple[int, int]] = {}
    days: dict[dt.date, list[int]] = {}
    for row in rows:
        local = timezone.localtime(row["hour"], zone)
        if local < cutoff:
            hours[local] = (row["opens"], row["clicks"])
        counts = days.setdefault(local.date(), [0, 0])
        counts[0] += row["opens"]
        counts[1] += row["clicks"]

    hourly = []
    hour = min([first_hour, *hours])
    while hour < cutoff:
        opens, clicks = hours.get(hour, (0, 0))
        hourly.append(Bucket(hour, f"{hour:%a %H:%M}", opens, clicks))
        hour = (hour.astimezone(dt.UTC) + dt.timedelta(hours=1)).astimezone(zone)
    daily = []
    day = min([first_hour.date(), *days])
    # to the last day with an event, and at least through the hourly part (never past today)
    last = max([*days, min(cutoff.date(), timezone.localdate(now, zone))])
    while day <= last:
        opens, clicks = days.get(day, (0, 0))
        daily.append(Bucket(dt.datetime.combine(day, dt.time(), zone), f"{day.day} {day:%b}", opens, clicks))
        day += dt.timedelta(days=1)
    return Timeline(hourly=hourly, daily=daily)


# --- links -----------------------------------------------------------------------------------------


@dataclass
class LinkRow:
    url: str
    clicks: int
    people: int


def campaign_links(*, campaign: Campaign, limit: int = 20) -> list[LinkRow]:
    """The most clicked links (URL of the click activity): clicks and distinct contacts, one statement."""
    rows = (
        Activity.objects.filter(campaign=campaign, type=CLICK)
        .values("url")
        .annotate(clicks=Count("pk"), people=Count("contact", distinct=True))
        .order_by("-clicks", "url")[:limit]
    )
    return [LinkRow(r["url"], r["clicks"], r["people"]) for r in rows]
