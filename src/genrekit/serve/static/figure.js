// What both pages of genrekit serve draw: a genre's colour, and a mel-spectrogram (bytes of dB)
// on a canvas with its axes, colour bar and, under it on the same time axis, a segment timeline.
// Plain JavaScript, no library; loaded before each page's own script.
"use strict";

// matplotlib's magma, 256 colours (as genrekit's PNGs use it): 6 hex digits each.
const MAGMA = "00000300000400000601000701010901010b02020d02020f03031104031304041505041706051907051b08061d09071f0a07220b08240c09260d0a280e0a2a0f0b2c100c2f110c31120d33140d35150e38160e3a170f3c180f3f1a10411b10441c10461e10491f114b20114d2211502311522511552611572811592a115c2b115e2d10602f1062301065321067341068350f6a370f6c390f6e3b0f6f3c0f713e0f72400f73420f74430f75450f76470f774810784a10794b10794d117a4f117b50127b52127c53137c55137d57147d58157e5a157e5b167e5d177e5e177f60187f61187f63197f651a80661a80681b80691c806b1c806c1d806e1e816f1e81711f81731f817420817621817721817922817a22817c23817e24817f24818125818225818426818526818727818928818a28818c29808d29808f2a80912a80922b80942b80952c80972c7f992d7f9a2d7f9c2e7f9e2e7e9f2f7ea12f7ea3307ea4307da6317da7317da9327cab337cac337bae347bb0347bb1357ab3357ab53679b63679b83778b93778bb3877bd3977be3976c03a75c23a75c33b74c53c74c63c73c83d72ca3e72cb3e71cd3f70ce4070d0416fd1426ed3426dd4436dd6446cd7456bd9466ada4769dc4869dd4968de4a67e04b66e14c66e24d65e44e64e55063e65162e75262e85461ea5560eb5660ec585fed595fee5b5eee5d5def5e5df0605df1615cf2635cf3655cf3675bf4685bf56a5bf56c5bf66e5bf6705bf7715bf7735cf8755cf8775cf9795cf97b5df97d5dfa7f5efa805efa825ffb8460fb8660fb8861fb8a62fc8c63fc8e63fc9064fc9265fc9366fd9567fd9768fd9969fd9b6afd9d6bfd9f6cfda16efda26ffda470fea671fea873feaa74feac75feae76feaf78feb179feb37bfeb57cfeb77dfeb97ffebb80febc82febe83fec085fec286fec488fec689fec78bfec98dfecb8efdcd90fdcf92fdd193fdd295fdd497fdd698fdd89afdda9cfddc9dfddd9ffddfa1fde1a3fce3a5fce5a6fce6a8fce8aafceaacfcecaefceeb0fcf0b1fcf1b3fcf3b5fcf5b7fbf7b9fbf9bbfbfabdfbfcbf";
const LUT = new Uint8Array(768);
for (let i = 0; i < 768; i++) LUT[i] = parseInt(MAGMA.substr(2 * i, 2), 16);
// A colour per genre of the shipped models (the same in every answer), then others in turn.
const KNOWN_COLOURS = { blues: "#1f77b4", classical: "#2ca02c", country: "#bcbd22", disco: "#e377c2",
  hiphop: "#ff7f0e", jazz: "#17becf", metal: "#6a1b9a", pop: "#f06292", reggae: "#8bc34a",
  rock: "#d62728", electronic: "#3949ab", folk: "#8c564b", punk: "#ff5722", ambient: "#4db6ac" };
const GENRE_COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
  "#bcbd22", "#17becf", "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5"];
const NO_GENRE_COLOUR = "#d0d3d8";

// A genre's colour: the shipped models' genres always the same, others in turn among ``genres``.
function colourOfGenre(genres) {
  return (genre) => (!genre ? NO_GENRE_COLOUR
    : KNOWN_COLOURS[genre.toLowerCase()] || GENRE_COLOURS[genres.indexOf(genre) % GENRE_COLOURS.length]);
}

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (key === "style") node.style.cssText = value; else node.setAttribute(key, value);
  }
  for (const child of children) node.append(child);  // text is always text, never HTML
  return node;
}

