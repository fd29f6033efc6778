from django.urls import path

from notifications import views

app_name = "notifications"

urlpatterns = [
    path("notifications/", views.inbox, name="inbox"),
    path("notifications/<int:notification_id>/read/", views.mark_read, name="mark-read"),
    path("notifications/read-all/", views.mark_all_read, name="mark-all-read"),
]
