"use strict";
const selected = new Set();

async function renderStudies() {
  const rows = await api("/studies");
  const body = document.querySelector("#studies tbody");
  body.replaceChildren(...rows.map((s) => {
    const box = el("input", {type: "checkbox", "data-id": s.id});
    box.checked = selected.has(s.id);
    box.addEventListener("change", () => { box.checked ? selected.add(s.id) : selected.delete(s.id); });
    return el("tr", {"data-study": s.id},
      el("td", {}, box),
      el("td", {}, el("a", {href: "/studies/" + s.id, text: s.name})),
      el("td", {text: s.searcher || "–"}), el("td", {text: s.space || "–"}),
      el("td", {text: s.directions.join(", ")}),
      el("td", {class: "state", text: s.state}),
      el("td", {class: "counts", text: s.total_trials + ": " + stateCounts(s.trials)}),
      el("td", {class: "best", text: fmt(s.best_value)}),
      el("td", {class: "hit-rate", text: s.cache_hit_rate === null ? "–" : (100 * s.cache_hit_rate).toFixed(1) + " %"}),
      el("td", {class: "saved", text: String(s.evaluations_saved)}),
      el("td", {class: "time-saved", text: secs(s.eval_seconds_saved)}),
      el("td", {class: "gpu-saved", text: s.simulated_gpu_seconds ? secs(s.simulated_gpu_seconds.saved) : "–"}));
  }));
  document.body.dataset.loaded = String(rows.length);
  return rows;
}

async function compare() {
  const ids = [...selected];
  if (ids.length < 1) return;
  const names = Object.fromEntries([...document.querySelectorAll("#studies tbody tr")].map(
    (tr) => [tr.dataset.study, tr.children[1].textContent]));
  const curves = await Promise.all(ids.map((id) => api("/studies/" + id + "/history")));
  const traces = curves.map((h, k) => {
    const pts = h.best_by_number;
    return {x: pts.map((p) => p.number), y: pts.map((p) => p.value), mode: "lines+markers",
            line: {shape: "hv"}, name: names[ids[k]] || String(ids[k]), type: "scatter"};
  });
  await plot("compare-chart", traces, {title: {text: "best so far"}, xaxis: {title: {text: "trial"}},
                                 yaxis: {title: {text: "best value"}}});
}

document.getElementById("compare-btn").addEventListener("click", compare);
let lastRows = "";
renderStudies().then((r) => { lastRows = JSON.stringify(r); });
live(async () => {
  const r = await api("/studies");
  const s = JSON.stringify(r);
  const changed = s !== lastRows;
  lastRows = s;
  return changed;
}, renderStudies, 3000);
