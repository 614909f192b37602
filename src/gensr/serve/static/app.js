// gensr serve: the page. Plain JavaScript, no build step, nothing loaded from elsewhere.
// Flow per image: waiting -> uploading -> queued -> running -> done | failed | cancelled.
"use strict";

const MAX_ACTIVE = 2;        // images on the server at once (uploading, queued or running)
const POLL_MS = 400;
const $ = (sel) => document.querySelector(sel);

const state = { items: [], limits: null, nextId: 1, viewing: null, viewerClosed: false, polling: false };

// ------------------------------------------------------------------------------------ helpers

function mib(bytes) {
  if (bytes < 2 ** 20) return `${Math.ceil(bytes / 1024)} KB`;
  return `${(bytes / 2 ** 20).toFixed(bytes < 10 * 2 ** 20 ? 1 : 0)} MB`;
}
function mp(pixels) { return `${+(pixels / 1e6).toPrecision(3)} MP`; }

function notice(message) {
  const el = $("#notice");
  el.textContent = message || "";
  el.hidden = !message;
}

const UNREACHABLE = "The gensr server is not answering. Is `gensr serve` still running? " +
  "Start it again, then reload this page.";

async function api(path, options) {
  let res;
  try {
    res = await fetch(path, options);
  } catch (e) {
    throw new Error(UNREACHABLE);
  }
  if (!res.ok) {
    let message = `${res.status} ${res.statusText}`;
    try { message = (await res.json()).error || message; } catch (e) { /* not JSON */ }
    const err = new Error(message);
    err.status = res.status;
    throw err;
  }
  return res.status === 204 ? null : res.json();
}

// ------------------------------------------------------------------------------------- models

async function loadModels() {
  const select = $("#model");
  try {
    const [models, health] = await Promise.all([api("/v1/models"), api("/healthz")]);
    state.limits = health.limits;
    select.innerHTML = "";
    for (const m of models.models) {
      const opt = document.createElement("option");
      opt.value = m.name;
      opt.textContent = `${m.name} (${m.arch}, ×${m.scale})`;
      select.append(opt);
    }
    const saved = localStorage.getItem("gensr.model");
    select.value = models.models.some((m) => m.name === saved) ? saved : models.default;
    $("#limits").textContent = `PNG, JPEG, WebP, GIF, BMP or TIFF, up to ${mib(state.limits.max_upload_bytes)} ` +
      `and ${mp(state.limits.max_pixels)} each. Nothing leaves this computer.`;
    notice("");
  } catch (e) {
    notice(e.message);
  }
}

// -------------------------------------------------------------------------------------- items

function addFiles(files) {
  for (const file of files) {
    const el = $("#item-template").content.firstElementChild.cloneNode(true);
    const item = {
      id: state.nextId++, file, el, name: file.name, state: "waiting", jobId: null,
      model: $("#model").value, localUrl: URL.createObjectURL(file), job: null, error: null,
    };
    el.querySelector(".name").textContent = file.name;
    el.querySelector(".meta").textContent = `${mib(file.size)} · ${item.model}`;
    const thumb = el.querySelector(".thumb");
    thumb.src = item.localUrl;
    thumb.onerror = () => { thumb.style.visibility = "hidden"; };  // e.g. TIFF: the browser cannot show it
    el.querySelector(".remove").onclick = () => removeItem(item);
    el.querySelector(".compare").onclick = () => {
      openViewer(item);
      $("#viewer").scrollIntoView({ behavior: "smooth", block: "nearest" });
    };
    $("#list").append(el);
    state.items.push(item);
    if (state.limits && file.size > state.limits.max_upload_bytes) {
      fail(item, `${file.name} is ${mib(file.size)}; this server accepts files up to ` +
        `${mib(state.limits.max_upload_bytes)} (start gensr serve with a larger --max-upload-mb).`);
    } else {
      render(item);
    }
  }
  updateToolbar();
  pump();
}

function setState(item, s) { item.state = s; render(item); updateToolbar(); }

function fail(item, message) {
  item.error = message;
  setState(item, "failed");
}

function render(item) {
  const el = item.el;
  const job = item.job;
  el.dataset.state = item.state;
  el.dataset.job = item.jobId || "";
  const bar = el.querySelector("progress");
  const status = el.querySelector(".status");
  let text = "";
  switch (item.state) {
    case "waiting": text = "Waiting to upload"; bar.removeAttribute("value"); break;
    case "uploading": text = `Uploading ${Math.round(item.upload * 100)} %`; bar.value = 0; break;
    case "busy": text = item.retryText; bar.removeAttribute("value"); break;
    case "queued":
      text = job && job.queue_position ? `Queued (${job.queue_position} ahead)` : "Queued (next)";
      bar.value = 0; break;
    case "running": text = `Upscaling ${Math.floor(job.progress * 100)} %`; bar.value = job.progress; break;
    case "done": text = `Done in ${job.seconds.toFixed(1)} s`; bar.value = 1; break;
    case "failed": text = item.error; break;
    case "cancelled": text = "Cancelled"; break;
  }
  status.textContent = text;
  if (job) {
    const i = job.input;
    const size = job.output ? ` → ${job.output.width}×${job.output.height}` : ` → ×${job.scale}`;
    el.querySelector(".meta").textContent = `${i.width}×${i.height}${size} · ${job.model}`;
  }
  const done = item.state === "done";
  el.dataset.output = done ? `${job.output.width}x${job.output.height}` : "";
  el.querySelector(".compare").hidden = !done;
  const dl = el.querySelector(".download");
  dl.hidden = !done;
  if (done) { dl.href = `${job.result_url}?download=1`; dl.download = job.output.name; }
}

