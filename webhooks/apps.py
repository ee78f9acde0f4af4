from django.apps import AppConfig
from django.db.models.signals import post_migrate


class WebhooksConfig(AppConfig):
    name = "webhooks"
    verbose_name = "Webhooks"

    def ready(self) -> None:
        from webhooks.schedules import schedules_register

        post_migrate.connect(schedules_register, sender=self, dispatch_uid="webhooks.schedules")
