from django.apps import AppConfig
from django.db.models.signals import post_migrate


class ContactsConfig(AppConfig):
    name = "contacts"
    verbose_name = "Contacts"

    def ready(self) -> None:
        from django.db.backends.signals import connection_created

        from contacts.custom_sql import install_sqlite_functions
        from contacts.schedules import schedules_register
        from contacts.sqlite import install_unicode_like

        connection_created.connect(install_unicode_like, dispatch_uid="contacts.sqlite.unicode_like")
        connection_created.connect(install_sqlite_functions, dispatch_uid="contacts.custom_sql.sqlite_functions")
        post_migrate.connect(schedules_register, sender=self, dispatch_uid="contacts.schedules")
