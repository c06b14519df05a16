"""A self-contained HTML report: timelines drawn as inline SVG, utterances with explanations.

No external asset (script, font, stylesheet) is referenced, so the report opens offline and
leaks nothing when shared.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

from ..core.labels import LABELS
from ..result import Result
from . import ResultWriter

COLOURS = {
    "neutral": "#9e9e9e", "happy": "#f5b700", "sad": "#3b6fb6", "angry": "#d1352b",
    "fear": "#7b4fa0", "disgust": "#4c9a2a", "surprise": "#ef7d22", "unknown": "#e0e0e0",
}
ROW_H, LABEL_W, WIDTH = 26, 90, 900


def _lanes(result: Result) -> list[tuple[str, list[tuple[float, float, str | None, float]]]]:
    lanes = []
    for m in result.modalities:
        spans = []
        for u in result.utterances:
            ev = u.evidence.get(m)
            spans.append((u.segment.start, u.segment.end, ev.label if ev and ev.available else None,
                          ev.confidence if ev and ev.available else 0.0))
        lanes.append((m, spans))
    lanes.append(("fused", [(u.segment.start, u.segment.end, None if u.fused.no_evidence else u.fused.label,
                             u.fused.confidence) for u in result.utterances]))
    return lanes


def _timeline_svg(result: Result) -> str:
    timed = [u for u in result.utterances if u.segment.end > u.segment.start]
    if not timed:
        return ""
    t_end = max(max(u.segment.end for u in timed), result.media.duration or 0) or 1.0
    scale = (WIDTH - LABEL_W - 10) / t_end
    lanes = _lanes(result)
    height = ROW_H * (len(lanes) + 1) + 70
    parts = [f'<svg viewBox="0 0 {WIDTH} {height}" width="100%" role="img" aria-label="timeline">']
    for row, (name, spans) in enumerate(lanes):
        y = 10 + row * ROW_H
        parts.append(f'<text x="4" y="{y + 17}" class="lane">{html.escape(name)}</text>')
        for start, end, label, conf in spans:
            if end <= start:
                continue
            colour = COLOURS.get(label or "unknown", "#ccc")
            opacity = 0.35 + 0.65 * conf if label else 0.5
            parts.append(
                f'<rect x="{LABEL_W + start * scale:.1f}" y="{y}" width="{max(1.0, (end - start) * scale):.1f}" '
                f'height="{ROW_H - 6}" fill="{colour}" fill-opacity="{opacity:.2f}">'
                f'<title>{html.escape(name)} {start:.1f}-{end:.1f}s: {label or "no evidence"} {conf:.0%}</title></rect>'
            )
    # valence line under the lanes
    y0 = 10 + len(lanes) * ROW_H + 25
    parts.append(f'<text x="4" y="{y0 + 4}" class="lane">valence</text>')
    parts.append(f'<line x1="{LABEL_W}" x2="{WIDTH - 10}" y1="{y0}" y2="{y0}" stroke="#bbb"/>')
    points = " ".join(
        f"{LABEL_W + (u.segment.start + u.segment.end) / 2 * scale:.1f},{y0 - 20 * u.fused.valence:.1f}"
        for u in timed if not u.fused.no_evidence
    )
    if points:
        parts.append(f'<polyline points="{points}" fill="none" stroke="#333" stroke-width="1.5"/>')
    for tick in _ticks(t_end):
        x = LABEL_W + tick * scale
        parts.append(f'<text x="{x:.1f}" y="{height - 8}" class="tick">{tick:g}s</text>')
    parts.append("</svg>")
    return "".join(parts)


def _ticks(t_end: float) -> Sequence[float]:
    step = next(s for s in (1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 1e9) if t_end / s <= 12)
    return [i * step for i in range(int(t_end // step) + 1)]


def _face_svg(result: Result) -> str:
    """Expression probabilities of each face over time (one small chart)."""
    obs = [o for o in result.observations if o.expression]
    if len(obs) < 2:
        return ""
    t_end = max(o.time for o in obs) or 1.0
    h = 120
    scale = (WIDTH - LABEL_W - 10) / t_end
    parts = [f'<svg viewBox="0 0 {WIDTH} {h + 20}" width="100%" role="img" aria-label="face expression">']
    for label in LABELS:
        pts = " ".join(f"{LABEL_W + o.time * scale:.1f},{h - o.expression.get(label, 0) * (h - 10):.1f}" for o in obs)
        parts.append(f'<polyline points="{pts}" fill="none" stroke="{COLOURS[label]}" stroke-width="1.2"><title>{label}</title></polyline>')
    parts.append(f'<text x="4" y="{h / 2}" class="lane">face</text></svg>')
    return "".join(parts)


CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:2em auto;max-width:960px;color:#222}
h1{font-size:1.4em} table{border-collapse:collapse;width:100%;font-size:.9em}
td,th{border-bottom:1px solid #ddd;padding:.35em .5em;text-align:left;vertical-align:top}
.lane{font-size:12px;fill:#444} .tick{font-size:10px;fill:#777}
.chip{display:inline-block;padding:0 .5em;border-radius:.6em;color:#fff;font-size:.85em}
.legend span{margin-right:.8em} .warn{color:#a05a00} .small{color:#666;font-size:.85em}
"""


