from django.apps import AppConfig
from django.db.models.signals import post_migrate


class SegmentsConfig(AppConfig):
    name = "segments"
    verbose_name = "Contact groups"

    def ready(self) -> None:
        from segments.schedules import schedules_register

        post_migrate.connect(schedules_register, sender=self, dispatch_uid="segments.schedules")
