"use strict";
const SID = document.body.dataset.studyId;
const SLICE_POINTS = 400, PARCOORDS_LINES = 500, TIMELINE_TRIALS = 400;
const DIRECTIONS = JSON.parse(document.body.dataset.directions);
const OBJECTIVES = JSON.parse(document.body.dataset.objectives);

async function renderSummary() {
  const meta = await api("/studies/" + SID);
  const hit = meta.cache_hit_rate === null ? "–" : (100 * meta.cache_hit_rate).toFixed(1) + " %";
  document.getElementById("summary").replaceChildren(
    card("state", meta.state), card("trials", String(meta.total_trials)),
    card("by state", stateCounts(meta.trials)), card("best", fmt(meta.best_value)),
    card("directions", meta.directions.join(", ")), card("searcher", meta.searcher || "–"),
    card("space", meta.space || "–"), card("cache hit rate", hit),
    card("evaluations saved", String(meta.evaluations_saved)), card("time saved", secs(meta.eval_seconds_saved)),
    ...(meta.simulated_gpu_seconds ? [card("simulated GPU time saved / paid", secs(meta.simulated_gpu_seconds.saved) +
      " / " + secs(meta.simulated_gpu_seconds.paid))] : []));
  document.getElementById("summary").dataset.total = String(meta.total_trials);
}

function objName(i) { return esc(OBJECTIVES[i] || "value_" + i); }

function drawBestNumber(h) {
  const b = h.best_by_number, c = b.filter((p) => p.state === "CACHED");
  return plot("best-number", [
    {x: b.map((p) => p.number), y: b.map((p) => p.value), mode: "lines+markers", line: {shape: "hv"},
     name: "best so far", text: b.map((p) => "trial " + p.number), type: "scatter"},
    {x: c.map((p) => p.number), y: c.map((p) => p.value), mode: "markers", name: "served from cache",
     marker: {color: STATE_COLORS.CACHED, size: 10, symbol: "star"}, type: "scatter"}],
    {title: {text: "best " + objName(0) + " over trials (" + b.length + " improvements)"}, xaxis: {title: {text: "trial"}}});
}

function drawBestTime(h) {
  const t = h.best_by_time, ct = t.filter((p) => p.state === "CACHED");
  return plot("best-time", [
    {x: t.map((p) => p.finished_at), y: t.map((p) => p.value), mode: "lines+markers", line: {shape: "hv"},
     name: "best so far", text: t.map((p) => "trial " + p.number), type: "scatter"},
    {x: ct.map((p) => p.finished_at), y: ct.map((p) => p.value), mode: "markers", name: "served from cache",
     marker: {color: STATE_COLORS.CACHED, size: 10, symbol: "star"}, type: "scatter"}],
    {title: {text: "best " + objName(0) + " over wall time"}, xaxis: {type: "date"}});
}

// Min/max per bucket of trial numbers as one vertical segment each: one SVG path per state
// however many buckets (single trials, or buckets whose min equals max, as markers).
function drawScatter(h) {
  const sc = h.scatter, traces = [];
  for (const [s, c] of Object.entries(sc.states)) {
    const x = [], y = [], text = [], px = [], py = [], ptext = [];
    c.lo.forEach((lo, i) => {
      const label = c.count[i] > 1 ? "trials " + lo + "–" + c.hi[i] + " (" + c.count[i] + ")" : "trial " + lo;
      if (c.min[i] === c.max[i]) { px.push(lo); py.push(c.max[i]); ptext.push(label); return; }
      x.push(lo, lo, null); y.push(c.min[i], c.max[i], null); text.push(label + " min", label + " max", null);
    });
    if (x.length) traces.push({x: x, y: y, text: text, name: s, mode: "lines", type: "scatter", hoverinfo: "text+y",
                               line: {color: STATE_COLORS[s], width: 2}, opacity: 0.7});
    if (px.length) traces.push({x: px, y: py, text: ptext, name: s, mode: "markers", type: "scatter", showlegend: !x.length,
                                marker: {color: STATE_COLORS[s], size: 5, opacity: 0.7}});
  }
  return plot("scatter", traces,
    {title: {text: "all trials" + (sc.bucket_width > 1 ? " (min–max per " + sc.bucket_width + " trials)" : "")},
     xaxis: {title: {text: "trial"}}, yaxis: {title: {text: objName(0)}}});
}

