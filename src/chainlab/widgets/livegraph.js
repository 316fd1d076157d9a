// chainlab LiveGraph: the browser side of chainlab.widgets.LiveGraph (an anywidget ESM).
//
// The Graphviz SVG (trait `svg`) is inserted once per graph. During a run only the
// `states` trait changes ({node id: {state, elapsed_ms, done, total, failed, error}});
// each update restyles the nodes by id (attribute data-state, styled by livegraph.css),
// refreshes a small badge (elapsed time, done/total) and the hover text. Elapsed times
// of running nodes keep ticking here, in the browser, without any kernel traffic.

const SVG_NS = "http://www.w3.org/2000/svg";
const XLINK_NS = "http://www.w3.org/1999/xlink";
const STATES = ["pending", "running", "done", "handled", "failed", "cancelled", "skipped"];
const LEGEND = {
  pending: "pending",
  running: "running",
  done: "done",
  handled: "fallback used",
  failed: "failed",
  cancelled: "cancelled",
  skipped: "skipped",
};
const MIN_BADGE_MS = 1; // shorter times only in the tooltip: a "0 ms" badge is noise
const NUMBER = /-?\d+(?:\.\d+)?(?:e-?\d+)?/g;

function shapeBox(g) {
  // Bounding box of a node's shapes from their attributes (works before layout,
  // unlike getBBox, which needs the element attached and visible).
  const xs = [];
  const ys = [];
  const shapes = g.localName === "polygon" ? [g] : g.querySelectorAll("ellipse, polygon, polyline, path, rect");
  for (const el of shapes) {
    if (el.closest(".cl-badge")) continue;
    const tag = el.localName;
    if (tag === "ellipse") {
      const cx = +el.getAttribute("cx"), cy = +el.getAttribute("cy");
      const rx = +el.getAttribute("rx"), ry = +el.getAttribute("ry");
      xs.push(cx - rx, cx + rx);
      ys.push(cy - ry, cy + ry);
    } else if (tag === "rect") {
      const x = +el.getAttribute("x"), y = +el.getAttribute("y");
      xs.push(x, x + +el.getAttribute("width"));
      ys.push(y, y + +el.getAttribute("height"));
    } else {
      const nums = (el.getAttribute("points") || el.getAttribute("d") || "").match(NUMBER) || [];
      for (let i = 0; i + 1 < nums.length; i += 2) {
        xs.push(+nums[i]);
        ys.push(+nums[i + 1]);
      }
    }
  }
  if (!xs.length) return null;
  return { x0: Math.min(...xs), y0: Math.min(...ys), x1: Math.max(...xs), y1: Math.max(...ys) };
}

function fmtMs(ms) {
  if (ms >= 100) return `${(ms / 1000).toFixed(1)} s`;
  return ms >= 1 ? `${Math.round(ms)} ms` : `${ms.toFixed(1)} ms`;
}

const BADGE_HEIGHT = 13;

function overlap(a, b) {
  return a.x0 < b.x1 && b.x0 < a.x1 && a.y0 < b.y1 && b.y0 < a.y1;
}

function badgeSpot(box, width, arrows, others) {
  // Of the spots around the node, the first that covers no arrowhead and no other
  // node; failing that, the first that covers no arrowhead (the rule of static.py).
  const middle = (box.y0 + box.y1) / 2 - BADGE_HEIGHT / 2;
  const spots = [
    [box.x1 - width + 6, box.y0 - 8],
    [box.x1 + 3, middle],
    [box.x1 - width + 6, box.y1 - 5],
    [box.x0 - 6, box.y0 - 8],
    [(box.x0 + box.x1 - width) / 2, box.y0 - BADGE_HEIGHT - 2],
    [box.x0 - width - 3, middle],
  ];
  const hits = ([x, y], obstacles) => {
    const rect = { x0: x, y0: y, x1: x + width, y1: y + BADGE_HEIGHT };
    return obstacles.filter((o) => overlap(rect, o)).length;
  };
  let best = spots[0];
  let bestScore = Infinity;
  for (const spot of spots) {
    const score = 2 * hits(spot, arrows) + (hits(spot, others) > 0 ? 1 : 0);
    if (score < bestScore) [best, bestScore] = [spot, score];
  }
  return best;
}

