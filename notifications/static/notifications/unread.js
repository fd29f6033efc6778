// The header's unread badge, kept current from the API
// (GET /api/v1/notifications/unread-count, the session cookie) while the page is open.
(function () {
  "use strict";
  const link = document.getElementById("inbox-link");
  if (!link || !link.dataset.unreadUrl) return;
  const every = Number(link.dataset.pollSeconds || 30) * 1000;

  function show(count) {
    let badge = document.getElementById("unread-badge");
    if (count > 0) {
      if (!badge) {
        badge = document.createElement("span");
        badge.className = "badge";
        badge.id = "unread-badge";
        link.append(" ", badge);
      }
      badge.textContent = String(count);
    } else if (badge) {
      badge.remove();
    }
  }

  async function poll() {
    if (document.visibilityState !== "hidden") {
      try {
        const response = await fetch(link.dataset.unreadUrl, { headers: { Accept: "application/json" } });
        if (response.ok) show((await response.json()).unread);
      } catch (err) {
        // Offline for a moment: try again.
      }
    }
    setTimeout(poll, every);
  }
  setTimeout(poll, every);
})();
