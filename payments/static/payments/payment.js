// Payment page: while the payment is pending, follow its status (GET /api/v1/payments/<id>,
// with the session; mysite/follow.js) and show the outcome in place.
(function () {
  "use strict";
  const status = document.getElementById("payment-status");
  if (!status) return;
  // "Payment of ... sent; it is being processed." is true while it is pending only.
  function hideSent() {
    document.querySelectorAll(".notice.payment-sent").forEach((notice) => { notice.hidden = true; });
  }
  if (status.dataset.status !== "pending") {
    hideSent();
    return;
  }
  const reason = document.getElementById("failure-reason");
  const waiting = document.getElementById("waiting");
  const refund = document.getElementById("refund");

  function show(payment) {
    status.textContent = payment.status;
    status.className = "state state-" + payment.status;
    status.dataset.status = payment.status;
    reason.textContent = payment.failure_reason;
    reason.hidden = !payment.failure_reason;
    if (payment.status === "pending") return;
    hideSent();
    if (waiting) waiting.hidden = true;
    if (refund && payment.status === "completed") refund.hidden = false;
  }

  window.mysiteFollow(status.dataset.statusUrl, {
    show,
    done: (payment) => payment.status !== "pending",
    refused(message) {
      reason.textContent = message;
      reason.hidden = false;
    },
  });
})();