function drawImportance(p) {
  const imp = Object.entries(p.importance).sort((a, b) => a[1] - b[1]);
  return plot("importance", [{type: "bar", orientation: "h", x: imp.map((e) => e[1]), y: imp.map((e) => esc(e[0]))}],
       {title: {text: "parameter importance (random forest on " + p.objective.length + " trials)"}, margin: {l: 140}});
}

function drawSlice(p) {
  const names = Object.keys(p.params);
  const n = Math.max(names.length, 1), cols = Math.min(n, 3), rows = Math.ceil(n / cols);
  // SVG charts on a thinned sample: WebGL without a GPU (headless, remote desktops) is slow
  const step = Math.max(1, Math.ceil(p.objective.length / SLICE_POINTS));
  const thin = (xs) => xs.filter((_, i) => i % step === 0);
  const traces = names.map((name, i) => {
    const c = p.params[name];
    return {x: thin(c.kind === "numeric" ? c.values : c.values.map(esc)), y: thin(p.objective), mode: "markers",
            type: "scatter", name: esc(name), showlegend: false, hoverinfo: "x+y+text",
            text: thin(p.numbers).map((k) => "trial " + k), marker: {size: 4, opacity: 0.5},
            xaxis: "x" + (i + 1), yaxis: "y" + (i + 1)};
  });
  const layout = {title: {text: "slice"}, grid: {rows: rows, columns: cols, pattern: "independent", ygap: 0.45}, height: 260 * rows + 60};
  names.forEach((name, i) => { layout["xaxis" + (i + 1)] = {title: {text: esc(name)}, type: p.params[name].kind === "numeric" ? "linear" : "category"}; });
  return plot("slice", traces, layout);
}

// Parallel coordinates as SVG polylines (Plotly's parcoords needs WebGL, slow without a GPU):
// every axis scaled to [0, 1], lines coloured by objective quintile, best quintile on top.
function drawParcoords(p) {
  const names = Object.keys(p.params);
  const step = Math.max(1, Math.ceil(p.objective.length / PARCOORDS_LINES));
  const idx = p.objective.map((_, i) => i).filter((i) => i % step === 0);
  const axes = names.map((name) => {
    const c = p.params[name];
    const vals = c.kind === "numeric" ? c.values : c.codes;
    const lo = Math.min(...vals), hi = Math.max(...vals);
    const ticks = c.kind === "numeric" ? [lo, hi].map((v) => fmt(v, 3)) : c.labels.map(esc);
    return {name: esc(name), vals: vals, lo: lo, hi: hi, ticks: ticks, kind: c.kind};
  });
  const olo = Math.min(...p.objective), ohi = Math.max(...p.objective);
  axes.push({name: objName(0), vals: p.objective, lo: olo, hi: ohi, ticks: [fmt(olo, 4), fmt(ohi, 4)], kind: "numeric"});
  const norm = (a, v) => (a.hi === a.lo ? 0.5 : (v - a.lo) / (a.hi - a.lo));
  const sorted = idx.map((i) => p.objective[i]).sort((a, b) => a - b);
  const cut = [0.2, 0.4, 0.6, 0.8].map((q) => sorted[Math.floor(q * (sorted.length - 1))]);
  const colors = ["#440154", "#3b528b", "#21918c", "#5ec962", "#fde725"];
  const bins = colors.map(() => ({x: [], y: []}));
  for (const i of idx) {
    let b = cut.filter((c) => p.objective[i] > c).length;
    if (!p.maximize) b = colors.length - 1 - b;  // yellow = best either way
    axes.forEach((a, k) => { bins[b].x.push(k); bins[b].y.push(norm(a, a.vals[i])); });
    bins[b].x.push(null); bins[b].y.push(null);
  }
  const traces = bins.map((d, b) => ({x: d.x, y: d.y, type: "scatter", mode: "lines", hoverinfo: "skip",
    line: {color: colors[b], width: 1}, opacity: 0.45, name: "objective quintile " + (b + 1)}));
  const ann = [];
  axes.forEach((a, k) => {
    ann.push({x: k, y: 1.08, text: a.name, showarrow: false, yref: "y"});
    if (a.kind === "numeric") {
      ann.push({x: k, y: -0.05, text: a.ticks[0], showarrow: false, font: {size: 9}});
      ann.push({x: k, y: 1.02, text: a.ticks[1], showarrow: false, font: {size: 9}});
    } else {
      a.ticks.forEach((t, j) => ann.push({x: k, y: norm(a, j), text: t, showarrow: false, font: {size: 9},
                                         bgcolor: "rgba(255,255,255,0.7)"}));
    }
  });
  return plot("parcoords", traces, {title: {text: "parallel coordinates (" + idx.length + " trials; yellow = best)"},
    annotations: ann, showlegend: false, xaxis: {tickvals: axes.map((_, k) => k), ticktext: axes.map(() => ""), range: [-0.3, axes.length - 0.7]},
    yaxis: {visible: false, range: [-0.12, 1.15]}});
}

