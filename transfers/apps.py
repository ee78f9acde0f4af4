from django.apps import AppConfig
from django.db.models.signals import post_migrate


class TransfersConfig(AppConfig):
    """Import and export: contacts, accounts and groups in bulk (depends on contacts and segments)."""

    name = "transfers"
    verbose_name = "Import and export"

    def ready(self) -> None:
        from transfers.schedules import schedules_register

        post_migrate.connect(schedules_register, sender=self, dispatch_uid="transfers.schedules")
