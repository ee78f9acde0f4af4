"""Import jobs, saved mappings and the like (import and export of contacts, accounts and groups)."""
