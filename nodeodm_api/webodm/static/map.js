// The map page: projects and tasks from the WebODM API, the selected task's orthophoto and
// DSM as tile layers. Everything it loads comes from this server, so it works offline.
"use strict";

const STATUS = { 10: "Queued", 20: "Running", 30: "Failed", 40: "Completed", 50: "Canceled" };
const PENDING = { 1: "Canceling", 2: "Removing", 3: "Restarting", 4: "Resizing", 5: "Importing", 6: "Compacting" };
const REFRESH_MS = 5000;

const state = { token: null, selected: null, show: "orthophoto", layers: [], control: null, legend: null };
const map = L.map("map", { zoomControl: true }).setView([0, 0], 2);
L.control.scale().addTo(map);

function takeToken() {
  // A token may arrive in the fragment (#jwt=...), which never reaches server logs.
  const hash = new URLSearchParams(location.hash.slice(1));
  if (hash.get("layer") === "dsm") state.show = "dsm";
  if (hash.get("jwt")) {
    localStorage.setItem("odmflow-jwt", hash.get("jwt"));
    if (hash.get("task")) state.selected = hash.get("task");
    history.replaceState(null, "", location.pathname);
  } else if (hash.get("task")) {
    state.selected = hash.get("task");
  }
  state.token = localStorage.getItem("odmflow-jwt");
}

async function api(path) {
  const res = await fetch(path, { headers: { Authorization: "JWT " + state.token } });
  if (res.status === 403) { signOut(); throw new Error("signed out"); }
  if (!res.ok) throw new Error(path + ": HTTP " + res.status);
  return res.json();
}

function withJwt(url) {
  return url + (url.includes("?") ? "&" : "?") + "jwt=" + encodeURIComponent(state.token);
}

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") node.className = v; else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const c of children) if (c != null) node.append(c);
  return node;
}

function taskItem(project, task) {
  const status = task.pending_action ? PENDING[task.pending_action] : (STATUS[task.status] || "Waiting");
  const item = el("div", { class: "task" + (task.id === state.selected ? " selected" : ""), "data-id": task.id,
    onclick: () => select(project, task) },
    el("div", { class: "row" }, el("span", { class: "name", title: task.name || "" }, task.name || task.id),
      el("span", { class: "status s" + (task.status || 0) }, status)),
    el("div", { class: "bar" }, el("div", { style: `width:${Math.round(100 * (task.running_progress || 0))}%` })));
  if (task.last_error) item.append(el("div", { class: "error" }, task.last_error));
  if (task.available_assets.length) {
    const links = el("div", { class: "assets" });
    for (const a of task.available_assets) {
      links.append(el("a", { href: withJwt(`/api/projects/${project.id}/tasks/${task.id}/download/${a}`),
        onclick: (e) => e.stopPropagation() }, a));
    }
    item.append(links);
  }
  return item;
}

async function refresh() {
  if (!state.token) return;
  const box = document.getElementById("projects");
  const projects = await api("/api/projects/?ordering=-created_at");
  const parts = [];
  let first = null;
  for (const project of projects) {
    const tasks = await api(`/api/projects/${project.id}/tasks/?ordering=-created_at`);
    const section = el("div", { class: "project" }, el("h2", {}, project.name));
    if (!tasks.length) section.append(el("div", { class: "empty" }, "No tasks"));
    for (const task of tasks) {
      section.append(taskItem(project, task));
      if (!first && task.status === 40 && task.available_assets.includes("orthophoto.tif")) first = [project, task];
      if (task.id === state.selected && !state.layers.length && task.status === 40) first = [project, task];
    }
    parts.push(section);
  }
  box.replaceChildren(...(parts.length ? parts : [el("div", { class: "project empty" }, "No projects")]));
  if (first && !state.layers.length && !state.busy) select(...first);
}

async function layer(project, task, kind, extra) {
  const base = `/api/projects/${project.id}/tasks/${task.id}/${kind}`;
  const tj = await api(withJwt(`${base}/tiles.json` + (extra ? "?" + extra : "")));
  const [w, s, e, n] = tj.bounds;
  const bounds = L.latLngBounds([s, w], [n, e]);
  return { bounds, layer: L.tileLayer(withJwt(tj.tiles[0]), {
    bounds, minZoom: tj.minzoom, maxZoom: tj.maxzoom + 2, maxNativeZoom: tj.maxzoom, tms: false,
  }) };
}

async function select(project, task) {
  state.busy = true;
  try { await show(project, task); } finally { state.busy = false; }
}

async function show(project, task) {
  state.selected = task.id;
  document.querySelectorAll(".task").forEach((n) => n.classList.toggle("selected", n.dataset.id === task.id));
  for (const l of state.layers) map.removeLayer(l);
  if (state.control) map.removeControl(state.control);
  if (state.legend) map.removeControl(state.legend);
  state.layers = [];
  const overlays = {};
  let bounds = null;
  if (task.available_assets.includes("orthophoto.tif")) {
    const o = await layer(project, task, "orthophoto");
    if (state.show !== "dsm") o.layer.addTo(map); state.layers.push(o.layer); overlays["Orthophoto"] = o.layer; bounds = o.bounds;
  }
  if (task.available_assets.includes("dsm.tif")) {
    const meta = await api(withJwt(`/api/projects/${project.id}/tasks/${task.id}/dsm/metadata`));
    const p = meta.statistics["1"].percentiles;
    const d = await layer(project, task, "dsm", `rescale=${p[0]},${p[1]}&color_map=viridis`);
    const legend = L.control({ position: "bottomright" });
    legend.onAdd = () => el("div", { class: "legend" }, `DSM (viridis): ${p[0].toFixed(1)} – ${p[1].toFixed(1)} m`);
    d.layer.on("add", () => legend.addTo(map));
    d.layer.on("remove", () => legend.remove());
    state.legend = legend;
    state.layers.push(d.layer); overlays["Surface model (DSM)"] = d.layer; bounds = bounds || d.bounds;
    if (!overlays["Orthophoto"] || state.show === "dsm") d.layer.addTo(map);
  }
  if (Object.keys(overlays).length) {
    state.control = L.control.layers(null, overlays, { collapsed: false }).addTo(map);
  }
  if (bounds) map.fitBounds(bounds);
}

function signOut() {
  localStorage.removeItem("odmflow-jwt");
  state.token = null;
  document.getElementById("login").hidden = false;
  document.getElementById("logout").hidden = true;
  document.getElementById("projects").replaceChildren();
}

document.getElementById("login").addEventListener("submit", async (e) => {
  e.preventDefault();
  const form = new FormData(e.target);
  const res = await fetch("/api/token-auth/", { method: "POST", body: new URLSearchParams(form) });
  const body = await res.json();
  if (!res.ok) {
    document.getElementById("login-error").textContent = (body.non_field_errors || ["Cannot sign in"])[0];
    return;
  }
  localStorage.setItem("odmflow-jwt", body.token);
  start();
});
document.getElementById("logout").addEventListener("click", signOut);

function start() {
  takeToken();
  if (!state.token) { signOut(); return; }
  document.getElementById("login").hidden = true;
  document.getElementById("logout").hidden = false;
  refresh().catch(console.error);
}

start();
setInterval(() => refresh().catch(console.error), REFRESH_MS);
