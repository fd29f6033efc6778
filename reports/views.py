from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from mysite.decorators import staff_required
from mysite.storage import file_response
from reports import selectors, services
from reports.forms import GenerateReportForm

PAGE_SIZE = 50


staff_only = staff_required("Reports are for staff.")


@staff_only
@require_http_methods(["GET", "POST"])
def report_list(request):
    form = GenerateReportForm(request.POST) if request.method == "POST" else GenerateReportForm()
    if form.is_bound and form.is_valid():
        report = services.report_request(
            period=form.cleaned_data["period"],
            start=form.cleaned_data.get("start"),
            end=form.cleaned_data.get("end"),
            user=request.user,
        )
        if note := form.period_note():  # a start date inside the period, not its first day
            messages.info(request, note)
        return redirect(report)
    reports = selectors.reports_latest_first()
    page = Paginator(reports, PAGE_SIZE).get_page(request.GET.get("page"))
    status = 400 if form.errors else 200
    return render(request, "reports/list.html", {"form": form, "page": page}, status=status)


@staff_only
@require_GET
def report_detail(request, report_id: int):
    report = selectors.report_get(report_id=report_id)
    return render(request, "reports/detail.html", {"report": report})


@staff_only
@require_GET
def report_chart(request, report_id: int):
    """Inline for the page's <img>; ``?download``: as an attachment (the download link)."""
    return _report_file(report_id, "chart", as_attachment="download" in request.GET)


@staff_only
@require_GET
def report_csv(request, report_id: int):
    return _report_file(report_id, "csv_file", as_attachment=True)


def _report_file(report_id: int, field: str, *, as_attachment: bool):
    report = selectors.report_get(report_id=report_id)
    stored = getattr(report, field)
    if not stored:
        raise Http404("The report has no such file yet.")
    name = stored.name.rsplit("/", 1)[-1]
    return file_response(stored, filename=name, as_attachment=as_attachment)
