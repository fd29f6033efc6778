"""Filters for the one look of every page (built in: no ``{% load %}`` needed)."""

from datetime import datetime
from decimal import Decimal, InvalidOperation

from django import template
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html

register = template.Library()


@register.filter
def money(amount, currency: str = "") -> str:
    """``1234.5`` and ``"EUR"`` as ``1,234.50 EUR``: a thousands separator, two
    decimals, then the currency code; no amount is a dash."""
    if amount is None or amount == "":
        return "—"
    try:
        value = Decimal(str(amount))
    except InvalidOperation:
        return str(amount)
    text = f"{value:,.2f}"
    return f"{text} {currency}" if currency else text


@register.filter
def when(moment, precision: str = "minutes") -> str:
    """A moment in the site's time zone as ``2026-11-01 14:05`` (``"seconds"``:
    ``14:05:09``, for tasks), in a ``<time>`` element; none is "" (for ``default``)."""
    if not moment:
        return ""
    if not isinstance(moment, datetime):
        return format_html('<time datetime="{}">{}</time>', moment.isoformat(), date_format(moment))
    if timezone.is_aware(moment):
        moment = timezone.localtime(moment)
    shown = date_format(moment, "Y-m-d H:i:s" if precision == "seconds" else "DATETIME_FORMAT")
    return format_html('<time datetime="{}">{}</time>', moment.isoformat(), shown)