// A name from outside as the CLI's table shows it: a character that would act or hide rather
// than show (ESC, a newline, a right-to-left override, a zero-width space) is written as \x1b,
// \u202e, so "evil\u202egpj.mp3" cannot pass for another name. The JSON keeps the true name.
function visible(text) {
  return String(text).replace(/[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/gu, (c) => {
    const code = c.codePointAt(0);
    return code < 0x100 ? `\\x${code.toString(16).padStart(2, "0")}` : `\\u${code.toString(16).padStart(4, "0")}`;
  });
}

function percent(p) { return `${Math.round(100 * p)} %`; }

function clock(seconds, long) {
  if (!long) return `${Math.round(seconds * 10) / 10}`;
  const s = Math.round(seconds);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

function spectrogramImage(picture) {
  const bytes = Uint8Array.from(atob(picture.data), (c) => c.charCodeAt(0));
  const { n_mels: rows, columns } = picture;
  const canvas = document.createElement("canvas");
  canvas.width = columns;
  canvas.height = rows;
  const context = canvas.getContext("2d");
  const image = context.createImageData(columns, rows);
  for (let band = 0; band < rows; band++) {
    const y = rows - 1 - band;  // the lowest band at the bottom
    for (let x = 0; x < columns; x++) {
      const v = bytes[band * columns + x] * 3;
      const o = (y * columns + x) * 4;
      image.data[o] = LUT[v]; image.data[o + 1] = LUT[v + 1]; image.data[o + 2] = LUT[v + 2]; image.data[o + 3] = 255;
    }
  }
  context.putImageData(image, 0, 0);
  return canvas;
}

function niceStep(span, most) {
  for (const step of [0.5, 1, 2, 5, 10, 15, 20, 30, 60, 120, 300, 600]) if (span / step <= most) return step;
  return 1200;
}

// The canvas sized to its box in device pixels, cleared; drawn on in CSS pixels (sharp on
// high-density screens). Both pages draw through it.
function clearedCanvas(canvas) {
  const ratio = window.devicePixelRatio || 1;
  const width = canvas.clientWidth, height = canvas.clientHeight;
  canvas.width = Math.round(width * ratio);
  canvas.height = Math.round(height * ratio);
  const g = canvas.getContext("2d");
  g.setTransform(ratio, 0, 0, ratio, 0, 0);
  g.clearRect(0, 0, width, height);
  return { g, width, height };
}

// Draws the spectrogram ``picture`` (its painted ``image``) over ``total`` seconds, with the
// timeline of ``segments`` under it when given (``colour`` names a segment's genre colour).
// Returns where the plot is, for a cursor: { left, plotWidth, top, height, total }.
function drawFigure(canvas, picture, image, { total, segments = null, colour = null }) {
  const { g, width, height } = clearedCanvas(canvas);
  const narrow = width < 520;
  const left = 40, right = narrow ? 50 : 62, top = 6, bottom = 36;
  const timelineHeight = segments ? 24 : 0, gap = segments ? 6 : 0;
  const plotWidth = Math.max(40, width - left - right);
  const specHeight = height - top - bottom - gap - timelineHeight;
  const x = (t) => left + (t / total) * plotWidth;
  const layout = { left, plotWidth, top, height: specHeight + gap + timelineHeight, total };
  g.font = "11px system-ui, sans-serif";
  g.fillStyle = "#1d1f23";
  g.strokeStyle = "#1d1f23";
  // the spectrogram, over the seconds it covers
  g.imageSmoothingEnabled = true;
  g.drawImage(image, left, top, x(picture.seconds) - left, specHeight);
  g.strokeRect(left - 0.5, top - 0.5, plotWidth + 1, specHeight + 1);
  // frequency axis: round Hz values on the mel scale
  g.textAlign = "right"; g.textBaseline = "middle";
  for (const tick of picture.ticks) {
    const y = top + specHeight - ((tick.band + 0.5) / picture.n_mels) * specHeight;
    g.fillRect(left - 4, Math.round(y), 4, 1);
    g.fillText(tick.label, left - 6, y);
  }
  g.save();
  g.translate(10, top + specHeight / 2); g.rotate(-Math.PI / 2); g.textAlign = "center";
  g.fillText("Hz (mel scale)", 0, 0);
  g.restore();
  // colour bar: dB
  const barX = left + plotWidth + 8, barWidth = 10;
  for (let i = 0; i < specHeight; i++) {
    const v = Math.round(255 * (1 - i / (specHeight - 1))) * 3;
    g.fillStyle = `rgb(${LUT[v]},${LUT[v + 1]},${LUT[v + 2]})`;
    g.fillRect(barX, top + i, barWidth, 1);
  }
  g.fillStyle = "#1d1f23"; g.textAlign = "left";
  const span = picture.db_max - picture.db_min;
  for (let db = picture.db_max; db >= picture.db_min; db -= 20) {
    const y = top + ((picture.db_max - db) / span) * (specHeight - 1);
    g.fillRect(barX + barWidth, Math.round(y), 3, 1);
    g.fillText(db === picture.db_max ? `${db} dB` : `${db}`, barX + barWidth + 5, y);
  }
  // the timeline, on the same time axis
  const lineTop = top + specHeight + gap;
  for (const segment of segments || []) {
    const x0 = x(segment.start), x1 = x(segment.end);
    g.fillStyle = colour(segment.genre);
    g.fillRect(x0, lineTop, Math.max(1, x1 - x0 - 1), timelineHeight);
    const label = segment.genre || (segment.reason ? segment.reason.split(":")[0] : "silence");
    if (g.measureText(label).width + 6 < x1 - x0) {
      g.fillStyle = segment.genre ? "#ffffff" : "#1d1f23";
      g.textAlign = "center"; g.textBaseline = "middle";
      g.fillText(label, (x0 + x1) / 2, lineTop + timelineHeight / 2);
    }
  }
  g.fillStyle = "#1d1f23";
  if (segments) {
    g.textAlign = "right"; g.textBaseline = "middle";
    g.fillText("genre", left - 6, lineTop + timelineHeight / 2);
  }
  // time axis
  const long = total >= 120;
  const step = niceStep(total, Math.max(2, Math.floor(plotWidth / (narrow ? 46 : 64))));
  g.textAlign = "center"; g.textBaseline = "top";
  const axisY = lineTop + timelineHeight;
  for (let t = 0; t <= total + 1e-9; t += step) {
    g.fillRect(Math.round(x(t)), axisY, 1, 4);
    g.fillText(clock(t, long), x(t), axisY + 6);
  }
  g.textAlign = "right";
  g.fillText(long ? "time (m:ss)" : "time (s)", left + plotWidth, axisY + 20);
  return layout;
}

// Puts ``cursor`` (an element over the canvas) at ``seconds`` of a drawn figure's ``layout``.
function placeCursor(cursor, layout, seconds) {
  const t = Math.min(seconds || 0, layout.total);
  cursor.style.left = `${layout.left + (t / layout.total) * layout.plotWidth}px`;
  cursor.style.height = `${layout.height}px`;
  cursor.dataset.seconds = t.toFixed(3);
  cursor.hidden = false;
}
