// The web page: plain JavaScript shipped in the package (no CDN, no build step, works
// offline). Every view calls the JSON API of the same server; plotly.js (the projector) is
// served from the installed plotly package and loaded only when the projector opens.
"use strict";

const $ = (id) => document.getElementById(id);
const state = { spaces: [], filters: [], map: null, recommenders: [], plotly: null };

// ------------------------------------------------------------------ helpers
function escapeHtml(text) {
  const node = document.createElement("span");
  node.textContent = text === null || text === undefined ? "" : String(text);
  return node.innerHTML;
}

function token() {
  return localStorage.getItem("embedspace-token") || "";
}

async function api(path, options = {}) {
  const headers = Object.assign({}, options.headers || {});
  if (token()) headers.Authorization = `Bearer ${token()}`;
  const response = await fetch(path, Object.assign({}, options, { headers }));
  let body = null;
  try {
    body = await response.json();
  } catch (_) {
    body = null;
  }
  if (!response.ok) {
    if (response.status === 401) $("token-bar").hidden = false;
    const message = body && body.error ? body.error.message : `${response.status} ${response.statusText}`;
    throw new Error(message);
  }
  return body;
}

const postJson = (path, data) =>
  api(path, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(data) });

function space() {
  return $("space").value;
}

function spacePath(suffix) {
  return `/spaces/${encodeURIComponent(space())}${suffix}`;
}

function setStatus(id, text, isError = false) {
  const node = $(id);
  node.textContent = text;
  node.classList.toggle("error", isError);
}

function scoreBar(score) {
  const width = Math.max(0, Math.min(1, score)) * 100;
  return `<span class="score" title="score ${score}"><span class="bar"><span style="width:${width.toFixed(1)}%"></span></span>${score.toFixed(3)}</span>`;
}

function tags(metadata, clickable) {
  return Object.entries(metadata || {})
    .filter(([key]) => !key.startsWith("_"))
    .map(([key, value]) => {
      const text = `${key}=${typeof value === "object" ? JSON.stringify(value) : value}`;
      const attrs = clickable ? ` data-filter="${escapeHtml(text)}" title="Filter by ${escapeHtml(text)}"` : "";
      return `<span class="tag"${attrs}>${escapeHtml(text)}</span>`;
    })
    .join("");
}

function matchItem(match, rank, options = {}) {
  const similar = options.similar ? `<button class="ghost small-button" data-similar="${escapeHtml(match.id)}">Similar</button>` : "";
  return `<li class="result" data-id="${escapeHtml(match.id)}">
    <span class="rank">${rank}</span>
    <div class="body">
      <div class="content">${escapeHtml(match.content)}</div>
      <div class="meta"><span class="id">${escapeHtml(match.id)}</span>${tags(match.metadata, options.filterable)}${similar}</div>
      <ol class="neighbours results compact"></ol>
    </div>
    ${scoreBar(match.score)}
  </li>`;
}

function timed(started) {
  return `${Math.round(performance.now() - started)} ms`;
}

// ------------------------------------------------------------------ tabs and spaces
function showPanel(name) {
  document.querySelectorAll(".tabs button").forEach((b) => b.classList.toggle("active", b.dataset.panel === name));
  document.querySelectorAll(".panel").forEach((p) => p.classList.toggle("active", p.id === `panel-${name}`));
  if (location.hash !== `#${name}`) history.replaceState(null, "", `#${name}`);
  if (name === "heatmap" && !$("heat-model").options.length) loadModels();
  if (name === "recommend" && !state.recommenders.length) loadRecommenders();
}

document.querySelectorAll(".tabs button").forEach((button) =>
  button.addEventListener("click", () => showPanel(button.dataset.panel)));

async function loadSpaces() {
  try {
    const { spaces } = await api("/spaces");
    state.spaces = spaces;
    $("space").innerHTML = spaces.length
      ? spaces.map((s) => `<option value="${escapeHtml(s.name)}">${escapeHtml(s.name)}</option>`).join("")
      : `<option value="">(no spaces)</option>`;
    const remembered = localStorage.getItem("embedspace-space");
    if (spaces.some((s) => s.name === remembered)) $("space").value = remembered;
    showSpaceInfo();
  } catch (error) {
    $("space-info").textContent = error.message;
  }
}

