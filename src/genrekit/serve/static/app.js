// The Classify page of genrekit serve: plain JavaScript, no library, no network beyond this server
// (figure.js, loaded first, draws the spectrogram).
// A file dropped or chosen is uploaded to POST /api/classify; a track of the served folder is
// classified by GET /api/tracks/{name}/classify. The answer's spectrogram (bytes of dB) is painted
// on a canvas with its axes, colour bar and the segment timeline under it, all on one time axis;
// the audio player's position moves a cursor over both.
"use strict";

const $ = (id) => document.getElementById(id);
const state = { record: null, picture: null, image: null, layout: null, request: 0 };

// --- asking the server ---

async function classifyUpload(file) {
  const form = new FormData();
  form.append("file", file, file.name);
  for (const flag of ["segments", "tags", "spectrogram"]) form.append(flag, "true");
  showTrack(file.name, URL.createObjectURL(file));
  await ask(fetch("/api/classify", { method: "POST", body: form }), file.name);
}

function trackUrl(name, action) {
  return `/api/tracks/${name.split("/").map(encodeURIComponent).join("/")}/${action}`;
}

async function classifyTrack(name) {
  showTrack(name, trackUrl(name, "audio"));
  const query = "?segments=true&tags=true&spectrogram=true";
  await ask(fetch(trackUrl(name, "classify") + query), name);
}

async function ask(pending, name) {
  const request = ++state.request;
  const started = performance.now();
  let answer, data;
  try {
    answer = await pending;
    data = await answer.json();
  } catch (error) {
    if (request === state.request) showError(`${visible(name)}: the server did not answer (${error.message})`);
    return;
  }
  if (request !== state.request) return;  // another track was chosen meanwhile
  const seconds = (performance.now() - started) / 1000;
  document.body.dataset.answeredIn = seconds.toFixed(3);
  if (data && data.status) {
    showRecord(data, answer.status, seconds);
  } else {
    const retry = answer.headers.get("Retry-After");
    showError((data && data.detail ? data.detail : `HTTP ${answer.status}`) + (retry ? ` (retry in ${retry} s)` : ""));
  }
}

// --- showing an answer ---

function showTrack(name, audioUrl) {
  $("welcome").hidden = true;
  $("result").hidden = false;
  $("details").hidden = false;
  $("name").textContent = visible(name);
  $("answer").replaceChildren("classifying…");
  $("error").hidden = true;
  $("timing").textContent = "";
  $("figure").hidden = true;
  $("legend").replaceChildren();
  $("bars").replaceChildren();
  $("tags").replaceChildren();
  document.body.dataset.state = "busy";
  const player = $("player");
  if (player.dataset.url && player.dataset.url.startsWith("blob:")) URL.revokeObjectURL(player.dataset.url);
  player.dataset.url = audioUrl;
  player.src = audioUrl;
  state.record = state.picture = state.image = null;
}

function showError(message) {
  $("answer").replaceChildren();
  $("error").textContent = message;
  $("error").hidden = false;
  $("details").hidden = true;
  $("player").pause();
  document.body.dataset.state = "error";
}

function showRecord(record, status, seconds) {
  state.record = record;
  $("timing").textContent = `answered in ${seconds.toFixed(2)} s` +
    (record.seconds == null ? "" : record.seconds >= 120 ? ` · ${clock(record.seconds, true)} of audio`
      : ` · ${clock(record.seconds, false)} s of audio`);
  if (record.status === "failed") {
    showError(`cannot classify: ${record.reason}`);
    return;
  }
  const top = Object.entries(record.probabilities)[0];
  if (record.genre) {
    $("answer").replaceChildren(el("span", { class: "genre", id: "top-genre" }, record.genre), ` ${percent(top[1])}`);
  } else {
    $("answer").replaceChildren(el("span", { class: "genre none", id: "top-genre" }, "unknown"), ` ${record.reason}`);
  }
  if (record.damage) $("answer").append(el("div", { class: "muted" }, `damaged (${record.damage}); classified from what decoded`));
  showBars(record);
  showTags(record);
  if (record.spectrogram) {
    state.picture = record.spectrogram;
    state.image = spectrogramImage(record.spectrogram);
    $("figure").hidden = false;
    draw();
  }
  showLegend(record);
  document.body.dataset.state = "done";
}

function genreColour(record) {
  return colourOfGenre(Object.keys(record.probabilities).sort());
}

