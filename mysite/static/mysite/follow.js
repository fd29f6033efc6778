// Follow a resource of the API (GET with the session's cookie) until it is done:
// each answer goes to show(); done(answer) says when to stop; on 401, 403 or 404
// (signed out, or no longer allowed) refused(message) gets the API's words and
// polling stops. Offline for a moment, or a 5xx: ask again. Work can wait (a busy
// queue, retries, rate limits): ask less often as time goes by, from 0.5 s to 5 s.
window.mysiteFollow = function (url, handlers) {
  "use strict";
  const { show, done, refused } = handlers;
  let delay = 500;
  async function poll() {
    try {
      const response = await fetch(url, { headers: { Accept: "application/json" } });
      if (response.ok) {
        const answer = await response.json();
        show(answer);
        if (done(answer)) return;
      } else if (response.status === 401 || response.status === 403 || response.status === 404) {
        // The API's error body is {"error": {"code", "message", "fields"}}.
        const body = await response.json().catch(() => null);
        refused((body && body.error && body.error.message) || response.statusText);
        return;
      }
    } catch (err) {
      // Offline for a moment: try again.
    }
    delay = Math.min(delay * 1.5, 5000);
    setTimeout(poll, delay);
  }
  poll();
};