function showSpaceInfo() {
  const chosen = state.spaces.find((s) => s.name === space());
  $("space-info").textContent = chosen
    ? `${chosen.count.toLocaleString()} items · ${chosen.encoder} · ${chosen.dim}-d ${chosen.metric}`
    : "";
}

$("space").addEventListener("change", () => {
  localStorage.setItem("embedspace-space", space());
  showSpaceInfo();
  state.map = null;
  $("map-color").innerHTML = `<option value="">(nothing)</option>`;
});

$("token-button").addEventListener("click", () => {
  $("token-bar").hidden = !$("token-bar").hidden;
  $("token").value = token();
});

$("token-form").addEventListener("submit", (event) => {
  event.preventDefault();
  localStorage.setItem("embedspace-token", $("token").value.trim());
  $("token-bar").hidden = true;
  loadSpaces();
});

// ------------------------------------------------------------------ search
function renderFilters() {
  $("filters").innerHTML = state.filters
    .map((f, i) => `<span class="chip">${escapeHtml(f)}<button type="button" data-remove="${i}" aria-label="Remove ${escapeHtml(f)}">×</button></span>`)
    .join("");
}

function addFilter(text) {
  const condition = text.trim();
  if (condition && !state.filters.includes(condition)) state.filters.push(condition);
  renderFilters();
}

$("filter-input").addEventListener("keydown", (event) => {
  if (event.key !== "Enter") return;
  event.preventDefault();
  event.target.value.split(",").forEach(addFilter);
  event.target.value = "";
  if ($("query").value.trim()) runSearch();
});

$("filters").addEventListener("click", (event) => {
  const index = event.target.dataset.remove;
  if (index === undefined) return;
  state.filters.splice(Number(index), 1);
  renderFilters();
  if ($("query").value.trim()) runSearch();
});

async function runSearch() {
  const q = $("query").value.trim();
  if (!space() || !q) return;
  const params = new URLSearchParams({ q, k: $("k").value || "10", mode: $("mode").value || "dense" });
  state.filters.forEach((f) => params.append("where", f));
  const started = performance.now();
  setStatus("search-status", "Searching…");
  try {
    const { matches } = await api(`${spacePath("/search")}?${params}`);
    $("results").innerHTML = matches.map((m, i) => matchItem(m, i + 1, { similar: true, filterable: true })).join("");
    setStatus("search-status", matches.length ? `${matches.length} results in ${timed(started)}` : "Nothing matched.");
  } catch (error) {
    $("results").innerHTML = "";
    setStatus("search-status", error.message, true);
  }
}

$("search-form").addEventListener("submit", (event) => {
  event.preventDefault();
  runSearch();
});

$("results").addEventListener("click", async (event) => {
  const filter = event.target.dataset.filter;
  if (filter) {
    addFilter(filter);
    runSearch();
    return;
  }
  const id = event.target.dataset.similar;
  if (!id) return;
  const list = event.target.closest(".result").querySelector(".neighbours");
  if (list.innerHTML) {
    list.innerHTML = "";
    return;
  }
  try {
    const { matches } = await api(`${spacePath(`/similar/${encodeURIComponent(id)}`)}?k=5`);
    list.innerHTML = matches.map((m, i) => matchItem(m, i + 1)).join("");
  } catch (error) {
    list.innerHTML = `<li class="error">${escapeHtml(error.message)}</li>`;
  }
});

