from django.contrib.auth.decorators import login_required
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from mysite.api import api_login_required
from notifications import services
from notifications.models import Channel, Notification


@login_required
@require_GET
def inbox(request):
    notifications = Notification.objects.filter(
        recipient=request.user, channel=Channel.IN_APP, status=Notification.Status.SENT
    )[:200]
    return render(request, "notifications/inbox.html", {"notifications": notifications})


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


@api_login_required
@require_GET
@never_cache
def unread_count(request):
    return JsonResponse({"unread": services.inbox_unread_count(user=request.user)})
