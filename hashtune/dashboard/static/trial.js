"use strict";
const TID = document.body.dataset.trialId;

function link(t, label) { return el("a", {href: "/trials/" + t.id, text: label || "#" + t.number}); }

function renderFacts(t) {
  const rows = [["state", t.state], ["values", (t.values || []).map((x) => fmt(x)).join(", ") || "–"],
    ["duration", secs(t.duration_s)], ["worker", t.worker || "–"], ["started", t.started_at || "–"],
    ["finished", t.finished_at || "–"], ["functional hash", t.functional_hash || "–"], ["task", t.task || "–"],
    ["mutation", t.mutation || "–"], ["user attrs", JSON.stringify(t.user_attrs)], ["error", t.error || ""]];
  const body = rows.filter(([k, v]) => k !== "error" || v).map(([k, v]) => el("tr", {}, el("td", {text: k}),
    k === "error" ? el("td", {class: "v-error"}, el("pre", {text: String(v)})) : el("td", {class: "v-" + k.replace(/ /g, "-"), text: String(v)})));
  if (t.cached_from) body.splice(1, 0, el("tr", {}, el("td", {text: "served from"}), el("td", {}, link(t.cached_from, "trial #" + t.cached_from.number))));
  document.getElementById("facts").replaceChildren(...body);
}

function renderCandidate(t) {
  document.getElementById("candidate").textContent = t.rendered.pyglove;
  if (t.rendered.source) {
    document.getElementById("source-box").hidden = false;
    document.getElementById("source").textContent = t.rendered.source;
    document.getElementById("simplified").textContent = t.rendered.simplified || t.rendered.source;
  }
  return t.rendered.cell ? renderCell(t.rendered.cell.edges) : null;
}

// The cell as a DAG: nodes on a line, edges as arcs labelled with their op ("none" edges hidden).
async function renderCell(edges) {
  const box = document.getElementById("cell");
  box.hidden = false;
  const nodes = Math.max(...edges.map((e) => e.dst)) + 1;
  const traces = [], ann = [];
  for (const e of edges) {
    if (e.op === "none") continue;
    const h = 0.35 * (e.dst - e.src);
    const xs = [], ys = [];
    for (let k = 0; k <= 20; k++) { const a = Math.PI * k / 20; xs.push(e.src + (e.dst - e.src) * (1 - Math.cos(a)) / 2); ys.push(h * Math.sin(a) * (e.src % 2 ? -1 : 1)); }
    traces.push({x: xs, y: ys, mode: "lines", type: "scatter", line: {width: 2}, hoverinfo: "skip", showlegend: false});
    ann.push({x: xs[10], y: ys[10], text: esc(e.op), showarrow: false, font: {size: 10}, bgcolor: "#fff"});
  }
  traces.push({x: [...Array(nodes).keys()], y: Array(nodes).fill(0), mode: "markers+text", type: "scatter",
               text: [...Array(nodes).keys()].map(String), textposition: "middle center",
               marker: {size: 26, color: "#dde"}, showlegend: false, hoverinfo: "skip"});
  await plot("cell", traces, {title: {text: "cell"}, annotations: ann, xaxis: {visible: false}, yaxis: {visible: false}, height: 260});
}

function renderIntermediate(t) {
  const s = t.intermediate || [];
  return plot("intermediate", [{x: s.map((p) => p[0]), y: s.map((p) => p[1]), mode: "lines+markers", type: "scatter",
    line: {color: t.state === "PRUNED" ? "#d62728" : "#1f77b4"}}],
    {title: {text: s.length ? s.length + " steps" + (t.state === "PRUNED" ? " (pruned)" : "") : "no intermediate values"}});
}