async function drawPareto(p) {
  const three = p.objectives === 3;
  const v = (pts, i) => pts.map((q) => q.values[i]);
  const kind = three ? "scatter3d" : "scatter";  // SVG: WebGL without a GPU is slow
  const tr = (pts, name, color, size, text) => {
    const t = {type: kind, mode: "markers", name: name, x: v(pts, 0), y: v(pts, 1), text: text,
               customdata: pts.map((q) => q.id), marker: {color: color, size: size}, hoverinfo: "text"};
    if (three) t.z = v(pts, 2);
    return t;
  };
  const frontText = p.front.map((q) => "trial " + q.number + " " + q.state + "<br>" + q.values.map((x) => fmt(x)).join(", ") + "<br>" + esc(q.candidate));
  const names = [0, 1, 2].map(objName);
  const layout = three ? {scene: {xaxis: {title: {text: names[0]}}, yaxis: {title: {text: names[1]}}, zaxis: {title: {text: names[2]}}}}
                       : {xaxis: {title: {text: names[0]}}, yaxis: {title: {text: names[1]}}};
  layout.title = {text: p.front.length + " on the front of " + p.n_scored + " scored trials"};
  await plot("pareto", [tr(p.others, "dominated", "#bbb", three ? 2 : 4, p.others.map((q) => "trial " + q.number)),
                  tr(p.front, "Pareto front", "#d62728", three ? 4 : 8, frontText)], layout);
  const node = document.getElementById("pareto");
  node.removeAllListeners && node.removeAllListeners("plotly_click");
  node.on("plotly_click", (e) => { const id = e.points[0].customdata; if (id) location.href = "/trials/" + id; });
}


function drawIntermediate(d) {
  const traces = d.curves.map((c) => ({x: c.steps.map((s) => s[0]), y: c.steps.map((s) => s[1]), type: "scatter",
    mode: "lines", name: "trial " + c.number + (c.state === "PRUNED" ? " (pruned)" : ""),
    line: {color: c.state === "PRUNED" ? "#d62728" : "#1f77b4", dash: c.state === "PRUNED" ? "dot" : "solid", width: 1},
    showlegend: false}));
  return plot("intermediate", traces, {title: {text: d.curves.length ? "latest " + d.curves.length + " curves (pruned dotted red)" : "no intermediate values"},
                                xaxis: {title: {text: "step"}}});
}

async function drawTimeline(d) {
  const byState = {};
  for (const t of d.trials) {
    const s = (byState[t.state] = byState[t.state] || {y: [], base: [], x: [], text: []});
    const start = Date.parse(t.start), end = t.end ? Date.parse(t.end) : Date.now();
    s.y.push(esc(t.worker)); s.base.push(t.start); s.x.push(Math.max(end - start, 1)); s.text.push("trial " + t.number);
  }
  await plot("timeline", Object.entries(byState).map(([s, d2]) => ({type: "bar", orientation: "h", y: d2.y, base: d2.base,
    x: d2.x, hovertext: d2.text, name: s, marker: {color: STATE_COLORS[s]}, hoverinfo: "text+name"})),
    {title: {text: "latest " + d.trials.length + " trials per worker"}, xaxis: {type: "date"}, barmode: "overlay", margin: {l: 160}});
  document.getElementById("workers").replaceChildren(el("p", {class: "muted",
    text: Object.entries(d.workers).map(([w, c]) => w + ": " + stateCounts(c)).join(" | ")}));
}

// The trials table: filtered, sorted and paged in SQL; a header click sorts by its column
// (again: the other way), the arrow shows the order.
let page = 1, sort = "number", order = "asc", trialsAsked = 0;
function query() {
  const f = new FormData(document.getElementById("filters"));
  const q = new URLSearchParams();
  for (const [k, v] of f.entries()) if (v !== "") q.set(k, v);
  q.set("sort", sort); q.set("order", order); q.set("page", String(page));
  return q;
}

