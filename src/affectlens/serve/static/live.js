// Live analysis: camera frames (JPEG, ~8 fps) and 16 kHz microphone audio over one WebSocket
// (/v1/live); the server answers with the faces, the fused emotion and its explanation.
"use strict";
const $ = (id) => document.getElementById(id);
const FPS = 8, MAX_IN_FLIGHT = 2, MAX_SIDE = 640;
let ws = null, stream = null, audioCtx = null, frameTimer = null, t0 = 0, inFlight = 0, audioSent = 0;

function pack(kind, t, payload) {
  const head = new ArrayBuffer(9), view = new DataView(head);
  view.setUint8(0, kind.charCodeAt(0));
  view.setFloat64(1, t, true);
  return new Blob([head, payload]);
}

async function start() {
  $("start").disabled = true;
  $("live-status").textContent = "asking for the camera and the microphone...";
  try {
    stream = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480 }, audio: { channelCount: 1, echoCancellation: false, noiseSuppression: false } });
  } catch (e) {
    $("live-status").textContent = "no camera or microphone: " + e.message; $("start").disabled = false; return;
  }
  $("preview").srcObject = stream;
  const proto = location.protocol === "https:" ? "wss:" : "ws:";
  ws = new WebSocket(withToken(proto + "//" + location.host + "/v1/live"));
  ws.binaryType = "arraybuffer";
  ws.onopen = () => ws.send(JSON.stringify({ type: "start", asr: $("asr").checked }));
  ws.onmessage = (m) => onMessage(JSON.parse(m.data));
  ws.onclose = (e) => { $("live-status").textContent = "stopped" + (e.reason ? ": " + e.reason : ""); cleanup(); };
  $("stop").disabled = false;
}

function beginStreaming() {
  t0 = performance.now() / 1000;
  $("live-status").textContent = "live";
  // Frames: drawn from the preview into a canvas, sent as JPEG; at most MAX_IN_FLIGHT unanswered.
  const video = $("preview"), canvas = $("grab"), ctx = canvas.getContext("2d");
  frameTimer = setInterval(() => {
    if (!ws || ws.readyState !== 1 || inFlight >= MAX_IN_FLIGHT || !video.videoWidth) return;
    const scale = Math.min(1, MAX_SIDE / Math.max(video.videoWidth, video.videoHeight));
    canvas.width = Math.round(video.videoWidth * scale); canvas.height = Math.round(video.videoHeight * scale);
    ctx.drawImage(video, 0, 0, canvas.width, canvas.height);
    const t = Math.round((performance.now() / 1000 - t0) * 1000) / 1000;
    inFlight++;
    canvas.toBlob((blob) => { if (ws && ws.readyState === 1) ws.send(pack("F", t, blob)); else inFlight--; }, "image/jpeg", 0.8);
  }, 1000 / FPS);
  // Audio: 16 kHz mono from the microphone, sent as int16 every 4096 samples (256 ms).
  audioCtx = new AudioContext({ sampleRate: 16000 });
  const source = audioCtx.createMediaStreamSource(stream);
  const proc = audioCtx.createScriptProcessor(4096, 1, 1);
  audioSent = 0;
  proc.onaudioprocess = (e) => {
    const x = e.inputBuffer.getChannelData(0), pcm = new Int16Array(x.length);
    for (let i = 0; i < x.length; i++) pcm[i] = Math.max(-32768, Math.min(32767, Math.round(x[i] * 32767)));
    if (ws && ws.readyState === 1) ws.send(pack("A", audioSent / 16000, pcm.buffer));
    audioSent += x.length;
  };
  source.connect(proc); proc.connect(audioCtx.destination);
}

function onMessage(m) {
  if (m.type === "ready") { beginStreaming(); return; }
  if (m.type === "dropped") { inFlight = Math.max(0, inFlight - 1); return; }
  if (m.type === "frame") {
    inFlight = Math.max(0, inFlight - 1);
    const f = m.fused || {};
    $("live-emotion").textContent = f.label || "–";
    $("live-emotion").style.color = colourOf(f.label || "none");
    const face = (m.faces || [])[0];
    $("live-detail").textContent = (f.label ? Math.round(100 * (f.probs[f.label] || 0)) + "% · " : "") +
      (face ? "face: " + face.label + " · AUs " + Object.entries(face.aus).map(([k, v]) => k + " " + v.toFixed(1)).join(", ") : "no face") +
      " · " + m.server_ms + " ms";
    $("live-explanation").textContent = f.explanation || "";
    $("live-cues").replaceChildren(...(f.cues || []).map((c) => el("li", {}, c.modality + ": " + c.description)));
    const bar = el("div", { title: m.t.toFixed(1) + " s: " + (f.label || "none"), style: "height:" + Math.round(100 * ((f.probs || {})[f.label] || 0.2)) + "%;background:" + colourOf(f.label || "none") });
    const tl = $("live-timeline"); tl.append(bar); while (tl.children.length > 150) tl.firstChild.remove();
  } else if (m.type === "utterance") {
    $("live-utterances").prepend(el("tr", {}, el("td", {}, fmtTime(m.t0) + "–" + fmtTime(m.t)),
      el("td", { class: "label", style: "color:" + colourOf(m.label || "none") }, m.label || "none"),
      el("td", {}, m.text || ""), el("td", { class: "muted" }, m.explanation || "")));
  } else if (m.type === "saved") {
    $("live-saved").replaceChildren("Saved: ", el("a", { href: "/?job=" + m.id, "data-testid": "live-saved-link" }, "open the result"));
  } else if (m.type === "error") {
    $("live-status").textContent = "error: " + m.detail;
  }
}

function stop() {
  $("stop").disabled = true;
  if (frameTimer) clearInterval(frameTimer);
  frameTimer = null;
  if (ws && ws.readyState === 1) { ws.send(JSON.stringify({ type: "stop", save: $("save").checked })); $("live-status").textContent = "finishing..."; }
  if (audioCtx) { audioCtx.close(); audioCtx = null; }
  if (stream) { stream.getTracks().forEach((t) => t.stop()); stream = null; }
}

function cleanup() {
  if (frameTimer) clearInterval(frameTimer);
  frameTimer = null; ws = null; inFlight = 0;
  if (audioCtx) { audioCtx.close(); audioCtx = null; }
  if (stream) { stream.getTracks().forEach((t) => t.stop()); stream = null; }
  $("start").disabled = false; $("stop").disabled = true;
}

legend($("legend"));
$("start").addEventListener("click", start);
$("stop").addEventListener("click", stop);
