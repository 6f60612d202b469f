"use strict";
const SID = document.body.dataset.studyId;

async function render() {
  const d = await api("/studies/" + SID + "/hashing");
  const s = d.stats;
  document.getElementById("hash-summary").replaceChildren(card("proposals", String(s.proposals)),
    card("paid evaluations", String(s.complete + s.failed + s.pruned)), card("cache hits", String(s.cached)),
    card("unique functions", String(s.unique_functions)), card("evaluations saved", String(s.evaluations_saved)),
    card("time saved", secs(s.eval_seconds_saved)), card("time paid", secs(s.eval_seconds_paid)));
  let p = 0, q = 0, h = 0, sv = 0;
  const x = [], props = [], paid = [], hits = [], saved = [];
  for (const b of d.buckets) {
    p += b.proposals; q += b.paid; h += b.cached; sv += b.saved_s;
    x.push(b.finished_at); props.push(p); paid.push(q); hits.push(h); saved.push(sv);
  }
  const drawn = [plot("proposals", [{x: x, y: props, name: "proposals", type: "scatter", mode: "lines"},
                     {x: x, y: paid, name: "paid evaluations", type: "scatter", mode: "lines"}],
       {title: {text: "proposals vs paid evaluations"}, xaxis: {type: "date"}}),
    plot("saved", [{x: x, y: hits, name: "cache hits", type: "scatter", mode: "lines"},
                 {x: x, y: saved, name: "evaluation seconds saved", type: "scatter", mode: "lines", yaxis: "y2"}],
       {title: {text: "cache hits and time saved"}, xaxis: {type: "date"}, yaxis2: {overlaying: "y", side: "right", title: {text: "s"}}})];
  document.querySelector("#classes tbody").replaceChildren(...d.classes.map((c) => el("tr", {},
    el("td", {}, el("code", {text: c.functional_hash.slice(0, 16)})), el("td", {text: String(c.size)}),
    el("td", {}, ...c.members.map((m) => el("div", {},
      el("a", {href: "/trials/" + m.id, text: "#" + m.number}), " " + m.state + " " + fmt(m.value) + " ",
      el("code", {text: m.candidate})))))));
  const a = d.audits;
  document.getElementById("audit-summary").textContent = a.count
    ? a.count + " audited hits; mean |fresh − cached| " + fmt(a.mean_abs_diff) + ", max " + fmt(a.max_abs_diff)
    : "no audits (cache.audit_fraction is 0)";
  drawn.push(plot("audits", [{x: a.audits.map((r) => r.cached[0]), y: a.audits.map((r) => r.fresh[0]), mode: "markers", type: "scatter",
    text: a.audits.map((r) => "trial " + r.trial_number), name: "audits"}],
    {title: {text: "cached vs fresh (first objective)"}, xaxis: {title: {text: "cached"}}, yaxis: {title: {text: "fresh"}}}));
  await Promise.all(drawn);
  document.body.dataset.loadedMs = String(Math.round(performance.now()));
  document.body.dataset.loaded = "1";
}

loadPlotly();
const watcher = studyWatcher(SID);
watcher.prime().catch(console.error).then(render).then(() => live(watcher, render, 3000));
