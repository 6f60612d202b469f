// Shared helpers. Every user string goes into the page through textContent (never innerHTML).
"use strict";
const STATE_COLORS = {COMPLETE: "#1f77b4", CACHED: "#2ca02c", FAILED: "#d62728", PRUNED: "#7f7f7f",
                      RUNNING: "#ff7f0e", PENDING: "#bcbd22", INTERRUPTED: "#9467bd"};

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
  const out = await r.json();
  performance.mark("api:" + path);
  return out;
}

// Plotly loads in parallel with the page's first API calls; charts wait for it. The page names the
// bundle: the 1.2 MB basic one (scatter, bar) unless it draws 3-D (the full 4.8 MB one).
let plotlyPromise = null;
function loadPlotly() {
  if (window.Plotly) return Promise.resolve(window.Plotly);
  if (!plotlyPromise) {
    plotlyPromise = new Promise((resolve, reject) => {
      const s = document.createElement("script");
      s.src = document.body.dataset.plotlySrc || "/plotly-basic.min.js";
      s.onload = () => { performance.mark("plotly"); resolve(window.Plotly); };
      s.onerror = () => reject(new Error("cannot load " + s.src));
      document.head.append(s);
    });
  }
  return plotlyPromise;
}

// Draw `traces` into #id; the node records how many traces and points it shows (tests read it).
async function plot(id, traces, layout) {
  const node = document.getElementById(id);
  if (!node) return;
  await loadPlotly();
  const base = {margin: {l: 55, r: 20, t: 35, b: 45}, hovermode: "closest", legend: {orientation: "h"}};
  const t0 = performance.now();
  await Plotly.react(node, traces, Object.assign(base, layout || {}), {responsive: true, displaylogo: false});
  node.dataset.drawMs = String(Math.round(performance.now() - t0));
  node.dataset.traces = String(traces.length);
  node.dataset.points = String(traces.reduce((n, t) => n + (t.x || t.y || []).filter((v) => v !== null).length, 0));
}

// Charts drawn when they come near the viewport: `charts` maps a chart's element id to
// [source, draw]; `sources` maps a source name to a fetch (each fetched once per refresh, only
// when one of its charts is about to be seen). `firstScreen` resolves when the charts in view at
// load are drawn; `refresh()` redraws the charts in view and marks the others stale.
function lazyCharts(charts, sources, {margin = 200, minAgeMs = {}} = {}) {
  let gen = 0;
  const cache = {}, drawnAt = {}, busy = {};
  function data(src) {
    const c = cache[src], age = c ? Date.now() - c.at : Infinity;
    if (!c || (c.gen !== gen && age >= (minAgeMs[src] || 0))) cache[src] = {gen: gen, at: Date.now(), p: sources[src]()};
    return cache[src].p;
  }
  async function draw(id) {
    if (drawnAt[id] === gen) return;
    if (busy[id]) return busy[id];
    const node = document.getElementById(id), [src, fn] = charts[id], g = gen;
    busy[id] = (async () => {
      try {
        const d = await data(src);
        performance.mark("data:" + id);
        await fn(d);
        performance.mark("drawn:" + id);
        drawnAt[id] = g;
        node.dataset.drawn = String(g + 1);
      } catch (e) {
        node.dataset.error = e.message;
        console.error(e);
      } finally { delete busy[id]; }
    })();
    return busy[id];
  }
  const near = (node, m) => {
    if (node.offsetParent === null) return false;  // hidden
    const r = node.getBoundingClientRect();
    return r.bottom > -m && r.top < window.innerHeight + m;
  };
  const ids = Object.keys(charts).filter((id) => document.getElementById(id));
  const inView = ids.filter((id) => near(document.getElementById(id), 0));
  const firstScreen = Promise.all(inView.map(draw));
  const seen = new Set(inView);
  const observer = new IntersectionObserver((entries) => {
    for (const e of entries) {
      if (e.isIntersecting) { seen.add(e.target.id); draw(e.target.id); } else seen.delete(e.target.id);
    }
  }, {rootMargin: margin + "px 0px"});
  // charts just below the fold are prefetched only once the first screen is drawn
  firstScreen.then(() => ids.forEach((id) => observer.observe(document.getElementById(id))));
  return {
    firstScreen: firstScreen,
    refresh() {
      gen++;
      return Promise.all([...seen].filter((id) => drawnAt[id] !== undefined).map(draw));
    },
  };
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

// A since-last-seen watcher on a study: resolves true when its version changed. Prime it (one
// call) before the first render: anything that finishes after that call changes the version, so
// the next poll refreshes the page; without priming, the first poll counts as a change.
function studyWatcher(studyId) {
  let cursor = null, last = null;
  const check = async function (limit) {
    const q = cursor ? "?since=" + encodeURIComponent(cursor) : (limit === 0 ? "?limit=0" : "");
    const u = await api("/studies/" + studyId + "/updates" + q);
    cursor = u.cursor || cursor;
    const v = JSON.stringify(u.version);
    const changed = last === null || v !== last;
    last = v;
    return changed;
  };
  check.prime = () => check(0);  // await it before the first render: its version is the baseline
  return check;
}

// Plotly draws titles, labels and hover text as a small HTML subset: escape user strings for it.
function esc(s) {
  return String(s).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}
