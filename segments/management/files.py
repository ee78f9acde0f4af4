"""What management commands share: reading a JSON file (a rule tree) named on the command line."""

from __future__ import annotations

import json
import sys
from typing import Any

from django.core.management.base import CommandError


def json_file_read(path: str) -> Any:
    """The JSON in `path` ("-": standard input); a CommandError (exit 2) saying why when it cannot be read."""
    try:
        if path == "-":
            return json.load(sys.stdin)
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except OSError as error:
        raise CommandError(f"{path}: cannot read the file ({error.strerror})", returncode=2) from None
    except (ValueError, RecursionError) as error:
        raise CommandError(f"{path}: not valid JSON ({error})", returncode=2) from None
