"""Reads of the reports app."""

from django.db.models import QuerySet

from reports.models import Report


def reports_latest_first() -> QuerySet[Report]:
    """Every report, the latest period first, in an order that pages never overlap."""
    return Report.objects.order_by("-start_date", "period", "-pk")