function badgeText(st, ms, full) {
  // full: the tooltip's text, which keeps times under MIN_BADGE_MS
  const parts = [];
  if (st.total !== undefined) {
    parts.push(`${st.done || 0}/${st.total}`);
    if (st.failed) parts.push(`${st.failed} failed`);
  }
  const timed = st.elapsed_ms !== undefined && !["pending", "skipped"].includes(st.state);
  if (timed && (full || ms >= MIN_BADGE_MS || st.state === "running")) parts.push(fmtMs(ms));
  if (st.stall) parts.push(`⚠ ${st.stall}`); // it blocked the event loop (widgets/marks.py)
  return parts.join(" · ");
}

function abandonedText(n) {
  // a call that ignores a cancel (time.sleep, a blocking client) keeps its thread
  return `${n} abandoned: their threads ignored the cancel and may still be running; ` +
    "shown cancelled, their late ends ignored";
}

function hoverText(id, st, ms) {
  const state = st.state === "handled" ? "failed, handled (fallback used)" : st.state;
  const lines = [id, [state, badgeText(st, ms, true)].filter(Boolean).join(" · ")];
  if (st.error) lines.push(st.error);
  if (st.abandoned) lines.push(abandonedText(st.abandoned));
  return lines.join("\n");
}

/** A <div> of the given class. */
function div(className) {
  const element = document.createElement("div");
  element.className = className;
  return element;
}

