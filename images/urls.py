from django.urls import path

from images import views

app_name = "images"

urlpatterns = [
    path("images/", views.gallery, name="gallery"),
    path("images/upload/", views.upload, name="upload"),
    path("images/<int:image_id>/", views.detail, name="detail"),
    path("images/<int:image_id>/original/", views.original_file, name="original-file"),
    path(
        "images/<int:image_id>/renditions/<slug:spec>/",
        views.rendition_file,
        name="rendition-file",
    ),
]
