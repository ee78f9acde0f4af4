from django.apps import AppConfig
from django.db.models.signals import post_migrate


class SegmentsConfig(AppConfig):
    name = "segments"
    verbose_name = "Contact groups"

    def ready(self) -> None:
        from contacts.bulk_actions import register_bulk_action
        from contacts.signals import contacts_changed
        from segments.bulk import ADD_TO_GROUP
        from segments.recheck import contact_changed_receiver
        from segments.schedules import schedules_register

        post_migrate.connect(schedules_register, sender=self, dispatch_uid="segments.schedules")
        contacts_changed.connect(contact_changed_receiver, dispatch_uid="segments.recheck")
        register_bulk_action(ADD_TO_GROUP)
