from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from notifications import selectors, services

PAGE_SIZE = 50


@login_required
@require_GET
def inbox(request):
    notifications = selectors.inbox(user=request.user)
    page = Paginator(notifications, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "notifications/inbox.html", {"page": page})


@login_required
@require_POST
def mark_read(request, notification_id: int):
    services.inbox_mark_read(user=request.user, notification_id=notification_id)
    return redirect("notifications:inbox")


@login_required
@require_POST
def mark_all_read(request):
    services.inbox_mark_read(user=request.user)
    return redirect("notifications:inbox")