// ------------------------------------------------------------------ image search
async function searchImage(file) {
  if (!file) return;
  if (!file.type.startsWith("image/")) {
    setStatus("image-status", `${file.name} is not an image.`, true);
    return;
  }
  const preview = $("image-preview");
  preview.src = URL.createObjectURL(file);
  preview.hidden = false;
  const form = new FormData();
  form.append("image", file, file.name);
  const started = performance.now();
  setStatus("image-status", `Searching with ${file.name}…`);
  try {
    const { matches } = await api(`${spacePath("/search/image")}?k=${$("image-k").value || 10}`, { method: "POST", body: form });
    $("image-results").innerHTML = matches.map((m, i) => matchItem(m, i + 1)).join("");
    setStatus("image-status", `${matches.length} results for ${file.name} in ${timed(started)}`);
  } catch (error) {
    $("image-results").innerHTML = "";
    setStatus("image-status", error.message, true);
  }
}

$("image-file").addEventListener("change", (event) => searchImage(event.target.files[0]));

// ------------------------------------------------------------------ sound search
function songItem(song, rank) {
  return `<li class="result" data-id="${escapeHtml(song.id)}">
    <span class="rank">${rank}</span>
    <div class="body">
      <div class="content">${escapeHtml(song.id)}</div>
      <div class="meta">starts at <span class="offset">${song.offset_s.toFixed(2)}</span> s · ${song.score} matching landmarks</div>
    </div>
    ${scoreBar(song.confidence)}
  </li>`;
}

async function searchSound(file) {
  if (!file) return;
  const form = new FormData();
  form.append("audio", file, file.name);
  const started = performance.now();
  setStatus("sound-status", `Listening to ${file.name}…`);
  try {
    const found = await api(`${spacePath("/search/audio")}?k=${$("sound-k").value || 5}`, { method: "POST", body: form });
    if (found.songs) {
      $("sound-results").innerHTML = found.songs.map((s, i) => songItem(s, i + 1)).join("");
      setStatus("sound-status", found.songs.length
        ? `${file.name} is ${found.songs[0].id} (${timed(started)})`
        : `No match: no song in this space agrees with ${file.name} well enough.`);
    } else {
      $("sound-results").innerHTML = found.matches.map((m, i) => matchItem(m, i + 1)).join("");
      setStatus("sound-status", `${found.matches.length} results for ${file.name} in ${timed(started)}`);
    }
  } catch (error) {
    $("sound-results").innerHTML = "";
    setStatus("sound-status", error.message, true);
  }
}

$("sound-file").addEventListener("change", (event) => searchSound(event.target.files[0]));
const dropzone = $("dropzone");
["dragenter", "dragover"].forEach((name) =>
  dropzone.addEventListener(name, (event) => {
    event.preventDefault();
    dropzone.classList.add("over");
  }));
["dragleave", "drop"].forEach((name) =>
  dropzone.addEventListener(name, (event) => {
    event.preventDefault();
    dropzone.classList.remove("over");
  }));
dropzone.addEventListener("drop", (event) => searchImage(event.dataTransfer.files[0]));

// ------------------------------------------------------------------ heatmap
async function loadModels() {
  try {
    const { data } = await api("/v1/models");
    $("heat-model").innerHTML = data.map((m) => `<option>${escapeHtml(m.id)}</option>`).join("");
  } catch (error) {
    setStatus("heat-status", error.message, true);
  }
}

function heatColour(score) {
  const s = Math.max(0, Math.min(1, score));
  return `hsl(${235 - 40 * s}, ${55 + 30 * s}%, ${97 - 55 * s}%)`;
}

