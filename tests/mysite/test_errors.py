"""The domain's error types: each app's refusal and transient failure is one of
the two, and ``http_status`` gives the status the API and the pages answer."""

import json

import pytest
from django import forms

from images.services import ImageRejected
from mysite.enqueue import BrokerUnavailable
from mysite.errors import (
    RETRY_AFTER_DEFAULT,
    Rejected,
    Unavailable,
    form_rejected,
    http_status,
    retry_after,
)
from mysite.middleware import BrokerUnavailableMiddleware
from mysite.operations import OperationRefused, TaskUnknown
from mysite.ratelimit import RateLimiterUnavailable
from mysite.storage import StorageUnavailable
from mysite.tokens import TokenRejected
from notifications.backends import TransientDeliveryError
from notifications.services import NoRecipients, NotificationRejected, RateLimited
from payments.services import AccountForbidden, AccountNotFound, KeyConflict, PaymentRejected
from reports.services import ReportRejected


def raising(exc):
    def view(request):
        raise exc

    return view


@pytest.mark.parametrize(
    ("exc", "status", "code"),
    [
        (PaymentRejected("x"), 400, "payment_rejected"),
        (AccountNotFound("x"), 404, "account_not_found"),
        (AccountForbidden("x"), 403, "account_forbidden"),
        (KeyConflict("x"), 409, "key_conflict"),
        (ReportRejected("x"), 400, "report_rejected"),
        (NotificationRejected("x"), 400, "notification_rejected"),
        (NoRecipients("x"), 409, "no_recipients"),
        (ImageRejected("x"), 400, "image_rejected"),
        (ImageRejected("x", kind="too_large"), 413, "image_rejected"),
        (ImageRejected("x", kind="unsupported"), 415, "image_rejected"),
        (TokenRejected("x"), 400, "token_rejected"),
        (TaskUnknown("x"), 404, "task_unknown"),
        (OperationRefused("x"), 409, "operation_refused"),
    ],
)
def test_every_refusal_is_rejected_with_its_status_and_code(exc, status, code):
    assert isinstance(exc, Rejected)
    assert (http_status(exc), exc.code, exc.message, exc.fields) == (status, code, "x", {})


@pytest.mark.parametrize(
    "exc",
    [
        BrokerUnavailable("down"),
        StorageUnavailable("down"),
        RateLimiterUnavailable("down"),
        TransientDeliveryError("HTTP 429", retry_after=2.5),
        RateLimited("sms", countdown=0.2),
    ],
)
def test_every_transient_failure_is_unavailable_and_a_503(exc):
    assert isinstance(exc, Unavailable)
    assert http_status(exc) == 503


def test_retry_after_is_whole_seconds_rounded_up_or_the_default():
    assert retry_after(TransientDeliveryError("x", retry_after=2.5)) == "3"
    assert retry_after(RateLimited("sms", countdown=0.2)) == "1"
    assert retry_after(StorageUnavailable("x")) == str(RETRY_AFTER_DEFAULT)
    assert RateLimited("sms", countdown=0.2).countdown == 0.2


def test_a_kind_without_a_status_is_refused_where_it_is_raised():
    with pytest.raises(ValueError, match="unknown kind 'gone'"):
        Rejected("x", kind="gone")


def test_a_refusal_a_view_let_through_is_a_page_with_its_status(rf):
    request = rf.get("/payments/new/", headers={"accept": "text/html"})
    exc = AccountNotFound("No account #7.")

    response = BrokerUnavailableMiddleware(raising(exc)).process_exception(request, exc)

    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")
    page = response.content.decode()
    assert "Not found" in page
    assert "No account #7." in page


def test_a_refusal_under_api_is_the_json_body_with_its_code_and_fields(rf):
    request = rf.post("/api/v1/anything/")
    exc = KeyConflict("Used before.", fields={"idempotency_key": ["Used before."]})

    response = BrokerUnavailableMiddleware(raising(exc)).process_exception(request, exc)

    assert response.status_code == 409
    assert json.loads(response.content) == {
        "error": {
            "code": "key_conflict",
            "message": "Used before.",
            "fields": {"idempotency_key": ["Used before."]},
        }
    }


def test_a_transient_failure_is_a_503_with_retry_after_and_the_public_message(rf):
    request = rf.get("/images/upload/", headers={"accept": "text/html"})
    exc = StorageUnavailable("could not write x: EndpointConnectionError")

    response = BrokerUnavailableMiddleware(raising(exc)).process_exception(request, exc)

    assert (response.status_code, response["Retry-After"]) == (503, str(RETRY_AFTER_DEFAULT))
    page = response.content.decode()
    assert StorageUnavailable.public_message in page
    assert "EndpointConnectionError" not in page  # the detail is for the log


class NameForm(forms.Form):
    name = forms.CharField()


def test_form_rejected_puts_fields_on_their_fields_and_the_rest_on_the_form():
    on_field = NameForm({"name": "x"})
    on_field.is_valid()
    form_rejected(on_field, Rejected("Bad name.", fields={"name": ["Too short."]}))

    whole = NameForm({"name": "x"})
    whole.is_valid()
    form_rejected(whole, Rejected("Not now.", fields={"elsewhere": ["?"]}))

    assert on_field.errors == {"name": ["Too short."]}
    assert whole.errors == {"__all__": ["Not now."]}
