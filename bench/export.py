"""`python -m bench.export [--formats csv,xlsx] [--limit N]`: the contact export, streamed, at 1M rows.

Read-only: exports every unmerged contact of the DATABASE_URL database (no data is generated or written)
through `transfers.exports.export_stream` — the same code as the download and `manage.py export_contacts`:
one `values_list` query over the chosen columns (ten built-in and account columns plus the custom fields
`plan` and `annual_budget` when they exist), read with a server-side cursor in chunks, formatted and
written as bytes to a sink that only counts them. For each format it reports rows/s, the time to the
first chunk (when a download would start), and the process's resident memory (RSS, from /proc) when
the first rows were written, after every further tenth, and its peak: flat memory means the last
figures equal the first.

Baseline, same run: `COPY (SELECT the same columns … ORDER BY id) TO STDOUT (FORMAT csv)` read through
psycopg into the same counting sink — PostgreSQL formatting the CSV itself, no Python per row.
Goal: CSV ≥ 100,000 rows/s, memory flat (peak within 50 MB of the first sample).
"""

from __future__ import annotations

import argparse
import time

from bench import require_postgresql, setup_django

GOAL_ROWS_PER_S = 100_000
FLAT_MB = 50.0
BASE_COLUMNS = ["email", "first_name", "last_name", "phone", "country", "city", "job_title", "lead_score",
                "created_at", "account.name"]  # fmt: skip
