// Broadcast page: until the broadcast has finished, follow its progress through the
// API (GET /api/v1/broadcasts/<id>, the session's cookie; mysite/follow.js) and show it in place; the
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

  window.mysiteFollow(box.dataset.statusUrl, {
    show,
    done: (broadcast) => broadcast.finished,
    refused(message) {
      error.textContent = message;
      error.hidden = false;
    },
  });
})();
