// Broadcast page: until the broadcast has finished, follow its progress through the
// API (GET /api/v1/broadcasts/<id>, the session's cookie) and show it in place; the
// line is an aria-live region, so screen readers hear it change. Stops when finished.
(function () {
  "use strict";
  const box = document.getElementById("broadcast");
  if (!box || box.dataset.finished === "true") return;
  const progress = document.getElementById("broadcast-progress");
  const state = document.getElementById("broadcast-state");
  const text = document.getElementById("broadcast-text");
  const error = document.getElementById("broadcast-error");
  const waiting = document.getElementById("waiting");
  let delay = 500;

  function show(broadcast) {
    progress.max = broadcast.total;
    progress.value = broadcast.sent + broadcast.failed;
    const line = broadcast.sent + " sent, " + broadcast.failed + " failed of " + broadcast.total;
    if (text.textContent !== line) text.textContent = line; // announce changes only
    if (!broadcast.finished) return;
    box.dataset.finished = "true";
    state.textContent = "finished";
    state.className = "state state-ready";
    if (waiting) waiting.hidden = true;
  }

  async function poll() {
    try {
      const response = await fetch(box.dataset.statusUrl, { headers: { Accept: "application/json" } });
      if (response.ok) {
        const broadcast = await response.json();
        show(broadcast);
        if (broadcast.finished) return;
      } else if (response.status === 401 || response.status === 403 || response.status === 404) {
        // Signed out, or no longer staff: say so and stop asking. The API's error
        // body is {"error": {"code", "message", "fields"}}.
        const body = await response.json().catch(() => null);
        error.textContent = (body && body.error && body.error.message) || response.statusText;
        error.hidden = false;
        return;
      }
    } catch (err) {
      // Offline for a moment: try again.
    }
    // A big broadcast takes a while (rate limits, retries): ask less often as time goes by.
    delay = Math.min(delay * 1.5, 5000);
    setTimeout(poll, delay);
  }
  poll();
})();
