from django.apps import AppConfig


class ContactsConfig(AppConfig):
    name = "contacts"
    verbose_name = "Contacts"

    def ready(self) -> None:
        from django.db.backends.signals import connection_created

        from contacts.sqlite import install_unicode_like

        connection_created.connect(install_unicode_like, dispatch_uid="contacts.sqlite.unicode_like")
