"""Reads of the reports app."""

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404

from reports.models import Report


def reports_latest_first() -> QuerySet[Report]:
    """Every report, the latest period first, in an order that pages never overlap."""
    return Report.objects.order_by("-start_date", "period", "-pk")


def report_get(*, report_id: int) -> Report:
    """One report, or 404."""
    return get_object_or_404(Report, pk=report_id)
