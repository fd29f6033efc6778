import uuid
from http import HTTPStatus

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse, HttpResponseBadRequest, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.csrf import csrf_failure as django_csrf_failure
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.defaults import page_not_found
from django.views.defaults import server_error as django_server_error

from mysite import metrics, operations, selectors, tokens
from mysite.api.errors import error_response
from mysite.decorators import staff_required
from mysite.forms import ApiTokenForm, ConsoleFilterForm


def _panel_context(user) -> dict:
    """Staff see every task; others see the tasks they started."""
    recent = selectors.task_recent(user=user)
    for result in recent:
        result.runtime = selectors.runtime(result)  # type: ignore[attr-defined]  # for the page
    return {
        "counts": selectors.task_state_counts(user=user),
        "recent": recent,
        **selectors.broker_overview(),
    }


@login_required
@require_GET
def dashboard(request):
    demo = selectors.demo_task_latest(user=request.user)
    if demo:  # the page follows it on from there if it is still running
        demo["status_url"] = reverse("api-v1:task-get", args=[demo["id"]])
    context = {**_panel_context(request.user), "demo": demo}
    return render(request, "mysite/dashboard.html", context)


@login_required
@require_GET
@never_cache
def dashboard_panel(request):
    """The live part of the dashboard, re-fetched by the page every few seconds."""
    return render(request, "mysite/_dashboard_panel.html", _panel_context(request.user))


class LogoutView(auth_views.LogoutView):
    """Django's logout; the login page it leads to then says so. The message is
    kept in its cookie (the fallback storage), so the session's end does not lose it."""

    def post(self, request, *args, **kwargs):
        response = super().post(request, *args, **kwargs)
        messages.info(request, "You are logged out.")
        return response


def not_found(request, exception=None):
    """Django's 404 page, but JSON under ``/api/`` (any path there, matched or not)."""
    if request.path.startswith("/api/"):
        return error_response(404, "Not found.")
    return page_not_found(request, exception)


def server_error(request):
    """Django's 500 page, but JSON under ``/api/``: a bug, logged with its traceback."""
    if request.path.startswith("/api/"):
        return error_response(500, "Something went wrong on our side; it has been logged.")
    return django_server_error(request)


def csrf_failure(request, reason=""):
    """CSRF refusals: JSON for the API, Django's own page elsewhere."""
    if request.path.startswith("/api/"):
        return error_response(403, f"CSRF check failed: {reason}")
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


# Settings: API tokens -------------------------------------------------------------

TOKENS_PAGE_SIZE = 50