def _provenance(explanation) -> str:
    """Who wrote an explanation: said only when a language model was involved (the reader must
    know when a text is a model's wording, and when its answer was refused and why)."""
    esc = html.escape
    if explanation.source == "llm":
        return f'<div class="small">worded by {esc(explanation.model or "a language model")}; every claim checked against the cues</div>'
    if explanation.model:
        why = f": {esc(explanation.rejected)}" if explanation.rejected else ""
        return f'<div class="small">template text; {esc(explanation.model)}\'s answer was not used{why}</div>'
    return ""


class WriteHTML(ResultWriter):
    extension = "html"

    def write(self, result: Result, fh) -> None:
        m = result.media
        esc = html.escape
        legend = " ".join(
            f'<span><span class="chip" style="background:{COLOURS[k]}">{k}</span></span>' for k in LABELS
        )
        rows = []
        for u in result.utterances:
            f, s = u.fused, u.segment
            chip = COLOURS.get("unknown" if f.no_evidence else f.label, "#999")
            label = "no evidence" if f.no_evidence else f"{f.label} {f.confidence:.0%}"
            contrib = ", ".join(f"{k} {v:.0%}" for k, v in f.contributions.items())
            words = ", ".join(w for w, _ in f.emotion_words)
            rows.append(
                f"<tr><td>{s.start:.1f}–{s.end:.1f}s</td><td>{esc(s.speaker or '')}</td>"
                f"<td>{esc(s.text or '')}</td>"
                f'<td><span class="chip" style="background:{chip}">{esc(label)}</span>'
                f'{" ⚠ conflict" if f.conflict else ""}<div class="small">{esc(contrib)}</div>'
                f'<div class="small">{esc(words)}</div></td>'
                f"<td>{esc(u.explanation.text)}{_provenance(u.explanation)}</td></tr>"
            )
        warnings = "".join(f'<li class="warn">{esc(w)}</li>' for w in result.warnings)
        micro = "".join(
            f"<li>face {e.face_id}: {e.onset:.2f}–{e.offset:.2f}s (apex {e.apex:.2f}s) {esc(', '.join(e.aus))}</li>"
            for e in result.events if hasattr(e, "onset")
        )
        fh.write(
            "<!doctype html><html><head><meta charset='utf-8'>"
            f"<title>affectlens — {esc(m.path)}</title><style>{CSS}</style></head><body>"
            f"<h1>affectlens report</h1><p>{esc(m.path)} · {m.kind.value} · {m.duration:.1f} s · "
            f"{len(result.utterances)} utterance(s) · analysed in {result.timings.get('total', 0):.1f} s</p>"
            f"<h2>Timeline</h2><div class='legend'>{legend}</div>{_timeline_svg(result)}{_face_svg(result)}"
            + (f"<h2>Micro-expressions</h2><ul>{micro}</ul>" if micro else "")
            + "<h2>Utterances</h2><table><tr><th>time</th><th>speaker</th><th>words</th><th>emotion</th>"
            f"<th>why</th></tr>{''.join(rows)}</table>"
            + (f"<h2>Warnings</h2><ul>{warnings}</ul>" if warnings else "")
            + "<p class='small'>Generated offline by affectlens. Probabilities are model estimates, "
            "not facts about a person's inner state.</p></body></html>"
        )
