"""`manage.py import_accounts FILE [--mapping NAME] [--dry-run]`: accounts (companies) from a CSV or XLSX file.

The same as `import_contacts` (same pipeline, report and exit statuses: 0 ran, 2 refused, 1 wrong arguments);
accounts are matched by name (case, accents and spacing ignored) or, when no account has the name, by domain.
"""

from __future__ import annotations

from transfers.imports.kinds import ACCOUNTS, Kind
from transfers.management.commands.import_contacts import Command as ContactImportCommand


class Command(ContactImportCommand):
    help = "Import accounts from a CSV or XLSX file (create or update by name or domain) and print the report."
    kind: Kind = ACCOUNTS
