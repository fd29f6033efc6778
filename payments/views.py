from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from mysite.errors import form_rejected
from mysite.templatetags.look import money
from payments import selectors, services
from payments.forms import KeyedForm, PaymentForm, RefundForm
from payments.models import Payment

HISTORY_PAGE = 20  # payments per page of the accounts page's history
# The "sent; being processed" notice's tag: payment.js hides it once the payment
# is done (the status says the rest), so it is never shown above a final status.
SENT_TAG = "payment-sent"
ALREADY_SENT = "This form was sent before: this is the payment it made, nothing more was paid."
KEY_RENEWED = "This form now has a new key: submit it again to make a new payment."


@login_required
@require_GET
def accounts(request):
    history = Paginator(selectors.payment_list_visible(user=request.user), HISTORY_PAGE)
    page = history.get_page(request.GET.get("page"))  # any bad ?page= is the first or last
    context = {
        "accounts": selectors.account_list_owned(user=request.user),
        "payments": page.object_list,
        "page": page,
    }
    return render(request, "payments/accounts.html", context)


@login_required
@require_http_methods(["GET", "POST"])
@never_cache  # each visit is a new payment: a new key, not a cached page's old one
def payment_new(request):
    if request.method == "POST":
        form = PaymentForm(request.POST, user=request.user)
    else:
        form = PaymentForm(user=request.user)
    if form.is_bound and form.is_valid():
        data = form.cleaned_data
        try:
            payment, created = services.payment_create(
                user=request.user,
                payer_id=data["payer"],
                payee_id=data["payee"],
                amount=data["amount"],
                description=data["description"],
                idempotency_key=data["idempotency_key"],
            )
        except services.PaymentRejected as exc:
            _form_refused(form, exc)
        else:
            _announce(
                request,
                created=created,
                text=f"Payment of {money(payment.amount, payment.currency)} to account "
                f"#{payment.payee_id} sent; it is being processed.",
            )
            return redirect(payment)
    status = 400 if form.errors else 200
    return render(request, "payments/new.html", {"form": form}, status=status)


def _announce(request, *, created: bool, text: str) -> None:
    """Say what was sent (a notice payment.js hides once the payment has ended), or
    that this form had been sent before (its key names a payment already)."""
    if created:
        messages.success(request, text, extra_tags=SENT_TAG)
    else:
        messages.info(request, ALREADY_SENT)


def _form_refused(form: KeyedForm, exc: services.PaymentRejected) -> None:
    """Show why; a refused request wrote nothing, so its key stays for the corrected
    resubmission, unless the key already names another payment."""
    if isinstance(exc, services.KeyConflict):
        form.key_renew()
        form.add_error(None, f"{exc} {KEY_RENEWED}")
    else:
        form_rejected(form, exc)


@login_required
@require_GET
def payment_detail(request, payment_id: int):
    payment = selectors.payment_get_visible(payment_id=payment_id, user=request.user)
    return _detail(request, payment)


@login_required
@require_POST
def payment_refund(request, payment_id: int):
    payment = selectors.payment_get_visible(payment_id=payment_id, user=request.user)
    form = RefundForm(request.POST)
    if form.is_valid():
        try:
            refund, created = services.payment_refund(
                payment_id=payment.pk,
                amount=form.cleaned_data["amount"] or None,
                idempotency_key=form.cleaned_data["idempotency_key"],
                user=request.user,
            )
        except services.PaymentRejected as exc:
            _form_refused(form, exc)
        else:
            _announce(
                request,
                created=created,
                text=f"Refund of {money(refund.amount, refund.currency)} sent to the payer.",
            )
            return redirect(refund)
    return _detail(request, payment, refund_form=form, status=400)


def _detail(request, payment: Payment, *, refund_form: RefundForm | None = None, status: int = 200):
    """The payment page; the refund form is for the payee's owner while there is money
    left to refund (hidden while the payment is pending: the page shows it once completed)."""
    refundable = selectors.refundable_amount(payment)
    may_refund = (
        payment.payee.owner_id == request.user.pk
        and payment.refund_of_id is None
        and payment.status in {Payment.Status.PENDING, Payment.Status.COMPLETED}
        and refundable > 0
    )
    if may_refund and refund_form is None:
        refund_form = RefundForm(initial={"amount": refundable})
    context = {
        "payment": payment,
        "refunds": payment.refunds.all(),
        "refundable": refundable,
        "status_url": selectors.payment_status_url(payment),
        "refund_form": refund_form,
    }
    return render(request, "payments/detail.html", context, status=status)
