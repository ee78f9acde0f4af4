from django.apps import AppConfig
from django.db.models.signals import post_migrate


class WebhooksConfig(AppConfig):
    name = "webhooks"
    verbose_name = "Webhooks"

    def ready(self) -> None:
        from django_q.signals import post_execute

        from webhooks.schedules import schedules_register
        from webhooks.wakeups import after_task

        post_migrate.connect(schedules_register, sender=self, dispatch_uid="webhooks.schedules")
        post_execute.connect(after_task, dispatch_uid="webhooks.wakeups")