async function renderLineage(t) {
  const parents = t.ancestry.edges.filter((e) => e.child === t.id).map((e) => e.parent);
  const nodes = Object.fromEntries(t.ancestry.nodes.map((n) => [n.id, n]));
  const box = document.getElementById("lineage");
  box.replaceChildren(
    el("p", {}, "parents: ", ...(parents.length ? parents.flatMap((p) => [link(nodes[p]), " "]) : ["none"]),
       " · mutation: ", t.mutation || "–"),
    el("p", {}, "children: ", ...(t.children.length ? t.children.flatMap((c) => [link(c), " "]) : ["none"])));
  const depth = {[t.id]: 0}, order = [t.id];
  for (let i = 0; i < order.length; i++) {
    for (const e of t.ancestry.edges.filter((e) => e.child === order[i])) {
      if (!(e.parent in depth)) { depth[e.parent] = depth[order[i]] + 1; order.push(e.parent); }
    }
  }
  const perDepth = {}, pos = {};
  for (const id of order) { const d = depth[id]; perDepth[d] = (perDepth[d] || 0) + 1; pos[id] = [-d, perDepth[d] - 1]; }
  const ex = [], ey = [];
  for (const e of t.ancestry.edges) if (pos[e.parent] && pos[e.child]) { ex.push(pos[e.parent][0], pos[e.child][0], null); ey.push(pos[e.parent][1], pos[e.child][1], null); }
  const ids = order;
  await plot("ancestry", [{x: ex, y: ey, mode: "lines", type: "scatter", line: {color: "#aaa"}, hoverinfo: "skip", showlegend: false},
    {x: ids.map((i) => pos[i][0]), y: ids.map((i) => pos[i][1]), mode: "markers+text", type: "scatter", showlegend: false,
     text: ids.map((i) => "#" + nodes[i].number), textposition: "top center", customdata: ids,
     hovertext: ids.map((i) => "trial " + nodes[i].number + " " + nodes[i].state + " " + fmt(nodes[i].value)), hoverinfo: "text",
     marker: {size: 12, color: ids.map((i) => STATE_COLORS[nodes[i].state] || "#999")}}],
    {title: {text: "ancestry (" + (ids.length - 1) + " ancestors" + (t.ancestry.truncated ? ", truncated" : "") + ")"},
     xaxis: {title: {text: "generations back"}}, yaxis: {visible: false}});
  const node = document.getElementById("ancestry");
  node.on("plotly_click", (e) => { const id = e.points[0].customdata; if (id && id !== t.id) location.href = "/trials/" + id; });
}

function renderClass(t) {
  const c = t.hash_class, summary = document.getElementById("class-summary");
  if (!c) { summary.textContent = "no functional hash recorded"; return; }
  const paid = c.members.find((m) => m.id === c.paid_by);
  summary.replaceChildren(String(c.total) + " trial(s) compute this function on this task" +
    (c.cache ? "; cache: " + c.cache.count + " evaluation(s), mean " + c.cache.mean.map((x) => fmt(x)).join(", ") : "") + "; paid by ",
    paid ? link(paid, "trial #" + paid.number + (paid.study ? " of " + paid.study : "")) : document.createTextNode(c.paid_by === null ? "–" : "trial id " + c.paid_by));
  document.getElementById("class-members").replaceChildren(...c.members.map((m) => el("div", {class: m.id === c.paid_by ? "paid member" : "member", "data-number": m.number},
    el("h3", {}, link(m, "#" + m.number), " ", el("span", {class: "state-" + m.state, text: m.state}),
       " " + fmt(m.value) + (m.id === c.paid_by ? " · paid" : "") + (m.study ? " · " : ""), m.study ? m.study : ""),
    el("pre", {text: m.rendered}))));
}

let lastState = null;
async function render() {
  const t = await api("/trials/" + TID);
  renderFacts(t); renderClass(t);
  await Promise.all([renderCandidate(t), renderIntermediate(t), renderLineage(t)]);
  lastState = t.state;
  document.body.dataset.loadedMs = String(Math.round(performance.now()));
  document.body.dataset.loaded = "1";
  document.body.dataset.state = t.state;
  return t;
}

loadPlotly();
render();
let lastSeen = null;
live(async () => {
  if (lastState !== "RUNNING" && lastState !== "PENDING" && lastSeen !== null) return false;
  const t = await api("/trials/" + TID);
  const v = t.state + t.intermediate.length + t.children.length;
  const changed = lastSeen !== null && v !== lastSeen;
  lastSeen = v;
  return changed;
}, render, 3000);
