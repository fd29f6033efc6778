from django.apps import AppConfig


class ReportsConfig(AppConfig):
    name = "reports"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from mysite.storage import delete_files_with_rows
        from reports.models import Report

        delete_files_with_rows(Report, "csv_file", "chart")
