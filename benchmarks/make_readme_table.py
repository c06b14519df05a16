"""Regenerate the README's results table from ``benchmarks/results/*.json``.

Every figure in the table is read from a result file written by a script in this folder; the
table sits between ``<!-- results:start -->`` and ``<!-- results:end -->`` in README.md.
A result file may carry ``"headline": [{"area", "metric", "value", "protocol"}]``; for the
others an extractor below picks the headline figures.

Run: ``python benchmarks/make_readme_table.py``
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
README = ROOT / "README.md"
START, END = "<!-- results:start -->", "<!-- results:end -->"

Row = tuple[str, str, str, str]  # area, metric, value, protocol


def _get(d, *keys, default=None):
    for k in keys:
        if not isinstance(d, dict) or k not in d:
            return default
        d = d[k]
    return d


def _pct(x) -> str:
    if x is None:
        return "n/a"
    return f"{100 * x:.1f} %" if x <= 1.0 else f"{x:.1f} %"


def e2e_mer2023(r: dict) -> list[Row]:
    s = r["summary"]["all_mappable"]
    n = s["clips"]
    return [
        ("End to end", f"MER2023 samples, {m} accuracy", f"{s[m]['correct']}/{n}", "8 mappable clips, transcripts as subtitles")
        for m in ("face", "voice", "words", "fused")
    ]


def e2e_speed(r: dict) -> list[Row]:
    rows = []
    for run in r["runs"]:
        rows.append((
            "Speed", f"{run['input']} ({run['duration_s']:.0f} s), {run['config']}",
            f"{run['x_real_time']}x real time, {run['peak_rss_mb']:.0f} MB peak",
            f"whole pipeline, median of {run['runs']}, fresh process",
        ))
    return rows


EXTRACTORS: dict[str, Callable[[dict], list[Row]]] = {
    "e2e_mer2023": e2e_mer2023,
    "e2e_speed": e2e_speed,
}


def rows_for(path: Path) -> list[Row]:
    data = json.loads(path.read_text())
    if "headline" in data:
        return [(h["area"], h["metric"], str(h["value"]), h.get("protocol", "")) for h in data["headline"]]
    extractor = EXTRACTORS.get(path.stem)
    if extractor is None:
        return [("Other", path.stem, "see file", f"benchmarks/results/{path.name}")]
    try:
        return extractor(data)
    except (KeyError, TypeError, IndexError) as e:
        return [("Other", path.stem, f"unreadable ({e})", f"benchmarks/results/{path.name}")]


def table() -> str:
    lines = ["| area | metric | value | protocol | source |", "|---|---|---|---|---|"]
    for path in sorted(RESULTS.glob("*.json")):
        for area, metric, value, protocol in rows_for(path):
            lines.append(f"| {area} | {metric} | {value} | {protocol} | `{path.name}` |")
    return "\n".join(lines)


def main() -> None:
    text = README.read_text()
    block = f"{START}\n{table()}\n{END}"
    if START in text:
        text = re.sub(re.escape(START) + r".*?" + re.escape(END), lambda _: block, text, flags=re.S)
    else:
        text += "\n" + block + "\n"
    README.write_text(text)
    print(f"updated {README}")


if __name__ == "__main__":
    main()