function renderHeatmap(texts, scores) {
  const short = (t) => (t.length > 38 ? `${t.slice(0, 37)}…` : t);
  const head = texts.map((t, j) => `<th class="col" title="${escapeHtml(t)}"><span>${j + 1}</span></th>`).join("");
  const rows = texts.map((t, i) => {
    const cells = scores[i].map((s, j) => {
      const dark = s > 0.6 ? " dark" : "";
      const title = `${escapeHtml(texts[i])}\n${escapeHtml(texts[j])}\ncosine ${s.toFixed(3)}`;
      return `<td class="cell${dark}" style="background:${heatColour(s)}" title="${title}">${s.toFixed(2)}</td>`;
    }).join("");
    return `<tr><th class="row-label" title="${escapeHtml(t)}"><span class="n">${i + 1}</span>${escapeHtml(short(t))}</th>${cells}</tr>`;
  }).join("");
  let best = null;
  for (let i = 0; i < texts.length; i++)
    for (let j = i + 1; j < texts.length; j++)
      if (!best || scores[i][j] > best.score) best = { i, j, score: scores[i][j] };
  const summary = best
    ? `<p class="muted">Most alike: <b>${best.i + 1}</b> and <b>${best.j + 1}</b> (${best.score.toFixed(3)})</p>`
    : "";
  $("heatmap").innerHTML = `<table><thead><tr><th></th>${head}</tr></thead><tbody>${rows}</tbody></table>${summary}`;
}

$("heat-run").addEventListener("click", async () => {
  const texts = $("heat-texts").value.split("\n").map((t) => t.trim()).filter(Boolean);
  const started = performance.now();
  setStatus("heat-status", "Embedding…");
  try {
    const body = await postJson("/heatmap", { texts, model: $("heat-model").value || null });
    renderHeatmap(body.texts, body.scores);
    setStatus("heat-status", `${texts.length} sentences, ${body.model}, cosine, in ${timed(started)}`);
  } catch (error) {
    $("heatmap").innerHTML = "";
    setStatus("heat-status", error.message, true);
  }
});

// ------------------------------------------------------------------ projector
function loadPlotly() {
  if (window.Plotly) return Promise.resolve(window.Plotly);
  if (!state.plotly) {
    state.plotly = new Promise((resolve, reject) => {
      const script = document.createElement("script");
      script.src = "/static/vendor/plotly.min.js";
      script.onload = () => resolve(window.Plotly);
      script.onerror = () => {
        state.plotly = null;
        reject(new Error("plotly.js is not installed on the server: pip install 'embedspace[plot]' for the projector."));
      };
      document.head.appendChild(script);
    });
  }
  return state.plotly;
}

const PALETTE = ["#4f46e5", "#06b6d4", "#f59e0b", "#10b981", "#ef4444", "#8b5cf6", "#ec4899", "#14b8a6", "#84cc16", "#f97316", "#64748b", "#0ea5e9"];

function traces(map) {
  const dims = map.dims;
  const groups = new Map();
  map.ids.forEach((id, i) => {
    const key = map.colors ? map.colors[i] : "items";
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key).push(i);
  });
  const keys = [...groups.keys()].sort();
  const type = dims === 3 ? "scatter3d" : map.ids.length > 5000 ? "scattergl" : "scatter";
  return keys.map((key, g) => {
    const rows = groups.get(key);
    const trace = {
      type,
      mode: "markers",
      name: key,
      x: rows.map((i) => map.coordinates[i][0]),
      y: rows.map((i) => map.coordinates[i][1]),
      customdata: rows.map((i) => map.ids[i]),
      text: rows.map((i) => `<b>${escapeHtml(map.ids[i])}</b><br>${escapeHtml(map.texts[i]).replace(/(.{60}\S*)\s/g, "$1<br>")}`),
      hovertemplate: "%{text}<extra>%{fullData.name}</extra>",
      marker: { size: dims === 3 ? 3.5 : 8, color: PALETTE[g % PALETTE.length], opacity: 0.85, line: { width: 0 } },
    };
    if (dims === 3) trace.z = rows.map((i) => map.coordinates[i][2]);
    return trace;
  });
}

