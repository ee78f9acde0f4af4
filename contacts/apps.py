from django.apps import AppConfig


class ContactsConfig(AppConfig):
    name = "contacts"
    verbose_name = "Contacts"

    def ready(self) -> None:
        from django.db.backends.signals import connection_created

        from contacts.custom_sql import install_sqlite_functions
        from contacts.sqlite import install_unicode_like

        connection_created.connect(install_unicode_like, dispatch_uid="contacts.sqlite.unicode_like")
        connection_created.connect(install_sqlite_functions, dispatch_uid="contacts.custom_sql.sqlite_functions")
