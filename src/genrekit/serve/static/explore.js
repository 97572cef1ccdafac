// The Explore page of genrekit serve: maps of a feature store's clips, drawn on a canvas in plain
// JavaScript (figure.js, loaded first, draws a clip's spectrogram). GET /api/store names the clips
// and maps; each map (GET /api/store/maps/{name}) is a point per clip, with genrekit explore's
// numbers. Hover names a clip, a click shows its spectrogram (from the store) and plays its track
// when the server can read it; the legend hides and shows genres.
"use strict";

const $ = (id) => document.getElementById(id);
const view = {
  store: null, colour: null, hidden: new Set(), maps: {}, asked: {}, current: null,
  screen: [], frame: null, hover: -1, selected: -1, picture: null, image: null, layout: null, request: 0,
};

function fixed(value, digits) { return value == null ? "–" : value.toFixed(digits); }

// --- the map ---

function drawMap() {
  const data = view.maps[view.current];
  const canvas = $("map");
  const { g, width, height } = clearedCanvas(canvas);
  view.screen = [];
  if (!data) return;
  const narrow = width < 520;
  const left = 22, right = 8, top = 8, bottom = 26;
  const plotWidth = width - left - right, plotHeight = height - top - bottom;
  // The scale holds every clip, hidden or not: toggling a genre never moves the others.
  const span = (values) => {
    let low = Math.min(...values), high = Math.max(...values);
    if (high - low < 1e-9) { low -= 1; high += 1; }
    const pad = 0.04 * (high - low);
    return [low - pad, high + pad];
  };
  const [x0, x1] = span(data.x), [y0, y1] = span(data.y);
  const sx = (v) => left + ((v - x0) / (x1 - x0)) * plotWidth;
  const sy = (v) => top + (1 - (v - y0) / (y1 - y0)) * plotHeight;
  view.frame = { left, top, plotWidth, plotHeight };
  g.strokeStyle = "#d9dce1";
  g.strokeRect(left + 0.5, top + 0.5, plotWidth - 1, plotHeight - 1);
  g.fillStyle = "#666b73";
  g.font = "11px system-ui, sans-serif";
  g.textAlign = "center"; g.textBaseline = "top";
  g.fillText(data.axes[0], left + plotWidth / 2, top + plotHeight + 7);
  g.save();
  g.translate(left - 8, top + plotHeight / 2); g.rotate(-Math.PI / 2);
  g.textBaseline = "bottom";
  g.fillText(data.axes[1], 0, 0);
  g.restore();
  const clips = view.store.clips;
  const radius = narrow ? 3.2 : 4;
  let shown = 0;
  for (let k = 0; k < clips.length; k++) {
    const point = { x: sx(data.x[k]), y: sy(data.y[k]) };
    view.screen.push(point);
    if (view.hidden.has(clips[k].genre)) continue;
    shown++;
    g.beginPath();
    g.arc(point.x, point.y, radius, 0, 2 * Math.PI);
    g.fillStyle = view.colour(view.store.genres[clips[k].genre]);
    g.globalAlpha = 0.85;
    g.fill();
    g.globalAlpha = 1;
    g.lineWidth = 0.6; g.strokeStyle = "#ffffff";
    g.stroke();
  }
  for (const [k, ring] of [[view.hover, "#1d1f23"], [view.selected, "#00b8d4"]]) {
    if (k < 0 || view.hidden.has(clips[k].genre)) continue;
    const point = view.screen[k];
    g.beginPath();
    g.arc(point.x, point.y, radius + 3, 0, 2 * Math.PI);
    g.lineWidth = 2.5; g.strokeStyle = ring;
    g.stroke();
  }
  canvas.dataset.shown = String(shown);
}

// The visible clip nearest to (x, y) on the canvas, within a finger's reach, or -1.
function clipAt(x, y) {
  let best = -1, bestDistance = 14 * 14;
  view.screen.forEach((point, k) => {
    if (view.hidden.has(view.store.clips[k].genre)) return;
    const distance = (point.x - x) ** 2 + (point.y - y) ** 2;
    if (distance < bestDistance) { best = k; bestDistance = distance; }
  });
  return best;
}

