// Report page: while the report is pending or running, follow it through the API
// (GET /api/v1/reports/{id}, the session cookie) and reload when done.
(function () {
  "use strict";
  const status = document.getElementById("report-status");
  if (!status || ["ready", "failed"].includes(status.dataset.status)) return;
  async function poll() {
    try {
      const response = await fetch(status.dataset.statusUrl, { headers: { Accept: "application/json" } });
      if (response.ok) {
        const body = await response.json();
        status.textContent = body.status;
        status.className = "state state-" + body.status;
        if (body.status === "ready" || body.status === "failed") {
          window.location.reload();
          return;
        }
      }
    } catch (err) {
      // Offline for a moment: try again.
    }
    setTimeout(poll, 500);
  }
  poll();
})();