function updateToolbar() {
  const done = state.items.filter((i) => i.state === "done");
  $("#toolbar").hidden = state.items.length === 0;
  const all = $("#download-all");
  all.disabled = done.length === 0;
  all.textContent = done.length > 1 ? `Download all ${done.length} (zip)` : "Download all";
}

async function removeItem(item) {
  state.items = state.items.filter((i) => i !== item);
  item.el.remove();
  item.removed = true;
  if (state.viewing === item) closeViewer();
  if (item.xhr) item.xhr.abort();
  if (item.jobId) api(`/v1/jobs/${item.jobId}`, { method: "DELETE" }).catch(() => {});
  URL.revokeObjectURL(item.localUrl);
  updateToolbar();
  pump();
}

// ------------------------------------------------------------------------------------- upload

function active() {
  return state.items.filter((i) => ["uploading", "queued", "running"].includes(i.state)).length;
}

function pump() {
  for (const item of state.items) {
    if (active() >= MAX_ACTIVE) break;
    if (item.state === "waiting") upload(item);
  }
}

function upload(item) {
  const form = new FormData();
  form.append("file", item.file, item.file.name);
  const xhr = new XMLHttpRequest();
  item.xhr = xhr;
  item.upload = 0;
  setState(item, "uploading");
  xhr.upload.onprogress = (e) => {
    if (e.lengthComputable) { item.upload = e.loaded / e.total; render(item); }
  };
  xhr.onerror = () => { fail(item, UNREACHABLE); pump(); };
  xhr.onload = () => {
    item.xhr = null;
    if (item.removed) return;
    let body = {};
    try { body = JSON.parse(xhr.responseText); } catch (e) { /* not JSON */ }
    if (xhr.status === 202) {
      item.jobId = body.id;
      item.job = body;
      setState(item, body.status);
      poll();
    } else if (xhr.status === 503 || xhr.status === 429) {
      const wait = parseInt(xhr.getResponseHeader("Retry-After") || "5", 10);
      item.retryText = `The server is busy; trying again in ${wait} s`;
      setState(item, "busy");
      setTimeout(() => { if (!item.removed) { setState(item, "waiting"); pump(); } }, wait * 1000);
    } else {
      fail(item, body.error || `The server answered ${xhr.status} ${xhr.statusText}`);
    }
    pump();
  };
  xhr.open("POST", `/v1/upscale?model=${encodeURIComponent(item.model)}`);
  xhr.send(form);
}

// ------------------------------------------------------------------------------------ polling

