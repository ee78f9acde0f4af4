"""Pages of import and export, one module per concern (imports.py, exports.py)."""
