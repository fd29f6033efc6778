from django.apps import AppConfig


class MysiteConfig(AppConfig):
    name = "mysite"
    verbose_name = "Tasks"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from mysite import (
            checks,  # noqa: F401  (registers the system checks)
            operations,  # noqa: F401  (connects what workers record for the console)
        )