async function poll() {
  if (state.polling) return;
  state.polling = true;
  while (true) {
    const live = state.items.filter((i) => i.state === "queued" || i.state === "running");
    if (live.length === 0) break;
    await Promise.all(live.map(async (item) => {
      try {
        const job = await api(`/v1/jobs/${item.jobId}`);
        if (item.removed) return;
        item.job = job;
        if (job.status === "failed") fail(item, job.error);
        else setState(item, job.status);
        if (job.status === "done" && !state.viewing && !state.viewerClosed) openViewer(item);
      } catch (e) {
        fail(item, e.status === 404
          ? "The server no longer knows this image (it was restarted, or the result expired)."
          : e.message);
      }
    }));
    pump();
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
  state.polling = false;
}

// ------------------------------------------------------------------------- before/after viewer

const view = { w: 1, h: 1, z: 1, tx: 0, ty: 0, split: 0.5 };

function openViewer(item) {
  const job = item.job;
  for (const i of state.items) i.el.classList.toggle("selected", i === item);
  state.viewing = item;
  view.w = job.output.width;
  view.h = job.output.height;
  $("#viewer").hidden = false;
  $("#viewer-title").textContent =
    `${job.input.name}: ${job.input.width}×${job.input.height} → ${view.w}×${view.h}`;
  const canvas = $("#canvas");
  canvas.style.width = `${view.w}px`;
  canvas.style.height = `${view.h}px`;
  const before = $("#before");
  const after = $("#after");
  before.onerror = () => { before.onerror = null; before.src = `/v1/jobs/${job.id}/preview?which=input`; };
  after.onerror = () => { after.onerror = null; after.src = `/v1/jobs/${job.id}/preview?which=result`; };
  before.src = item.localUrl;
  after.src = job.result_url;
  const dl = $("#viewer-download");
  dl.href = `${job.result_url}?download=1`;
  dl.download = job.output.name;
  fit();
}

function closeViewer() {
  $("#viewer").hidden = true;
  state.viewing = null;
  for (const i of state.items) i.el.classList.remove("selected");
}

function stageBox() { return $("#stage").getBoundingClientRect(); }

function apply() {
  $("#canvas").style.transform = `translate(${view.tx}px, ${view.ty}px) scale(${view.z})`;
  $("#before").style.clipPath = `inset(0 ${(1 - view.split) * 100}% 0 0)`;
  const x = view.tx + view.split * view.w * view.z;
  $("#divider").style.left = `${Math.max(0, Math.min(stageBox().width, x))}px`;
  $("#split").value = view.split * 100;
  $("#zoom-level").textContent = `${Math.round(view.z * window.devicePixelRatio * 100)} %`;
}

function zoomTo(z, cx, cy) {
  const box = stageBox();
  const fitZ = Math.min(box.width / view.w, box.height / view.h);
  z = Math.max(Math.min(fitZ, 1) / 2, Math.min(32, z));
  if (cx === undefined) { cx = box.width / 2; cy = box.height / 2; }
  view.tx = cx - (cx - view.tx) * (z / view.z);
  view.ty = cy - (cy - view.ty) * (z / view.z);
  view.z = z;
  apply();
}

function fit() {
  const box = stageBox();
  view.z = Math.min(box.width / view.w, box.height / view.h);
  view.tx = (box.width - view.w * view.z) / 2;
  view.ty = (box.height - view.h * view.z) / 2;
  apply();
}

function splitAt(clientX) {
  const x = clientX - stageBox().left;
  view.split = Math.max(0, Math.min(1, (x - view.tx) / (view.w * view.z)));
  apply();
}

function setUpViewer() {
  const stage = $("#stage");
  let drag = null;
  stage.addEventListener("pointerdown", (e) => {
    const onDivider = e.target.closest("#divider") !== null;
    drag = { mode: onDivider ? "split" : "pan", x: e.clientX, y: e.clientY, tx: view.tx, ty: view.ty, moved: false };
    stage.setPointerCapture(e.pointerId);
    if (!onDivider) stage.classList.add("panning");
  });
  stage.addEventListener("pointermove", (e) => {
    if (!drag) return;
    const dx = e.clientX - drag.x;
    const dy = e.clientY - drag.y;
    if (Math.abs(dx) + Math.abs(dy) > 3) drag.moved = true;
    if (drag.mode === "split") splitAt(e.clientX);
    else if (drag.moved) { view.tx = drag.tx + dx; view.ty = drag.ty + dy; apply(); }
  });
  const end = (e) => {
    if (drag && drag.mode === "pan" && !drag.moved) splitAt(e.clientX);  // a click moves the line
    drag = null;
    stage.classList.remove("panning");
  };
  stage.addEventListener("pointerup", end);
  stage.addEventListener("pointercancel", () => { drag = null; stage.classList.remove("panning"); });
  stage.addEventListener("wheel", (e) => {
    e.preventDefault();
    const box = stageBox();
    zoomTo(view.z * Math.exp(-e.deltaY * 0.0015), e.clientX - box.left, e.clientY - box.top);
  }, { passive: false });
  $("#split").addEventListener("input", (e) => { view.split = e.target.value / 100; apply(); });
  $("#fit").onclick = fit;
  $("#one").onclick = () => zoomTo(1 / window.devicePixelRatio);
  $("#viewer-close").onclick = () => { state.viewerClosed = true; closeViewer(); };
  window.addEventListener("resize", () => { if (state.viewing) fit(); });
}

// ---------------------------------------------------------------------------------- drop zone

function setUpDrop() {
  const drop = $("#drop");
  const input = $("#files");
  input.addEventListener("change", () => { addFiles(input.files); input.value = ""; });
  drop.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") input.click(); });
  for (const type of ["dragenter", "dragover"]) {
    document.addEventListener(type, (e) => { e.preventDefault(); drop.classList.add("over"); });
  }
  for (const type of ["dragleave", "drop"]) {
    document.addEventListener(type, (e) => {
      e.preventDefault();
      if (type === "drop" || e.relatedTarget === null) drop.classList.remove("over");
    });
  }
  document.addEventListener("drop", (e) => {
    const files = [...e.dataTransfer.files];
    if (files.length) addFiles(files);
    else notice("Nothing to upscale in what was dropped: drop image files (PNG, JPEG, WebP, GIF, BMP, TIFF).");
  });
  $("#model").addEventListener("change", (e) => localStorage.setItem("gensr.model", e.target.value));
  $("#download-all").onclick = () => {
    const ids = state.items.filter((i) => i.state === "done").map((i) => i.jobId);
    const a = document.createElement("a");
    a.href = `/v1/results.zip?ids=${ids.join(",")}`;
    a.download = "gensr-results.zip";
    document.body.append(a);
    a.click();
    a.remove();
  };
  $("#clear").onclick = () => {
    for (const i of [...state.items]) if (["done", "failed", "cancelled"].includes(i.state)) removeItem(i);
  };
}

setUpDrop();
setUpViewer();
loadModels();
