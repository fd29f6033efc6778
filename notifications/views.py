from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from mysite.decorators import staff_required
from mysite.errors import form_rejected
from mysite.priorities import Priority
from notifications import selectors, services
from notifications.forms import BroadcastForm, NotificationForm

PAGE_SIZE = 50
RECENT_BROADCASTS = 10  # listed under the broadcast form
ALREADY_SENT = "This form was sent before; nothing more was sent."


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


staff_only = staff_required("Sending notifications is for staff.")


@staff_only
@require_http_methods(["GET", "POST"])
@never_cache  # each visit is a new message: a new dedupe key, not a cached page's old one
def send(request):
    """One notification to one user, as ``manage.py send_notification``."""
    form = NotificationForm(request.POST if request.method == "POST" else None)
    if form.is_bound and form.is_valid():
        asked = timezone.now()
        try:
            notification = services.notification_send_to_username(
                username=form.cleaned_data["user"],
                dedupe_key=form.dedupe_key(),
                **form.message(),
            )
        except services.NotificationRejected as exc:
            form_rejected(form, exc)  # nothing was stored or queued
        else:
            what = (
                f"Notification {notification.pk} ({notification.channel} to "
                f"{notification.recipient}) is {notification.status}."
            )
            if notification.created_at < asked:  # the form's key names one sent before
                messages.info(request, f"{ALREADY_SENT} {what}")
            else:
                messages.success(request, what)
            return redirect("notifications:send")
    status = 400 if form.errors else 200
    return render(request, "notifications/send.html", {"form": form}, status=status)


@staff_only
@require_http_methods(["GET", "POST"])
def broadcast_new(request):
    """Start a broadcast, as ``manage.py broadcast``; its page follows the progress."""
    form = BroadcastForm(request.POST if request.method == "POST" else None)
    if form.is_bound and form.is_valid():
        try:
            broadcast = services.broadcast_send(
                audience=form.cleaned_data["audience"],
                usernames=form.cleaned_data["usernames"],
                created_by=request.user,
                **form.message(),
            )
        except services.NotificationRejected as exc:  # NoRecipients too
            form_rejected(form, exc)
        else:
            # Says what was done, not the state: the page below shows that, live.
            messages.success(
                request, f"Broadcast #{broadcast.pk} started for {broadcast.total} recipients."
            )
            return redirect("notifications:broadcast", broadcast_id=broadcast.pk)
    status = 400 if form.errors else 200
    context = {"form": form, "broadcasts": selectors.broadcasts_recent(limit=RECENT_BROADCASTS)}
    return render(request, "notifications/broadcast_new.html", context, status=status)


@staff_only
@require_GET
def broadcast_detail(request, broadcast_id: int):
    broadcast = selectors.broadcast_get(broadcast_id=broadcast_id)
    named = {level.value: level.name.lower() for level in Priority}
    priority = (
        f"{broadcast.priority} ({named[broadcast.priority]})"
        if broadcast.priority in named
        else broadcast.priority
    )
    context = {"broadcast": broadcast, "priority": priority}
    return render(request, "notifications/broadcast.html", context)
