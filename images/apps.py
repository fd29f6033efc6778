from django.apps import AppConfig


class ImagesConfig(AppConfig):
    name = "images"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from images.models import Image, Rendition
        from mysite.storage import delete_files_with_rows

        delete_files_with_rows(Image, "original")
        delete_files_with_rows(Rendition, "file")