async function drawMap() {
  if (!space()) return;
  const params = new URLSearchParams({
    dims: $("map-dims").value,
    method: $("map-method").value,
    limit: $("map-limit").value || "2000",
  });
  if ($("map-color").value) params.set("color", $("map-color").value);
  const started = performance.now();
  setStatus("map-status", `Projecting with ${$("map-method").value.toUpperCase()}…`);
  try {
    const [Plotly, map] = await Promise.all([loadPlotly(), api(`${spacePath("/map")}?${params}`)]);
    state.map = map;
    const chosen = $("map-color").value;
    $("map-color").innerHTML = `<option value="">(nothing)</option>` +
      map.fields.filter((f) => !f.startsWith("_")).map((f) => `<option${f === chosen ? " selected" : ""}>${escapeHtml(f)}</option>`).join("");
    const axis = { zeroline: false, showgrid: true, gridcolor: "rgba(127,127,127,0.15)", showticklabels: false, title: { text: "" } };
    const layout = {
      margin: { l: 10, r: 10, t: 10, b: 10 },
      paper_bgcolor: "rgba(0,0,0,0)",
      plot_bgcolor: "rgba(0,0,0,0)",
      hovermode: "closest",
      showlegend: Boolean(map.colors),
      legend: { orientation: "h", y: -0.02, itemsizing: "constant" },
      xaxis: axis,
      yaxis: axis,
      scene: { xaxis: axis, yaxis: axis, zaxis: axis },
    };
    const plot = $("map-plot");
    if (plot.dataset.dims && plot.dataset.dims !== String(map.dims)) {
      Plotly.purge(plot); // 2D and 3D do not morph into each other: start afresh
      delete plot.dataset.bound;
    }
    plot.dataset.dims = String(map.dims);
    await Plotly.react(plot, traces(map), layout, { responsive: true, displaylogo: false });
    if (!plot.dataset.bound) {
      plot.on("plotly_click", (event) => event.points.length && selectPoint(event.points[0].customdata));
      plot.dataset.bound = "1";
    }
    const sampled = map.sampled ? ` (a random sample of ${map.total.toLocaleString()})` : "";
    setStatus("map-status", `${map.shown.toLocaleString()} items${sampled}, ${map.method.toUpperCase()} ${map.dims}D, ${timed(started)}`);
  } catch (error) {
    setStatus("map-status", error.message, true);
  }
}

async function selectPoint(id) {
  const index = state.map ? state.map.ids.indexOf(id) : -1;
  const text = index >= 0 ? state.map.texts[index] : "";
  $("map-selected").innerHTML = `<div class="selected-id">${escapeHtml(id)}</div><div>${escapeHtml(text)}</div><h4>Nearest neighbours</h4>`;
  $("neighbours").innerHTML = `<li class="muted">Searching…</li>`;
  try {
    const { matches } = await api(`${spacePath(`/similar/${encodeURIComponent(id)}`)}?k=10`);
    $("neighbours").innerHTML = matches.map((m, i) => matchItem(m, i + 1)).join("");
  } catch (error) {
    $("neighbours").innerHTML = `<li class="error">${escapeHtml(error.message)}</li>`;
  }
}

$("neighbours").addEventListener("click", (event) => {
  const item = event.target.closest(".result");
  if (item) selectPoint(item.dataset.id);
});
$("map-run").addEventListener("click", drawMap);
["map-dims", "map-method", "map-color"].forEach((id) => $(id).addEventListener("change", drawMap));
$("tab-projector").addEventListener("click", () => {
  if (!state.map) drawMap();
});

// ------------------------------------------------------------------ ask
$("ask-threshold").addEventListener("input", (event) => {
  $("ask-threshold-value").textContent = Number(event.target.value).toFixed(2);
});

function confidence(score) {
  const percent = Math.round(Math.max(0, Math.min(1, score)) * 100);
  return `<div class="confidence"><span class="bar"><span style="width:${percent}%"></span></span>${percent}% confident</div>`;
}

