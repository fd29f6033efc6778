// Report form: say which days a weekly or monthly report of the chosen start date covers,
// before it is queued (reports.services.period_bounds takes any day of the period to
// its Monday-to-Sunday week or calendar month; the server's message says it again).
(function () {
  "use strict";
  const period = document.getElementById("id_period");
  const start = document.getElementById("id_start");
  const note = document.getElementById("period-note");
  if (!period || !start || !note) return;
  const iso = (day) => day.toISOString().slice(0, 10);

  function update() {
    note.textContent = "";
    if (!/^\d{4}-\d{2}-\d{2}$/.test(start.value)) return; // empty: the previous period
    const day = new Date(start.value + "T00:00:00Z"); // dates only: UTC keeps them whole
    if (Number.isNaN(day.getTime())) return;
    if (period.value === "weekly") {
      const first = new Date(day);
      first.setUTCDate(day.getUTCDate() - ((day.getUTCDay() + 6) % 7));
      const last = new Date(first);
      last.setUTCDate(first.getUTCDate() + 6);
      note.textContent = "The report covers the week of Monday " + iso(first) + " to Sunday " + iso(last) + ".";
    } else if (period.value === "monthly") {
      const first = new Date(Date.UTC(day.getUTCFullYear(), day.getUTCMonth(), 1));
      const last = new Date(Date.UTC(day.getUTCFullYear(), day.getUTCMonth() + 1, 0));
      note.textContent = "The report covers the month, " + iso(first) + " to " + iso(last) + ".";
    }
  }
  period.addEventListener("change", update);
  start.addEventListener("input", update);
  start.addEventListener("change", update);
  update();
})();
