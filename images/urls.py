from django.urls import path

from images import views

app_name = "images"

urlpatterns = [
    path("images/", views.gallery, name="gallery"),
    path("images/upload/", views.upload, name="upload"),
    path("images/status/", views.gallery_status, name="gallery-status"),
    path("images/<int:image_id>/", views.detail, name="detail"),
    path("images/<int:image_id>/original/", views.original_file, name="original-file"),
    path(
        "images/<int:image_id>/renditions/<slug:spec>/",
        views.rendition_file,
        name="rendition-file",
    ),
    path("api/images/", views.api_create, name="api-create"),
    path("api/images/<int:image_id>/", views.api_detail, name="api-detail"),
]