function showHover(k) {
  if (k === view.hover) return;
  view.hover = k;
  const hover = $("hover");
  if (k < 0) {
    hover.hidden = true;
    delete hover.dataset.clip;
  } else {
    const clip = view.store.clips[k], point = view.screen[k];
    const genre = view.store.genres[clip.genre];
    hover.replaceChildren(el("strong", {}, visible(clip.name)), el("span", { style: `--swatch:${view.colour(genre)}` }, genre));
    hover.dataset.clip = String(clip.id);
    hover.hidden = false;
    // beside the point, on the side with room
    const box = $("map").clientWidth;
    const onLeft = point.x > box * 0.6;
    hover.style.left = `${point.x}px`;
    hover.style.top = `${point.y}px`;
    hover.classList.toggle("left", onLeft);
  }
  drawMap();
}

// --- the maps and their numbers ---

async function show(name) {
  view.current = name;
  for (const tab of $("tabs").children) tab.setAttribute("aria-selected", String(tab.dataset.map === name));
  view.hover = -1;
  $("hover").hidden = true;
  if (!view.maps[name]) {
    drawMap();
    $("map-status").textContent = "computing this map… (the first time only)";
    await load(name);
  }
  if (view.current !== name) return;
  if (view.maps[name]) $("map-status").textContent = "";
  drawMap();
  if (view.maps[name]) document.body.dataset.map = name;
}

// Asks for a map once; every caller waits for the same answer.
function load(name) {
  if (!view.asked[name]) view.asked[name] = fetchMap(name);
  return view.asked[name];
}

async function fetchMap(name) {
  view.maps[name] = null;  // asked: its numbers show "…"
  showNumbers();
  try {
    const answer = await fetch(`/api/store/maps/${encodeURIComponent(name)}`);
    const data = await answer.json();
    if (!answer.ok) throw new Error(data.detail || `HTTP ${answer.status}`);
    view.maps[name] = data;
  } catch (error) {
    delete view.maps[name];
    delete view.asked[name];  // asked again when shown again
    if (view.current === name) $("map-status").textContent = `this map could not be computed: ${error.message}`;
  }
  showNumbers();
}

function showNumbers() {
  const maps = view.store.maps;
  const row = (label, pick) => el("tr", {}, el("th", { scope: "row" }, label),
    ...maps.map((m) => {
      const s = view.maps[m.name] && view.maps[m.name].separation;
      return el("td", {}, s ? pick(s) : view.maps[m.name] === null ? "…" : "–");
    }));
  const folds = maps.map((m) => view.maps[m.name] && view.maps[m.name].separation).find((s) => s);
  $("numbers").replaceChildren(
    el("tr", {}, el("th", {}), ...maps.map((m) => el("th", { scope: "col" }, m.short))),
    row("silhouette of genres", (s) => fixed(s.silhouette, 3)),
    row("… genres shuffled", (s) => fixed(s.silhouette_shuffled, 3)),
    row(`5-NN accuracy${folds ? ` (${folds.folds}-fold)` : ""}`, (s) => `${fixed(100 * s.knn_accuracy, 1)} %`),
    row("… genres shuffled", (s) => `${fixed(100 * s.knn_accuracy_shuffled, 1)} %`),
    row("largest genre's share", (s) => `${fixed(100 * s.chance, 1)} %`));
  // A dash says nothing on its own: say why a computed map has no numbers.
  $("numbers-note").hidden = !maps.some((m) => view.maps[m.name] && !view.maps[m.name].separation);
}

function showGenres() {
  const counts = view.store.genres.map(() => 0);
  for (const clip of view.store.clips) counts[clip.genre]++;
  $("genres").replaceChildren(...view.store.genres.map((genre, i) => {
    const button = el("button", { type: "button", "aria-pressed": "true", "data-genre": genre,
      style: `--swatch:${view.colour(genre)}`, title: "hide or show this genre" }, `${genre} ${counts[i]}`);
    button.addEventListener("click", () => {
      if (view.hidden.has(i)) view.hidden.delete(i); else view.hidden.add(i);
      button.setAttribute("aria-pressed", String(!view.hidden.has(i)));
      if (view.hover >= 0 && view.hidden.has(view.store.clips[view.hover].genre)) showHover(-1);
      drawMap();
    });
    return button;
  }));
}

// --- a clip: its spectrogram and its track ---

