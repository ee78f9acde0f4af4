from django.apps import AppConfig
from django.db.models.signals import post_delete, post_migrate, post_save


class SegmentsConfig(AppConfig):
    name = "segments"
    verbose_name = "Contact groups"

    def ready(self) -> None:
        from contacts.bulk_actions import register_bulk_action
        from contacts.field_settings import register_field_users
        from contacts.models import ContactField
        from contacts.selectors import register_pending_check
        from contacts.signals import contacts_changed
        from segments.bulk import ADD_TO_GROUP
        from segments.models import ContactGroup
        from segments.rechecks import contact_changed_receiver, rule_catalog_changed
        from segments.schedules import schedules_register
        from segments.selectors import contact_recheck_pending
        from segments.services import groups_using_field

        post_migrate.connect(schedules_register, sender=self, dispatch_uid="segments.schedules")
        contacts_changed.connect(contact_changed_receiver, dispatch_uid="segments.rechecks")
        register_bulk_action(ADD_TO_GROUP)
        register_field_users(groups_using_field)
        register_pending_check(contact_recheck_pending)
        # Whatever parsed conditions depend on: a new RuleCatalogVersion (segments.models) with each change.
        # TRICKY: a signal that writes, against DESIGN's "a signal may only queue a task": the number must
        # change in the same transaction as every write to groups and fields, queryset deletes and writes
        # outside the services included, or a worker keeps serving a list that names deleted groups.
        for model in (ContactGroup, ContactField):
            for signal in (post_save, post_delete):
                signal.connect(rule_catalog_changed, sender=model, dispatch_uid=f"segments.catalog.{model.__name__}")
