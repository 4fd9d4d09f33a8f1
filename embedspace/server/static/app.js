// The web page: plain JavaScript shipped in the package (no CDN, works offline).
"use strict";
const $ = (id) => document.getElementById(id);

async function api(path, options = {}) {
  const response = await fetch(path, options);
  const body = await response.json();
  if (!response.ok) throw new Error(body.error ? body.error.message : response.statusText);
  return body;
}

async function loadSpaces() {
  const { spaces } = await api("/spaces");
  $("space").innerHTML = spaces.map((s) => `<option value="${s.name}">${s.name} (${s.count})</option>`).join("");
}

$("search-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const space = $("space").value, q = $("query").value.trim();
  if (!space || !q) return;
  const params = new URLSearchParams({ q, k: $("k").value });
  try {
    const { matches } = await api(`/spaces/${encodeURIComponent(space)}/search?${params}`);
    $("results").innerHTML = matches.map((m) =>
      `<li><span class="score">${m.score.toFixed(3)}</span>${escape(m.content)}</li>`).join("");
  } catch (error) {
    $("results").innerHTML = `<li class="error">${escape(error.message)}</li>`;
  }
});

function escape(text) {
  const node = document.createElement("span");
  node.textContent = String(text);
  return node.innerHTML;
}

loadSpaces();
