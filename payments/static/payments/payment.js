// Payment page: while the payment is pending, follow its status (GET /api/v1/payments/<id>,
// with the session) and show the outcome in place.
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
  let delay = 500;

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

  async function poll() {
    try {
      const response = await fetch(status.dataset.statusUrl, { headers: { Accept: "application/json" } });
      if (response.ok) {
        const payment = await response.json();
        show(payment);
        if (payment.status !== "pending") return;
      } else if (response.status === 401 || response.status === 403 || response.status === 404) {
        // Signed out, or no longer ours: say so and stop asking. The API's error body
        // is {"error": {"code", "message", "fields"}}.
        const body = await response.json().catch(() => null);
        reason.textContent = (body && body.error && body.error.message) || response.statusText;
        reason.hidden = false;
        return;
      }
    } catch (err) {
      // Offline for a moment: try again.
    }
    // A payment can wait (a busy queue, a retry): ask less often as time goes by.
    delay = Math.min(delay * 1.5, 5000);
    setTimeout(poll, delay);
  }
  poll();
})();