CUSTOM = ["plan", "annual_budget"]
SQL_COLUMNS = {
    "email": "c.email", "first_name": "c.first_name", "last_name": "c.last_name", "phone": "c.phone",
    "country": "c.country", "city": "c.city", "job_title": "c.job_title", "lead_score": "c.lead_score",
    "created_at": "c.created_at", "account.name": "a.name",
}  # fmt: skip


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def run_export(fmt: str, keys: list[str], limit: int | None) -> dict:
    from django.http import QueryDict

    from transfers.exports import ExportFormat, ExportRequest, columns_by_keys, contact_list_source, export_stream
    from transfers.exports.service import CHUNK_SIZE

    source = contact_list_source(filters=QueryDict(""))
    if limit:
        ids = source.queryset.order_by("pk").values_list("pk", flat=True)[limit - 1 : limit]
        last = list(ids)
        if last:
            source = type(source)(**{**source.__dict__, "queryset": source.queryset.filter(pk__lte=last[0])})
    rows = source.count()
    request = ExportRequest(source=source, columns=columns_by_keys(keys=keys, membership=False),
                            format=ExportFormat(fmt), rows=rows)  # fmt: skip
    samples: list[float] = []
    every = max(rows // 10 // CHUNK_SIZE, 1)
    written = 0
    first = None
    started = time.perf_counter()
    for chunks, chunk in enumerate(export_stream(request=request), start=1):
        written += len(chunk)
        if first is None and chunks >= 2:  # the header, then the first rows
            first = time.perf_counter() - started
            samples.append(rss_mb())
        elif chunks % every == 0:
            samples.append(rss_mb())
    seconds = time.perf_counter() - started
    samples.append(rss_mb())
    return {"rows": rows, "seconds": seconds, "bytes": written, "first_s": first or seconds, "rss": samples}


def run_copy(keys: list[str], custom: list[str], limit: int | None) -> dict:
    from django.db import connection

    columns = [SQL_COLUMNS[k] for k in keys] + [f"c.custom -> '{code}'" for code in custom]
    sql = (
        f"COPY (SELECT {', '.join(columns)} FROM contacts_contact c "
        "LEFT JOIN contacts_account a ON a.id = c.account_id WHERE c.merged_into_id IS NULL "
        f"ORDER BY c.id{f' LIMIT {int(limit)}' if limit else ''}) TO STDOUT (FORMAT csv, HEADER)"
    )
    written = 0
    first = None
    started = time.perf_counter()
    with connection.cursor() as cursor, cursor.connection.cursor().copy(sql) as copy:
        for block in copy:
            if first is None:
                first = time.perf_counter() - started
            written += len(block)
    return {"seconds": time.perf_counter() - started, "bytes": written, "first_s": first or 0.0}


def _tolerate_older_field_settings() -> None:
    """On a bench database migrated before contacts 0007 (no ContactField.label_key, which no export query
    reads), load field settings without that column instead of failing; the database stays untouched."""
    from django.db import connection

    from contacts import selectors
    from contacts.models import ContactField
    from transfers.exports import columns

    with connection.cursor() as cursor:
        present = {c.name for c in connection.introspection.get_table_description(cursor, ContactField._meta.db_table)}
    if "label_key" in present:
        return

    def active_custom_fields() -> list[ContactField]:
        return list(ContactField.objects.active().defer("label_key").order_by("order", "id"))

    print("note: field settings read without label_key (database before contacts 0007)")
    selectors.active_custom_fields = active_custom_fields  # type: ignore[assignment]
    columns.active_custom_fields = active_custom_fields  # type: ignore[assignment]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.export", description=__doc__.split("\n\n")[0])
    parser.add_argument("--formats", default="csv,xlsx", help="comma-separated: csv, xlsx (default both)")
    parser.add_argument("--limit", type=int, help="only the first N contacts (default: all)")
    args = parser.parse_args(argv)
    setup_django()
    require_postgresql("bench.export")

    from django.db import connection

    from contacts.models import ContactField

    _tolerate_older_field_settings()
    custom = [c for c in CUSTOM if ContactField.objects.filter(code=c, is_active=True).exists()]
    keys = BASE_COLUMNS + [f"custom.{c}" for c in custom]
    print(f"bench.export on {connection.settings_dict['NAME']}: {len(keys)} columns ({', '.join(keys)})")
    baseline = run_copy(BASE_COLUMNS, custom, args.limit)
    results = {fmt: run_export(fmt, keys, args.limit) for fmt in args.formats.split(",") if fmt}

    print(f"{'export':<22}{'rows':>11}{'s':>8}{'rows/s':>10}{'MB':>8}{'first s':>9}{'RSS MB first→peak→end':>26}")
    copy_rate = 0.0
    for fmt, r in results.items():
        rate = r["rows"] / r["seconds"]
        rss = f"{r['rss'][0]:.0f} → {max(r['rss']):.0f} → {r['rss'][-1]:.0f}"
        print(f"{fmt + ' (export_stream)':<22}{r['rows']:>11,}{r['seconds']:>8.1f}{rate:>10,.0f}"
              f"{r['bytes'] / 1e6:>8.0f}{r['first_s']:>9.2f}{rss:>26}")  # fmt: skip
        copy_rate = r["rows"] / baseline["seconds"]
    print(f"{'COPY … TO STDOUT':<22}{'':>11}{baseline['seconds']:>8.1f}{copy_rate:>10,.0f}"
          f"{baseline['bytes'] / 1e6:>8.0f}{baseline['first_s']:>9.2f}{'(in PostgreSQL)':>26}")  # fmt: skip
    result: dict[str, str] = {}
    for fmt, r in results.items():
        rate = r["rows"] / r["seconds"]
        result |= {
            f"{fmt}_rows": str(r["rows"]),
            f"{fmt}_rows_per_s": f"{rate:.0f}",
            f"{fmt}_first_s": f"{r['first_s']:.2f}",
            f"{fmt}_rss_first_mb": f"{r['rss'][0]:.0f}",
            f"{fmt}_rss_peak_mb": f"{max(r['rss']):.0f}",
            f"{fmt}_ratio_vs_copy": f"{baseline['seconds'] and r['seconds'] / baseline['seconds']:.2f}",
        }
    result["copy_s"] = f"{baseline['seconds']:.1f}"
    csv_r = results.get("csv")
    if csv_r:
        flat = max(csv_r["rss"]) - csv_r["rss"][0] <= FLAT_MB
        fast = csv_r["rows"] / csv_r["seconds"] >= GOAL_ROWS_PER_S
        result["goal"] = "met" if flat and fast else "missed"
        print(f"goal: CSV ≥ {GOAL_ROWS_PER_S:,} rows/s {'ok' if fast else 'MISSED'}, memory flat "
              f"(peak ≤ first + {FLAT_MB:.0f} MB) {'ok' if flat else 'MISSED'}")  # fmt: skip
    print("RESULT " + " ".join(f"{k}={v}" for k, v in result.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
