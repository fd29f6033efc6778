from importlib import import_module
from types import ModuleType

from django.apps import AppConfig, apps
from django.utils.module_loading import module_has_submodule


def app_modules(name: str) -> list[ModuleType]:
    """Each installed app's ``<app>.<name>`` module, in INSTALLED_APPS order.

    How the project finds what each app declares (``sweeps``, ``schedules``)
    without importing up into the apps.
    """
    return [
        import_module(f"{config.name}.{name}")
        for config in apps.get_app_configs()
        if module_has_submodule(config.module, name)
    ]


class MysiteConfig(AppConfig):
    name = "mysite"
    verbose_name = "Tasks"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from mysite import (
            checks,  # noqa: F401  (registers the system checks)
            operations,  # noqa: F401  (connects what workers record for the console)
        )
