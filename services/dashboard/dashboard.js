// Fills the dashboard page: every chart from /api/charts once, then the live charts and the
// freshness table every data-refresh-seconds (Plotly.react redraws in place), the marts every minute.
(() => {
  "use strict";
  const refreshMs = Math.max(1, Number(document.body.dataset.refreshSeconds) || 5) * 1000;
  const martsMs = Math.max(60000, refreshMs);
  const staleAfterSeconds = 15 * 60;
  const plotConfig = { responsive: true, displaylogo: false, modeBarButtonsToRemove: ["lasso2d", "select2d"] };
  const status = document.getElementById("status");
  const liveNames = [...document.querySelectorAll(".chart[data-live]")].map((el) => el.dataset.chart);

  async function getJson(url) {
    const response = await fetch(url, { cache: "no-store" });
    if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
    return response.json();
  }

  function draw(name, figure) {
    const el = document.getElementById(`chart-${name}`);
    if (!el) return;
    return Plotly.react(el, figure.data, figure.layout, plotConfig).then(() => {
      el.dataset.refreshes = String(Number(el.dataset.refreshes || 0) + 1);
    });
  }

  function age(seconds) {
    if (seconds === null || seconds === undefined) return "–";
    if (seconds < 90) return `${Math.round(seconds)} s ago`;
    if (seconds < 5400) return `${Math.round(seconds / 60)} min ago`;
    if (seconds < 172800) return `${Math.round(seconds / 3600)} h ago`;
    return `${Math.round(seconds / 86400)} d ago`;
  }

  function when(iso) {
    return iso ? iso.replace("T", " ").replace(/(\.\d+)?(\+00:00|Z)$/, "") : "–";
  }

  function cell(row, text, className) {
    const td = row.insertCell();
    td.textContent = text;
    if (className) td.className = className;
  }

  function renderFreshness(payload) {
    const body = document.querySelector("#freshness-table tbody");
    body.replaceChildren();
    for (const item of payload.rows) {
      const row = body.insertRow();
      row.dataset.name = item.name;
      row.className =
        item.age_seconds === null ? "missing" : item.age_seconds > staleAfterSeconds ? "stale" : "fresh";
      cell(row, item.name);
      cell(row, item.kind);
      cell(row, when(item.updated_at));
      cell(row, age(item.age_seconds), "age");
      cell(row, item.detail || "");
    }
  }

  function report(error) {
    if (error) {
      status.textContent = `update failed: ${error.message}`;
      status.className = "error";
      console.error(error);
    } else {
      status.textContent = `updated ${new Date().toLocaleTimeString()}`;
      status.className = "";
    }
  }

  async function loadAll() {
    const [charts, freshness] = await Promise.all([getJson("/api/charts"), getJson("/api/freshness")]);
    await Promise.all(Object.entries(charts.charts).map(([name, figure]) => draw(name, figure)));
    renderFreshness(freshness);
  }

  async function loadLive() {
    const figures = liveNames.map((name) => getJson(`/api/charts/${name}`).then((figure) => draw(name, figure)));
    const freshness = getJson("/api/freshness").then(renderFreshness);
    await Promise.all([...figures, freshness]);
  }

  // Each loop schedules its next run only after the previous one finished: no piled-up requests.
  function every(ms, task) {
    const run = () =>
      task()
        .then(() => report(null), report)
        .finally(() => setTimeout(run, ms));
    setTimeout(run, ms);
  }

  loadAll().then(() => report(null), report).finally(() => {
    every(refreshMs, loadLive);
    every(martsMs, loadAll);
  });
})();