@login_required
@require_http_methods(["GET", "POST"])
@never_cache
def api_tokens(request):
    """My API tokens; POST makes one and shows it, in this answer only.

    The new token is rendered in the POST's own response (``no-store``) rather
    than kept for a redirect: that way it never rests in the session table or a
    message cookie, only in the one page that shows it. Reloading that page asks
    the browser to resubmit, which would make a second token, listed and revocable.
    """
    form = ApiTokenForm(request.POST if request.method == "POST" else None)
    created = raw = None
    if form.is_bound and form.is_valid():
        created, raw = tokens.token_create(user=request.user, name=form.cleaned_data["name"])
        form = ApiTokenForm()
    page = Paginator(tokens.token_list_owned(user=request.user), TOKENS_PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    context = {"form": form, "page": page, "created": created, "raw_token": raw}
    return render(request, "mysite/api_tokens.html", context, status=400 if form.errors else 200)


@login_required
@require_POST
def api_token_revoke(request, pk: int):
    """Revoke one of my tokens: first a confirmation page, then (``confirmed``) for good."""
    token = tokens.token_get_owned(user=request.user, pk=pk)
    if token is None:
        raise Http404("No such token.")
    if not request.POST.get("confirmed"):
        return render(request, "mysite/api_token_revoke.html", {"token": token})
    tokens.token_revoke(token=token)
    messages.success(request, f"Revoked {token}: programs using it now get 401.")
    return redirect("api-tokens")


# The operations console -----------------------------------------------------


ACTIONS = {
    "retry": operations.task_retry,
    "revoke": operations.task_revoke,
    "terminate": operations.task_terminate,
}


staff_only = staff_required("The operations console is for staff.")


@staff_only
@require_GET
def operations_console(request):
    """Failed tasks (or another state), filtered by task and days, newest first."""
    form = ConsoleFilterForm(request.GET)
    if form.is_valid():
        filters = {
            "task_name": form.cleaned_data["task"],
            "state": form.cleaned_data["state"],
            "since": form.cleaned_data["since"],
            "until": form.cleaned_data["until"],
        }
        results = selectors.console_results(**filters)
    else:
        results = selectors.console_results().none()
    page = Paginator(results, selectors.CONSOLE_PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "form": form,
        "page": page,
        "tasks": selectors.task_views(page.object_list),
        "task_names": selectors.console_task_names(),
        "query": query.urlencode(),
    }
    status = 400 if form.errors else 200
    return render(request, "mysite/operations.html", context, status=status)


@staff_only
@require_GET
def operations_task(request, task_id: str):
    """One task: everything stored about it, its traceback on demand, its actions."""
    view = _task_view_or_404(task_id)
    return render(request, "mysite/operations_task.html", {"task": view})


@staff_only
@require_http_methods(["GET", "POST"])
def operations_task_action(request, task_id: str, action: str):
    """Retry, revoke (POST) or terminate (GET: the confirmation; POST) one task."""
    if action not in ACTIONS:
        raise Http404("No such action.")
    view = _task_view_or_404(task_id)
    if request.method == "GET":
        if action != "terminate":
            return HttpResponse(status=405, headers={"Allow": "POST"})
        return _terminate_confirmation(request, [view])
    if action == "terminate" and not request.POST.get("confirmed"):
        return _terminate_confirmation(request, [view])
    _act(request, action, [view])
    return redirect("operations-task", task_id=task_id)


@staff_only
@require_POST
def operations_actions(request):
    """One action on the tasks selected in the list; back to the list as it was."""
    action = request.POST.get("action", "")
    if action not in ACTIONS:
        return HttpResponseBadRequest("Unknown action: use retry, revoke or terminate.")
    views = [_task_view_or_404(task_id) for task_id in request.POST.getlist("task_id")]
    if not views:
        messages.error(request, "Select at least one task.")
    elif action == "terminate" and not request.POST.get("confirmed"):
        return _terminate_confirmation(request, views)
    else:
        _act(request, action, views)
    back = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(back, {request.get_host()}, request.is_secure()):
        back = reverse("operations")
    return redirect(back)


def _task_view_or_404(task_id: str) -> selectors.TaskView:
    try:
        task_id = str(uuid.UUID(task_id))  # any spelling of the id finds it
    except ValueError:
        raise Http404("Unknown task.") from None
    view = selectors.task_view_get(task_id=task_id)
    if view is None:
        raise Http404("Unknown task.")
    return view


def _act(request, action: str, views: list[selectors.TaskView]) -> None:
    """Run ``action`` on each task; one message each, done or why not."""
    for view in views:
        what = f"{view.name or 'Task'}[{view.task_id}]"
        try:
            outcome = ACTIONS[action](task_id=view.task_id, user=request.user)
        except operations.OperationRefused as exc:
            messages.error(request, str(exc))
            continue
        except operations.TaskUnknown:  # its result was pruned a moment ago
            messages.error(request, f"{what} is unknown.")
            continue
        if action == "retry":
            messages.success(request, f"Retried {what} as {outcome}.")
        elif action == "revoke":
            messages.success(request, f"Revoked {what}: no worker will start it.")
        else:
            messages.success(
                request,
                f"Asked the worker running {what} to terminate it: "
                "it records REVOKED when the process has stopped.",
            )


def _terminate_confirmation(request, views: list[selectors.TaskView]):
    back = request.POST.get("next") or request.GET.get("next") or ""
    if not url_has_allowed_host_and_scheme(back, {request.get_host()}, request.is_secure()):
        back = ""
    return render(request, "mysite/operations_terminate.html", {"tasks": views, "next": back})
