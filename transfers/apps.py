from django.apps import AppConfig


class TransfersConfig(AppConfig):
    """Import and export: contacts, accounts and groups in bulk (depends on contacts and segments)."""

    name = "transfers"
    verbose_name = "Import and export"
