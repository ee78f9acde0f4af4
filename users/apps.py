from django.apps import AppConfig


class UsersConfig(AppConfig):
    name = "users"
    verbose_name = "Users and sign-in"

    def ready(self) -> None:
        from users import receivers  # noqa: F401  (connects the login receiver)