async function select(k) {
  const clip = view.store.clips[k];
  const genre = view.store.genres[clip.genre];
  view.selected = k;
  drawMap();
  const request = ++view.request;
  $("clip-name").textContent = visible(clip.name);
  $("clip-genre").replaceChildren(el("span", { class: "swatch", style: `--swatch:${view.colour(genre)}` }, genre));
  const player = $("clip-player"), note = $("clip-note");
  player.pause();
  note.hidden = true;
  if (view.store.audio) {
    player.hidden = false;
    player.src = `/api/store/clips/${clip.id}/audio`;
    player.play().catch(() => {});  // a browser that will not autoplay leaves it to the button
  } else {
    player.hidden = true;
    player.removeAttribute("src");
    note.textContent = "Its track is not served: start genrekit serve with the data set's folder to hear the clips.";
    note.hidden = false;
  }
  const answer = await fetch(`/api/store/clips/${clip.id}/spectrogram`);
  const picture = await answer.json();
  if (request !== view.request) return;
  if (!answer.ok) {
    note.textContent = picture.detail || `HTTP ${answer.status}`;
    note.hidden = false;
    return;
  }
  view.picture = picture;
  view.image = spectrogramImage(picture);
  $("clip-figure").hidden = false;
  drawClip();
  document.body.dataset.clip = String(clip.id);
}

function drawClip() {
  if (!view.picture) return;
  view.layout = drawFigure($("clip-plot"), view.picture, view.image, { total: view.picture.seconds });
  moveCursor();
}

function moveCursor() {
  if (view.layout) placeCursor($("clip-cursor"), view.layout, $("clip-player").currentTime);
}

function follow() {
  moveCursor();
  if (!$("clip-player").paused) requestAnimationFrame(follow);
}

// --- wiring ---

async function start() {
  const answer = await fetch("/api/store");
  if (!answer.ok) {
    $("explore").hidden = true;
    $("no-store").hidden = false;
    document.body.dataset.ready = "true";
    return;
  }
  const store = view.store = await answer.json();
  view.colour = colourOfGenre(store.genres);
  $("store-name").textContent = store.store;
  $("store-info").textContent = `${store.clips.length} of its ${store.clips_in_store} clips` +
    ` (at most ${store.per_genre} a genre) in ${store.genres.length} genres;` +
    ` images compared on their first ${store.seconds_compared} s`;
  $("tabs").replaceChildren(...store.maps.map((m) => {
    const tab = el("button", { type: "button", role: "tab", "data-map": m.name, "aria-selected": "false" }, m.title);
    tab.addEventListener("click", () => show(m.name));
    return tab;
  }));
  showGenres();
  showNumbers();
  const canvas = $("map");
  canvas.addEventListener("mousemove", (event) => showHover(clipAt(event.offsetX, event.offsetY)));
  canvas.addEventListener("mouseleave", () => showHover(-1));
  canvas.addEventListener("click", (event) => {
    const k = clipAt(event.offsetX, event.offsetY);
    if (k >= 0) { showHover(k); select(k); }
  });
  const player = $("clip-player");
  player.addEventListener("play", follow);
  for (const event of ["seeked", "timeupdate", "loadedmetadata"]) player.addEventListener(event, moveCursor);
  player.addEventListener("error", () => {
    if (!player.getAttribute("src")) return;
    $("clip-note").textContent = "Its track could not be played (not found in the served folders).";
    $("clip-note").hidden = false;
  });
  $("clip-plot").addEventListener("click", (event) => {
    const layout = view.layout;
    if (!layout || !Number.isFinite(player.duration)) return;
    const where = (event.offsetX - layout.left) / layout.plotWidth;
    if (where >= 0 && where <= 1) player.currentTime = where * Math.min(layout.total, player.duration);
  });
  window.addEventListener("resize", () => { drawMap(); drawClip(); });
  document.body.dataset.ready = "true";
  await show(store.maps[0].name);
  for (const m of store.maps.slice(1)) await load(m.name);  // the others' numbers, in turn
}

// Where clip ``k`` is drawn, in the page's coordinates (for tests and screenshots).
window.explore = {
  pointOnPage(k) {
    const box = $("map").getBoundingClientRect(), point = view.screen[k];
    return { x: box.left + window.scrollX + point.x, y: box.top + window.scrollY + point.y };
  },
  clipIndex(id) { return view.store.clips.findIndex((c) => c.id === id); },
};

start();
