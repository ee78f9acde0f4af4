"""Importing contacts: reading.py (file → table), mapping.py (columns → fields), values.py (cell → value),
pipeline.py (check every row, then write in bulk, add to a group, keep the report)."""