function render({ model, el }) {
  const root = div("chainlab-livegraph");
  const title = div("cl-title");
  const graph = div("cl-graph");
  const bar = div("cl-progress");
  const barFill = div("cl-progress-fill");
  bar.append(barFill);
  const barText = div("cl-progress-text");
  const legend = div("cl-legend");
  for (const s of STATES) {
    const item = document.createElement("span");
    item.className = "cl-legend-item";
    item.dataset.state = s;
    item.textContent = LEGEND[s];
    legend.append(item);
  }
  const errors = div("cl-errors");
  const abandoned = div("cl-abandoned");
  const tip = div("cl-tip");
  tip.style.display = "none";
  root.append(title, graph, bar, barText, legend, errors, abandoned, tip);
  el.append(root);
  let hovered = null; // id of the node under the mouse

  // Hover: the node's state, counts and error (the SVG <title> tooltip says the same,
  // but native tooltips are slow and easy to miss).
  graph.addEventListener("mousemove", (event) => {
    const g = event.target.closest && event.target.closest("g.node");
    hovered = g ? g.id : null;
    if (!g || !nodes.has(g.id)) {
      tip.style.display = "none";
      return;
    }
    tip.textContent = nodes.get(g.id).title.textContent;
    const box = root.getBoundingClientRect();
    tip.style.left = `${event.clientX - box.left + 12}px`;
    tip.style.top = `${event.clientY - box.top + 12}px`;
    tip.style.display = "";
  });
  graph.addEventListener("mouseleave", () => {
    hovered = null;
    tip.style.display = "none";
  });

  let nodes = new Map(); // id -> {g, box, badge, badgeRect, badgeText, title}
  let receivedAt = performance.now();
  let timer = null;

  function drawSvg() {
    graph.innerHTML = model.get("svg") || "";
    nodes = new Map();
    for (const g of graph.querySelectorAll("g.node")) {
      let t = null;
      for (const child of g.children) if (child.localName === "title") t = child;
      if (!t) {
        t = document.createElementNS(SVG_NS, "title");
        g.prepend(t);
      }
      g.dataset.state = "pending";
      nodes.set(g.id, { g, box: shapeBox(g), badge: null, title: t, arrows: [], others: [] });
    }
    // what a badge must not cover: the arrowheads, and the other nodes
    const arrows = [...graph.querySelectorAll("g.edge polygon")].map(shapeBox).filter(Boolean);
    for (const [id, node] of nodes) {
      node.arrows = arrows;
      node.others = [...nodes].filter(([other, n]) => other !== id && n.box).map(([, n]) => n.box);
    }
    applyStates();
  }

  function setBadge(node, text) {
    if (!node.box) return;
    if (!node.badge) {
      const b = document.createElementNS(SVG_NS, "g");
      b.setAttribute("class", "cl-badge");
      const r = document.createElementNS(SVG_NS, "rect");
      r.setAttribute("class", "cl-badge-rect");
      r.setAttribute("rx", "6");
      r.setAttribute("height", "13");
      const t = document.createElementNS(SVG_NS, "text");
      t.setAttribute("class", "cl-badge-text");
      t.setAttribute("text-anchor", "middle");
      b.append(r, t);
      node.g.append(b);
      node.badge = { g: b, rect: r, text: t, last: null };
    }
    const badge = node.badge;
    badge.g.style.display = text ? "" : "none";
    if (!text || badge.last === text) return;
    badge.last = text;
    const width = 6 * text.length + 8;
    const [x, y] = badgeSpot(node.box, width, node.arrows, node.others);
    badge.rect.setAttribute("x", x.toFixed(1));
    badge.rect.setAttribute("y", y.toFixed(1));
    badge.rect.setAttribute("width", width.toFixed(1));
    badge.text.setAttribute("x", (x + width / 2).toFixed(1));
    badge.text.setAttribute("y", (y + 10).toFixed(1));
    badge.text.textContent = text;
  }

  function elapsedOf(st, now) {
    const ms = +st.elapsed_ms || 0;
    return st.state === "running" && model.get("progress").status === "running"
      ? ms + (now - receivedAt)
      : ms;
  }

  function paintNode(id, node, st, now) {
    const state = STATES.includes(st.state) ? st.state : "pending";
    if (node.g.dataset.state !== state) node.g.dataset.state = state;
    if (st.stall) node.g.dataset.stall = "1";
    else delete node.g.dataset.stall;
    const ms = elapsedOf(st, now);
    setBadge(node, badgeText(st, ms));
    const hover = hoverText(id, st, ms);
    if (node.title.textContent !== hover) {
      node.title.textContent = hover;
      if (hovered === id) tip.textContent = hover;
    }
    for (const a of node.g.querySelectorAll("a")) {
      if (a.hasAttributeNS(XLINK_NS, "title")) a.setAttributeNS(XLINK_NS, "title", hover);
    }
  }

  function applyStates() {
    receivedAt = performance.now();
    const states = model.get("states") || {};
    let running = false;
    for (const [id, node] of nodes) {
      const st = states[id] || { state: "pending" };
      paintNode(id, node, st, receivedAt);
      if (st.state === "running") running = true;
    }
    if (running && !timer) timer = setInterval(tick, 100);
    if (!running && timer) {
      clearInterval(timer);
      timer = null;
    }
  }

  function tick() {
    const now = performance.now();
    const states = model.get("states") || {};
    for (const [id, node] of nodes) {
      const st = states[id];
      if (st && st.state === "running") paintNode(id, node, st, now);
    }
    drawProgress(now);
  }

  function drawProgress(now) {
    const p = model.get("progress") || {};
    const total = +p.total || 0;
    const done = +p.done || 0;
    const frac = total ? Math.min(1, done / total) : 0;
    barFill.style.width = `${(100 * frac).toFixed(1)}%`;
    root.dataset.status = p.status || "idle";
    let ms = +p.elapsed_ms || 0;
    if (p.status === "running" && now !== undefined) ms += now - receivedAt;
    const extra = [];
    if (p.running) extra.push(`${p.running} running`);
    if (p.failed) extra.push(`${p.failed} failed`);
    if (p.handled) extra.push(`${p.handled} fallback used`);
    if (p.skipped) extra.push(`${p.skipped} skipped`);
    if (p.cancelled) extra.push(`${p.cancelled} cancelled`);
    if (p.abandoned) extra.push(`${p.abandoned} abandoned`);
    const label = p.run_label ? `${p.run_label} run · ` : "";
    barText.textContent =
      `${label}${p.status || "idle"} · ${done}/${total} ${p.unit || ""}` +
      (extra.length ? ` (${extra.join(", ")})` : "") +
      (p.elapsed_ms !== undefined ? ` · ${fmtMs(ms)}` : "");
    abandoned.textContent = p.abandoned ? `${abandonedText(p.abandoned)}.` : "";
    // the failure, once and in plain words (a dashboard shows it in its result instead)
    errors.textContent = model.get("show_errors") === false ? "" : p.failure || "";
    errors.style.display = errors.textContent ? "" : "none";
  }

  function drawTitle() {
    title.textContent = model.get("title") || "";
    title.style.display = title.textContent ? "" : "none";
  }

  model.on("change:svg", drawSvg);
  model.on("change:states", applyStates);
  model.on("change:progress", () => {
    receivedAt = performance.now();
    drawProgress();
  });
  model.on("change:title", drawTitle);
  drawTitle();
  drawSvg();
  drawProgress();
  return () => {
    if (timer) clearInterval(timer);
  };
}

export default { render };
