// The upload page: send a file as a job, follow its progress (server-sent events), show the result.
"use strict";
const $ = (id) => document.getElementById(id);

function setupDrop() {
  const drop = $("drop");
  ["dragenter", "dragover"].forEach((t) => drop.addEventListener(t, (e) => { e.preventDefault(); drop.classList.add("over"); }));
  ["dragleave", "drop"].forEach((t) => drop.addEventListener(t, (e) => { e.preventDefault(); drop.classList.remove("over"); }));
  drop.addEventListener("drop", (e) => { if (e.dataTransfer.files.length) $("media").files = e.dataTransfer.files; });
}

async function submit() {
  const file = $("media").files[0];
  if (!file) { $("status").textContent = "Pick a file first."; return; }
  const form = new FormData();
  form.append("media", file, file.name);
  if ($("subtitles").files[0]) form.append("subtitles", $("subtitles").files[0], $("subtitles").files[0].name);
  const modalities = [...document.querySelectorAll("input[name=modality]:checked")].map((c) => c.value);
  form.append("modalities", modalities.join(","));
  form.append("face_fps", $("face_fps").value);
  form.append("asr", $("asr").checked ? "true" : "false");
  if ($("language").value.trim()) form.append("language", $("language").value.trim());
  $("submit").disabled = true;
  $("status").textContent = "uploading " + file.name + "...";
  const r = await api("/v1/jobs", { method: "POST", body: form });
  $("submit").disabled = false;
  const body = await r.json().catch(() => ({}));
  if (r.status !== 202) { $("status").innerHTML = ""; $("status").append(el("span", { class: "error" }, body.detail || r.statusText)); return; }
  history.pushState({}, "", "?job=" + body.id);
  follow(body.id);
  refreshJobs();
}

function follow(id) {
  const bar = $("progress");
  bar.hidden = false; bar.value = 0;
  $("status").textContent = "queued";
  const events = new EventSource(withToken("/v1/jobs/" + id + "/events"));
  events.onmessage = (m) => {
    const s = JSON.parse(m.data);
    bar.value = s.progress;
    $("status").textContent = s.status + (s.step && s.status === "running" ? " (" + s.step + ")" : "") +
      (s.error ? ": " + s.error : "");
    if (s.status === "done") { events.close(); bar.hidden = true; showResult(id); refreshJobs(); }
    if (s.status === "failed") { events.close(); bar.hidden = true; $("status").classList.add("error"); refreshJobs(); }
  };
  events.addEventListener("gone", () => { events.close(); $("status").textContent = "the job was deleted"; });
}

async function showResult(id) {
  const [jobR, resR] = await Promise.all([api("/v1/jobs/" + id), api("/v1/jobs/" + id + "/result?format=json")]);
  if (!resR.ok) { $("status").textContent = "no result: " + ((await resR.json().catch(() => ({}))).detail || resR.status); return; }
  const job = await jobR.json();
  const result = await resR.json();
  $("status").textContent = "done: " + job.filename;
  $("result").hidden = false;
  $("result-title").textContent = job.filename;
  const player = $("player");
  if (job.kind === "image" || job.kind === "live") { player.hidden = true; } else { player.hidden = false; player.src = withToken("/v1/jobs/" + id + "/media"); }
  const duration = Math.max(result.media.duration || 0, ...result.utterances.map((u) => u.segment.end), 0.1);
  drawLanes(result, duration, player);
  legend($("legend"));
  $("downloads").replaceChildren("Download: ", ...["json", "html", "csv", "srt"].map((f) =>
    el("a", { href: withToken("/v1/jobs/" + id + "/result?format=" + f), download: "", "data-testid": "download-" + f, style: "margin-right:.8em" }, f)));
  const rows = result.utterances.map((u, i) => {
    const seg = u.segment, fused = u.fused, ex = u.explanation || {};
    const cues = el("ul", { class: "cues" }, ...(ex.cues || []).map((c) => el("li", {}, c.modality + ": " + c.description)));
    const row = el("tr", { class: "utt", "data-index": i, onclick: () => { player.currentTime = seg.start; player.play().catch(() => {}); } },
      el("td", {}, fmtTime(seg.start) + "–" + fmtTime(seg.end)),
      el("td", {}, seg.speaker || ""),
      el("td", {}, el("span", { class: "label", "data-testid": "utterance-label", style: "color:" + colourOf(fused.label) }, fused.label || "none"),
        el("div", { class: "muted" }, fused.no_evidence ? "no evidence" : Math.round(100 * (fused.probs[fused.label] || 0)) + "%")),
      el("td", {}, seg.text || ""),
      el("td", {}, el("div", {}, ex.text || ""), cues));
    return row;
  });
  $("utterances").replaceChildren(...rows);
  $("warnings").textContent = (result.warnings || []).join(" · ");
  player.ontimeupdate = () => {
    const t = player.currentTime;
    document.querySelectorAll(".lane .cursor").forEach((c) => { c.style.left = (100 * t / duration) + "%"; });
    rows.forEach((r, i) => r.classList.toggle("active", result.utterances[i].segment.start <= t && t < result.utterances[i].segment.end));
  };
}

function drawLanes(result, duration, player) {
  const lanes = [["fused", (u) => u.fused.no_evidence ? null : u.fused.label]];
  const names = new Set();
  result.utterances.forEach((u) => Object.keys(u.evidence || {}).forEach((m) => names.add(m)));
  for (const m of names) {
    lanes.push([m, (u) => {
      const ev = (u.evidence || {})[m];
      if (!ev || !ev.available || !ev.probs) return null;
      return Object.entries(ev.probs).sort((a, b) => b[1] - a[1])[0][0];
    }]);
  }
  $("lanes").replaceChildren(...lanes.map(([name, labelOf]) => {
    const track = el("div", { class: "track", "data-testid": "lane-" + name });
    result.utterances.forEach((u) => {
      const label = labelOf(u);
      const left = 100 * u.segment.start / duration, width = Math.max(0.4, 100 * (u.segment.end - u.segment.start) / duration);
      track.append(el("div", { class: "block", title: name + ": " + (label || "no evidence") + " at " + fmtTime(u.segment.start),
        style: "left:" + left + "%;width:" + width + "%;background:" + colourOf(label || "none"),
        onclick: () => { player.currentTime = u.segment.start; } }));
    });
    track.append(el("div", { class: "cursor", style: "left:0" }));
    return el("div", { class: "lane" }, el("span", { class: "name" }, name), track);
  }));
}

async function refreshJobs() {
  const r = await api("/v1/jobs?limit=50");
  if (!r.ok) return;
  const { jobs } = await r.json();
  $("job-list").replaceChildren(...jobs.map((j) => el("tr", {},
    el("td", {}, j.filename), el("td", {}, j.status + (j.error ? ": " + j.error : "")),
    el("td", {}, new Date(j.created * 1000).toLocaleString()),
    el("td", {},
      j.status === "done" ? el("a", { href: "?job=" + j.id, onclick: (e) => { e.preventDefault(); history.pushState({}, "", "?job=" + j.id); showResult(j.id); } }, "open") : "",
      " ",
      j.status !== "running" ? el("a", { href: "#", onclick: async (e) => { e.preventDefault(); await api("/v1/jobs/" + j.id, { method: "DELETE" }); refreshJobs(); } }, "delete") : ""))));
}

setupDrop();
$("submit").addEventListener("click", submit);
refreshJobs();
const initial = new URLSearchParams(location.search).get("job");
if (initial) follow(initial);
