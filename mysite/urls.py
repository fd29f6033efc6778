from django.contrib import admin
from django.templatetags.static import static
from django.urls import include, path
from django.utils.functional import lazy
from django.views.generic import RedirectView

from mysite import views
from mysite.api.v1 import api

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="dashboard"), name="home"),
    # Browsers ask for /favicon.ico on pages that link none (the admin's).
    path("favicon.ico", RedirectView.as_view(url=lazy(static, str)("mysite/favicon.svg"))),
    path("dashboard/", views.dashboard, name="dashboard"),
    path("dashboard/panel/", views.dashboard_panel, name="dashboard-panel"),
    path("operations/", views.operations_console, name="operations"),
    path("operations/actions/", views.operations_actions, name="operations-actions"),
    path("operations/tasks/<str:task_id>/", views.operations_task, name="operations-task"),
    path(
        "operations/tasks/<str:task_id>/<str:action>/",
        views.operations_task_action,
        name="operations-task-action",
    ),
    path("settings/tokens/", views.api_tokens, name="api-tokens"),
    path("settings/tokens/<int:pk>/revoke/", views.api_token_revoke, name="api-token-revoke"),
    path("api/v1/", api.urls),
    path("healthz/", views.healthz, name="healthz"),
    path("readyz/", views.readyz, name="readyz"),
    path("metrics/", views.metrics_export, name="metrics"),
    path("", include("images.urls")),
    path("", include("reports.urls")),
    path("", include("notifications.urls")),
    path("", include("payments.urls")),
    path("accounts/logout/", views.LogoutView.as_view(), name="logout"),  # before auth's own
    path("accounts/", include("django.contrib.auth.urls")),
    path("admin/", admin.site.urls),
]

handler404 = "mysite.views.not_found"
handler500 = "mysite.views.server_error"