function showSort() {
  for (const th of document.querySelectorAll("#trials th[data-sort]")) {
    const on = th.dataset.sort === sort;
    th.classList.toggle("sorted", on);
    th.setAttribute("aria-sort", on ? (order === "asc" ? "ascending" : "descending") : "none");
    th.dataset.arrow = on ? (order === "asc" ? " ▲" : " ▼") : "";
  }
}

// Answers can arrive out of order (a live refresh in flight when a filter is applied): only
// the answer to the latest request is drawn.
async function renderTrials() {
  const asked = ++trialsAsked;
  let d;
  try { d = await api("/studies/" + SID + "/trials?" + query().toString()); }
  catch (e) { if (asked === trialsAsked) document.getElementById("total").textContent = "error: " + e.message; return; }
  if (asked !== trialsAsked) return;
  document.querySelector("#trials tbody").replaceChildren(...d.rows.map((r) => el("tr", {"data-number": r.number},
    el("td", {}, el("a", {href: "/trials/" + r.id, text: String(r.number)})),
    el("td", {class: "state-" + r.state, text: r.state}),
    el("td", {class: "values", text: (r.values || []).map((x) => fmt(x)).join(", ") || "–"}),
    el("td", {class: "duration", text: r.duration_s === null ? "–" : r.duration_s.toFixed(3)}),
    el("td", {class: "worker", text: r.worker || "–"}),
    el("td", {class: "finished", text: r.finished_at ? String(r.finished_at).replace("T", " ").slice(0, 19) : "–"}),
    el("td", {text: r.cached_from === null ? "" : "#" + r.cached_from}),
    el("td", {text: (r.functional_hash || "").slice(0, 10)}),
    el("td", {class: "params", text: JSON.stringify(r.params)}))));
  document.getElementById("pages").textContent = String(d.pages);
  document.getElementById("total").textContent = String(d.total);
  document.getElementById("page").value = String(d.page);
  document.getElementById("trials").dataset.sorted = sort + " " + order;
  showSort();
}

document.getElementById("filters").addEventListener("submit", (e) => { e.preventDefault(); page = 1; renderTrials(); });
document.getElementById("prev").addEventListener("click", () => { if (page > 1) { page--; renderTrials(); } });
document.getElementById("next").addEventListener("click", () => {
  if (page < Number(document.getElementById("pages").textContent)) { page++; renderTrials(); } });
document.getElementById("page").addEventListener("change", (e) => { page = Math.max(1, Number(e.target.value) || 1); renderTrials(); });
for (const th of document.querySelectorAll("#trials th[data-sort]")) {
  th.title = "sort by " + th.textContent;
  th.addEventListener("click", () => {
    order = th.dataset.sort === sort && order === "asc" ? "desc" : "asc";
    sort = th.dataset.sort; page = 1; renderTrials();
  });
}

// Charts: each fetches its source when it comes near the viewport. The page counts as loaded
// (body[data-loaded]) when the summary, the charts of the first screen and the table are drawn;
// live polling starts then.
if (DIRECTIONS.length < 2) document.getElementById("pareto-section").hidden = true;
loadPlotly();
const study = "/studies/" + SID, watcher = studyWatcher(SID);
watcher.prime().catch(console.error).then(() => {
  const charts = lazyCharts({
    "best-number": ["history", drawBestNumber], "best-time": ["history", drawBestTime], "scatter": ["history", drawScatter],
    "importance": ["params", drawImportance], "slice": ["params", drawSlice], "parcoords": ["params", drawParcoords],
    "pareto": ["pareto", drawPareto], "intermediate": ["intermediate", drawIntermediate], "timeline": ["timeline", drawTimeline],
  }, {
    history: () => api(study + "/history"), params: () => api(study + "/params"), pareto: () => api(study + "/pareto"),
    intermediate: () => api(study + "/intermediate"), timeline: () => api(study + "/timeline?last=" + TIMELINE_TRIALS),
  }, {minAgeMs: {params: 10000, pareto: 10000}});
  return Promise.all([renderSummary(), renderTrials(), charts.firstScreen]).then(() => {
    document.body.dataset.loadedMs = String(Math.round(performance.now()));
    document.body.dataset.loaded = "1";
    live(watcher, async () => {
      await Promise.all([renderSummary(), renderTrials(), charts.refresh()]);
      document.body.dataset.refreshed = String(Date.now());
    }, 2000);
  });
});
