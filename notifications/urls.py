from django.urls import path

from notifications import views

app_name = "notifications"

urlpatterns = [
    path("notifications/", views.inbox, name="inbox"),
    path("notifications/<int:notification_id>/read/", views.mark_read, name="mark-read"),
    path("notifications/read-all/", views.mark_all_read, name="mark-all-read"),
    path("notifications/send/", views.send, name="send"),
    path("notifications/broadcasts/", views.broadcast_new, name="broadcast-new"),
    path("notifications/broadcasts/<int:broadcast_id>/", views.broadcast_detail, name="broadcast"),
]
