// Dashboard: refresh the live panel, and run + follow the demo task.
(function () {
  "use strict";
  const panel = document.getElementById("panel");
  const button = document.getElementById("demo-button");
  const stateEl = document.getElementById("demo-state");
  const idEl = document.getElementById("demo-id");
  const history = document.getElementById("demo-history");
  const csrf = document.querySelector("#demo input[name=csrfmiddlewaretoken]").value;
  const DONE = new Set(["SUCCESS", "FAILURE", "REVOKED"]);

  async function refreshPanel() {
    try {
      const response = await fetch(panel.dataset.url, { headers: { Accept: "text/html" } });
      if (response.ok) panel.innerHTML = await response.text();
    } catch (err) {
      // Offline for a moment: keep the last panel and try again next tick.
    }
  }
  setInterval(refreshPanel, 3000);

  function showState(state, detail) {
    stateEl.textContent = state;
    stateEl.dataset.state = state;
    stateEl.className = "state state-" + state.toLowerCase();
    const last = history.lastElementChild;
    if (!last || last.dataset.state !== state) {
      const item = document.createElement("li");
      item.dataset.state = state;
      item.textContent = detail ? state + ": " + detail : state;
      history.appendChild(item);
    }
  }

  async function follow(statusUrl) {
    const response = await fetch(statusUrl, { headers: { Accept: "application/json" } });
    const body = await response.json();
    if (!response.ok) {
      showState("ERROR", (body.error && body.error.message) || response.status);
      button.disabled = false;
      return;
    }
    showState(body.state, body.error || "");
    if (DONE.has(body.state)) {
      button.disabled = false;
      refreshPanel();
    } else {
      setTimeout(() => follow(statusUrl), 250);
    }
  }

  button.addEventListener("click", async () => {
    button.disabled = true;
    history.innerHTML = "";
    const response = await fetch(button.dataset.url, {
      method: "POST",
      headers: { "X-CSRFToken": csrf, Accept: "application/json", "Content-Type": "application/json" },
      body: JSON.stringify({ seconds: 2 }),
    });
    const body = await response.json();
    if (response.status !== 202) {
      showState("ERROR", (body.error && body.error.message) || response.status);
      button.disabled = false;
      return;
    }
    idEl.textContent = body.task_id;
    follow(body.status_url);
  });

  // After a reload: the last demo task, still running, is followed on from here.
  // Otherwise the button works from now on (the page serves it disabled).
  if (stateEl.dataset.statusUrl && !DONE.has(stateEl.dataset.state)) {
    follow(stateEl.dataset.statusUrl);
  } else {
    button.disabled = false;
  }
})();
