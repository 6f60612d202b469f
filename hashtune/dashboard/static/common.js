// Shared helpers. Every user string goes into the page through textContent (never innerHTML).
"use strict";
const STATE_COLORS = {COMPLETE: "#1f77b4", CACHED: "#2ca02c", FAILED: "#d62728", PRUNED: "#7f7f7f",
                      RUNNING: "#ff7f0e", PENDING: "#bcbd22"};

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "text") node.textContent = v;
    else if (k === "class") node.className = v;
    else if (v !== undefined && v !== null) node.setAttribute(k, v);
  }
  for (const c of children) {
    if (c === null || c === undefined) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

function fmt(v, digits = 5) {
  if (v === null || v === undefined) return "–";
  if (typeof v === "number") return Number.isInteger(v) ? String(v) : v.toPrecision(digits);
  return String(v);
}

function secs(s) {
  if (s === null || s === undefined) return "–";
  if (s < 1) return (s * 1000).toFixed(1) + " ms";
  if (s < 120) return s.toFixed(1) + " s";
  if (s < 7200) return (s / 60).toFixed(1) + " min";
  return (s / 3600).toFixed(1) + " h";
}

async function api(path) {
  const r = await fetch("/api" + path, {headers: {Accept: "application/json"}});
  if (!r.ok) throw new Error(path + ": " + r.status + " " + (await r.text()));
  return r.json();
}

function plot(id, traces, layout) {
  const node = document.getElementById(id);
  if (!node) return;
  const base = {margin: {l: 55, r: 20, t: 35, b: 45}, hovermode: "closest", legend: {orientation: "h"}};
  Plotly.react(node, traces, Object.assign(base, layout || {}), {responsive: true, displaylogo: false});
  node.dataset.traces = String(traces.length);
}

function card(k, v) { return el("div", {class: "card"}, el("div", {class: "k", text: k}), el("div", {class: "v", text: v})); }

function stateCounts(counts) {
  return Object.entries(counts || {}).map(([s, n]) => s + " " + n).join(" · ") || "none";
}

// Poll `check` every `ms`; call `refresh` when it reports a change. The header dot shows liveness.
function live(check, refresh, ms = 2000) {
  let busy = false;
  const dot = document.getElementById("live");
  async function tick() {
    if (busy) return;
    busy = true;
    try {
      if (await check()) await refresh();
      if (dot) { dot.classList.remove("stale"); dot.dataset.lastPoll = String(Date.now()); }
    } catch (e) {
      if (dot) dot.classList.add("stale");
      console.error(e);
    } finally { busy = false; }
  }
  setInterval(tick, ms);
}

// A since-last-seen watcher on a study: resolves true when its version changed. The first poll
// counts as a change: trials that finished between the page's first render and that poll must
// not be missed (the page would otherwise stay on its first data until the next change).
function studyWatcher(studyId) {
  let cursor = null, last = null;
  return async function () {
    const q = cursor ? "?since=" + encodeURIComponent(cursor) : "";
    const u = await api("/studies/" + studyId + "/updates" + q);
    cursor = u.cursor || cursor;
    const v = JSON.stringify(u.version);
    const changed = last === null || v !== last;
    last = v;
    return changed;
  };
}

// Plotly draws titles, labels and hover text as a small HTML subset: escape user strings for it.
function esc(s) {
  return String(s).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}
