import uuid
from http import HTTPStatus

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.csrf import csrf_failure as django_csrf_failure
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from mysite import metrics, selectors
from mysite.api import api_login_required, json_error
from mysite.enqueue import enqueue
from mysite.tasks import DEMO_MAX_SECONDS
from mysite.tasks import demo_task as demo_task_task


def _panel_context(user) -> dict:
    """Staff see every task; others see the tasks they started."""
    recent = selectors.task_recent(user=user)
    for result in recent:
        result.runtime = selectors.runtime(result)
    return {
        "counts": selectors.task_state_counts(user=user),
        "recent": recent,
        **selectors.broker_overview(),
    }


@login_required
@require_GET
def dashboard(request):
    return render(request, "mysite/dashboard.html", _panel_context(request.user))


@login_required
@require_GET
@never_cache
def dashboard_panel(request):
    """The live part of the dashboard, re-fetched by the page every few seconds."""
    return render(request, "mysite/_dashboard_panel.html", _panel_context(request.user))


@api_login_required
@require_POST
def demo_task_start(request):
    try:
        seconds = float(request.POST.get("seconds", 2))
    except ValueError:
        return json_error("seconds must be a number.", status=400)
    if not 0 <= seconds <= DEMO_MAX_SECONDS:
        return json_error(f"seconds must be between 0 and {DEMO_MAX_SECONDS}.", status=400)
    task_id = enqueue(demo_task_task, kwargs={"seconds": seconds}, user=request.user)
    status_url = reverse("task-status", args=[task_id])
    return JsonResponse({"task_id": task_id, "status_url": status_url}, status=202)


@api_login_required
@require_GET
@never_cache
def task_status(request, task_id: str):
    try:
        uuid.UUID(task_id)
    except ValueError:
        return json_error("Unknown task.", status=404)
    status = selectors.task_status_get(task_id=task_id, user=request.user)
    if status is None:
        return json_error("Unknown task.", status=404)
    return JsonResponse(status)


def csrf_failure(request, reason=""):
    """CSRF refusals: JSON for the API, Django's own page elsewhere."""
    if request.path.startswith("/api/"):
        return json_error(f"CSRF check failed: {reason}", status=403)
    return django_csrf_failure(request, reason=reason)


@require_GET
@never_cache
def healthz(request):
    """Liveness: the process answers."""
    return JsonResponse({"status": "ok"})


@require_GET
@never_cache
def readyz(request):
    """Readiness: the database and the broker answer; 503 names what failed."""
    checks = {"database": selectors.database_check(), "broker": selectors.broker_check()}
    failing = [name for name, error in checks.items() if error]
    body = {name: error or "ok" for name, error in checks.items()}
    body["status"] = "unavailable" if failing else "ok"
    if failing:
        body["failing"] = failing
    return JsonResponse(body, status=503 if failing else 200)


@require_GET
@never_cache
def metrics_export(request):
    """Prometheus scrape: every web process's numbers and the queue depths.

    With ``METRICS_TOKEN`` set, requires ``Authorization: Bearer <token>``.
    """
    refusal = metrics.token_refusal(
        request.headers.get("Authorization", ""), settings.METRICS_TOKEN
    )
    if refusal is not None:
        response = HttpResponse(metrics.REFUSAL_MESSAGES[refusal], status=refusal)
        if refusal is HTTPStatus.UNAUTHORIZED:
            response["WWW-Authenticate"] = metrics.CHALLENGE
        return response
    return HttpResponse(metrics.exposition(queues=True), content_type=metrics.CONTENT_TYPE)
