from django.apps import AppConfig
from django.db.models.signals import post_migrate


class CampaignsConfig(AppConfig):
    name = "campaigns"
    verbose_name = "Campaigns"

    def ready(self) -> None:
        from campaigns.schedules import schedules_register

        post_migrate.connect(schedules_register, sender=self, dispatch_uid="campaigns.schedules")
