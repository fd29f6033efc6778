from django.urls import path

from reports import views

app_name = "reports"

urlpatterns = [
    path("reports/", views.report_list, name="list"),
    path("reports/<int:report_id>/", views.report_detail, name="detail"),
    path("reports/<int:report_id>/chart.png", views.report_chart, name="chart"),
    path("reports/<int:report_id>/report.csv", views.report_csv, name="csv"),
]
