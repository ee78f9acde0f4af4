from django.apps import AppConfig
from django.db.models.signals import post_migrate


class HealthConfig(AppConfig):
    name = "health"
    verbose_name = "Health checks"

    def ready(self) -> None:
        from health.schedules import schedules_register

        post_migrate.connect(schedules_register, sender=self, dispatch_uid="health.schedules")