$("ask-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const question = $("ask-question").value.trim();
  if (!space() || !question) return;
  const threshold = Number($("ask-threshold").value);
  try {
    const { answers } = await postJson(spacePath("/ask"), {
      question,
      threshold,
      k: Number($("ask-k").value) || 3,
      answer_field: $("ask-field").value.trim() || "answer",
    });
    const best = answers[0];
    if (best && best.confident) {
      $("ask-answer").innerHTML = `<div class="answer-card good" id="answer">
        <div class="answer">${escapeHtml(best.answer)}</div>
        <div class="muted">Matched “${escapeHtml(best.matched_question)}”</div>${confidence(best.score)}</div>`;
    } else {
      const closest = best ? `<div class="muted">The closest known question, “${escapeHtml(best.matched_question)}”, scores ${best.score.toFixed(3)}, below the threshold ${threshold.toFixed(2)}.</div>` : "";
      $("ask-answer").innerHTML = `<div class="answer-card none" id="no-answer"><div class="answer">No good answer</div>${closest}</div>`;
    }
    $("ask-others").innerHTML = answers.slice(1).map((a, i) =>
      `<li class="result"><span class="rank">${i + 2}</span><div class="body"><div class="content">${escapeHtml(a.answer)}</div>
       <div class="meta"><span class="id">${escapeHtml(a.matched_question)}</span></div></div>${scoreBar(a.score)}</li>`).join("");
  } catch (error) {
    $("ask-answer").innerHTML = `<div class="answer-card error">${escapeHtml(error.message)}</div>`;
    $("ask-others").innerHTML = "";
  }
});

// ------------------------------------------------------------------ recommend
async function loadRecommenders() {
  try {
    const { recommenders } = await api("/recommenders");
    state.recommenders = recommenders;
    $("rec-empty").hidden = recommenders.length > 0;
    $("rec-body").hidden = recommenders.length === 0;
    $("rec-model").innerHTML = recommenders.map((r) => `<option>${escapeHtml(r.name)}</option>`).join("");
    showRecommender();
  } catch (error) {
    setStatus("rec-user-status", error.message, true);
  }
}

function showRecommender() {
  const chosen = state.recommenders.find((r) => r.name === $("rec-model").value);
  if (!chosen) return;
  $("rec-info").textContent = `${chosen.users.toLocaleString()} users · ${chosen.items.toLocaleString()} items`;
  $("rec-users").innerHTML = chosen.example_users.map((u) => `<option value="${escapeHtml(u)}">`).join("");
  $("rec-items").innerHTML = chosen.example_items.map((u) => `<option value="${escapeHtml(u)}">`).join("");
}

function recItems(items) {
  return items.map((r, i) => `<li class="result" data-id="${escapeHtml(r.id)}"><span class="rank">${i + 1}</span>
    <div class="body"><div class="content">${escapeHtml(r.title)}</div>${r.title === r.id ? "" : `<div class="meta"><span class="id">${escapeHtml(r.id)}</span></div>`}</div>
    ${scoreBar(r.score)}</li>`).join("");
}

async function recommend(kind, value, list, status) {
  const model = encodeURIComponent($("rec-model").value);
  const route = kind === "user" ? "recommend" : "similar-items";
  const params = new URLSearchParams({ [kind]: value, k: "10" });
  try {
    const { items } = await api(`/recommenders/${model}/${route}?${params}`);
    $(list).innerHTML = recItems(items);
    setStatus(status, `${items.length} items`);
  } catch (error) {
    $(list).innerHTML = "";
    setStatus(status, error.message, true);
  }
}

$("rec-model").addEventListener("change", showRecommender);
$("rec-user-form").addEventListener("submit", (event) => {
  event.preventDefault();
  if ($("rec-user").value.trim()) recommend("user", $("rec-user").value.trim(), "rec-results", "rec-user-status");
});
$("rec-item-form").addEventListener("submit", (event) => {
  event.preventDefault();
  if ($("rec-item").value.trim()) recommend("item", $("rec-item").value.trim(), "rec-similar", "rec-item-status");
});
$("rec-similar").addEventListener("click", (event) => {
  const item = event.target.closest(".result");
  if (!item) return;
  $("rec-item").value = item.dataset.id;
  recommend("item", item.dataset.id, "rec-similar", "rec-item-status");
});

// ------------------------------------------------------------------ start
loadSpaces().then(() => {
  const wanted = location.hash.slice(1);
  if (wanted && $(`panel-${wanted}`)) {
    showPanel(wanted);
    if (wanted === "projector") drawMap();
  }
});