function showBars(record) {
  const bars = Object.entries(record.probabilities).map(([genre, p], i) =>
    el("li", { class: i === 0 && record.genre ? "top" : "", "data-genre": genre },
      el("span", {}, genre),
      el("span", { class: "track" }, el("span", { class: "fill", style: `display:block;width:${(100 * p).toFixed(1)}%` })),
      el("span", { class: "value" }, percent(p))));
  // A silent track is never given to the model: say so, not an empty list under the heading.
  $("bars").replaceChildren(...(bars.length ? bars
    : [el("li", { class: "muted none" }, `none: not classified (${record.reason || "no audio"})`)]));
}

function showTags(record) {
  const taggers = Object.entries(record.tags || {});
  $("tags").replaceChildren(...(taggers.length ? taggers.map(([tagger, tags]) =>
    el("div", { class: "tagger" }, el("h4", {}, tagger),
      ...(tags.length ? tags.map((t) => el("span", { class: "chip" }, `${t.tag} ${percent(t.probability)}`)) : ["none"])))
    : [el("p", { class: "muted" }, "no tags")]));
}

function showLegend(record) {
  const colour = genreColour(record);
  const seen = [...new Set((record.segments || []).map((s) => s.genre || ""))];
  $("legend").replaceChildren(...seen.map((genre) =>
    el("span", { style: `--swatch:${colour(genre)}` }, genre || "no genre")));
}

// --- the figure: spectrogram, axes, colour bar, timeline ---

function draw() {
  const picture = state.picture, record = state.record;
  if (!picture || !record) return;
  state.layout = drawFigure($("plot"), picture, state.image, {
    total: Math.max(record.seconds || picture.seconds, picture.seconds),
    segments: record.segments || [],
    colour: genreColour(record),
  });
  moveCursor();
}

// --- the cursor: where the player is ---

function moveCursor() {
  const layout = state.layout;
  if (!layout || $("figure").hidden) return;
  placeCursor($("cursor"), layout, $("player").currentTime);
}

function follow() {
  moveCursor();
  if (!$("player").paused) requestAnimationFrame(follow);
}

// --- the folder's tracks ---

let searchTimer = 0;
async function listTracks() {
  const q = $("search").value;
  const answer = await fetch(`/api/tracks?q=${encodeURIComponent(q)}`);
  if (!answer.ok) return;
  const found = await answer.json();
  $("count").textContent = found.total === found.tracks.length
    ? `${found.total} track${found.total === 1 ? "" : "s"}` : `${found.tracks.length} of ${found.total} tracks`;
  $("tracks").replaceChildren(...found.tracks.map((name) => {
    const button = el("button", { type: "button", "data-name": name }, visible(name));
    button.addEventListener("click", () => {
      for (const other of $("tracks").querySelectorAll("button")) other.removeAttribute("aria-current");
      button.setAttribute("aria-current", "true");
      classifyTrack(name);
    });
    return el("li", {}, button);
  }));
}

// --- wiring ---

async function start() {
  const player = $("player");
  player.addEventListener("play", follow);
  for (const event of ["seeked", "timeupdate", "loadedmetadata"]) player.addEventListener(event, moveCursor);
  $("plot").addEventListener("click", (event) => {
    const layout = state.layout;
    if (!layout) return;
    const where = (event.offsetX - layout.left) / layout.plotWidth;
    if (where >= 0 && where <= 1 && Number.isFinite(player.duration)) player.currentTime = where * Math.min(layout.total, player.duration);
  });
  window.addEventListener("resize", draw);
  $("file").addEventListener("change", () => { if ($("file").files.length) classifyUpload($("file").files[0]); });
  const drop = $("drop");
  drop.addEventListener("dragover", (event) => { event.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    drop.classList.remove("over");
    if (event.dataTransfer.files.length) classifyUpload(event.dataTransfer.files[0]);
  });
  drop.addEventListener("keydown", (event) => { if (event.key === "Enter" || event.key === " ") $("file").click(); });
  const health = await (await fetch("/api/health")).json();
  $("model").textContent = `model ${health.model}`;
  $("cap").textContent = `${Math.round(health.max_upload_bytes / 1048576)} MB`;
  if (health.folder) {
    $("folder").hidden = false;
    $("search").addEventListener("input", () => { clearTimeout(searchTimer); searchTimer = setTimeout(listTracks, 150); });
    await listTracks();
  }
  document.body.dataset.ready = "true";
}

start();
