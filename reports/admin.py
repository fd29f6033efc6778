from django.contrib import admin, messages
from django.urls import reverse
from django.utils.html import format_html

from reports import services
from reports.models import Order, Report


@admin.register(Report)
class ReportAdmin(admin.ModelAdmin):
    list_display = (
        "__str__",
        "period",
        "start_date",
        "end_date",
        "status",
        "row_count",
        "duration",
        "files",
    )
    list_filter = ("period", "status")
    date_hierarchy = "start_date"
    readonly_fields = (
        "status",
        "summary",
        "files",
        "row_count",
        "duration",
        "error",
        "task_id",
        "requested_by",
        "created_at",
        "finished_at",
    )
    exclude = ("csv_file", "chart")
    actions = ["regenerate"]

    @admin.display(description="Files")
    def files(self, report: Report) -> str:
        if not report.csv_file:
            return "—"
        return format_html(
            '<a href="{}">CSV</a> · <a href="{}">chart</a>',
            reverse("reports:csv", args=[report.pk]),
            reverse("reports:chart", args=[report.pk]),
        )

    @admin.action(description="Regenerate the selected reports")
    def regenerate(self, request, queryset):
        for report in queryset:
            start = report.start_date
            end = report.end_date if report.period == Report.Period.CUSTOM else None
            try:
                services.report_request(
                    period=report.period, start=start, end=end, user=request.user
                )
            except services.ReportRejected as exc:
                self.message_user(request, f"{report}: {exc}", messages.ERROR)
        self.message_user(request, f"{queryset.count()} report(s) queued.")


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    list_display = ("id", "created_at", "amount", "status", "channel", "customer_ref")
    list_filter = ("status", "channel")
    search_fields = ("customer_ref",)
    date_hierarchy = "created_at"
    show_full_result_count = False  # a million orders: don't count them on every page
