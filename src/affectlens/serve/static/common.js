// Shared by the upload page and the live page: colours per emotion, the token, fetch helpers.
"use strict";
const EMOTION_COLOURS = {
  neutral: "#9aa5ae", happy: "#f2b705", sad: "#3b73b9", angry: "#d64541", fear: "#8e5ea2",
  disgust: "#5a9e4b", surprise: "#f07f2e", none: "#e3e6e8",
};
function colourOf(label) { return EMOTION_COLOURS[label] || "#bbb"; }

// With `affectlens serve --token`, the page asks once and keeps the token for this tab only.
function token() {
  const fromUrl = new URLSearchParams(location.search).get("token");
  if (fromUrl) sessionStorage.setItem("affectlens-token", fromUrl);
  return sessionStorage.getItem("affectlens-token");
}
function authHeaders() { const t = token(); return t ? { Authorization: "Bearer " + t } : {}; }
function withToken(url) { const t = token(); return t ? url + (url.includes("?") ? "&" : "?") + "token=" + encodeURIComponent(t) : url; }
async function api(path, opts = {}) {
  const r = await fetch(path, { ...opts, headers: { ...(opts.headers || {}), ...authHeaders() } });
  if (r.status === 401) {
    const t = prompt("This server needs a token:");
    if (t) { sessionStorage.setItem("affectlens-token", t); return api(path, opts); }
  }
  return r;
}
function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") e.className = v; else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (k === "style") e.style.cssText = v; else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return e;
}
function fmtTime(s) { const m = Math.floor(s / 60); return m + ":" + (s - 60 * m).toFixed(1).padStart(4, "0"); }
function legend(container) {
  container.replaceChildren(...Object.entries(EMOTION_COLOURS).filter(([k]) => k !== "none")
    .map(([k, c]) => el("span", {}, el("i", { style: "background:" + c }), k)));
}
