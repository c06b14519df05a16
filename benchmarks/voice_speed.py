"""Cost of the voice stage per second of audio, and what sharing the encoder pass with ASR saves.

Input: 40 RAVDESS clips of two actors laid end to end (about 2.5 minutes, one segment per
clip, two speakers), so the figures are for real speech in utterance-sized segments.
Timing is the best of 3 runs after one warm-up (weights loaded, caches filled).

Two ways to get words and voice from the same audio, both timed here end to end:
``separate``: speech recognition with CTranslate2's own encoder, then the voice modality
encodes the utterances again; ``shared``: the recognition pass runs the numpy encoder once per
window, CTranslate2 decodes from its output, and the voice modality pools the kept states.

Run: ``OMP_NUM_THREADS=1 python benchmarks/voice_speed.py`` -> ``benchmarks/results/voice_speed.json``
(threads are read from OMP_NUM_THREADS and recorded).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO / "benchmarks"))
from _common import write_result  # noqa: E402

from training.voice_common import load_ravdess, read_audio  # noqa: E402


def best_of(fn, runs: int = 3) -> float:
    fn()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    from affectlens.core.types import MediaInfo, MediaKind, Segment
    from affectlens.modalities.base import AnalysisContext
    from affectlens.modalities.voice import VoiceModality
    from affectlens.modalities.voice import prosody as prosody_mod
    from affectlens.modalities.voice.head import load_head
    from affectlens.modalities.voice.whisper_encoder import load_encoder

    corpus = load_ravdess()
    picks = [i for i, a in enumerate(corpus.actor) if a in (1, 2)][::2][:40]
    clips = [read_audio(corpus.paths[i]) for i in picks]
    segments, t = [], 0.0
    for k, (i, a) in enumerate(zip(picks, clips, strict=True)):
        segments.append(Segment(k, t, t + len(a) / 16_000, "vad", speaker=f"actor{corpus.actor[i]}"))
        t += len(a) / 16_000
    audio = np.concatenate(clips)
    seconds = len(audio) / 16_000
    ctx = AnalysisContext(
        media=MediaInfo("bench.wav", MediaKind.AUDIO, seconds, True, False), segments=segments, audio=audio
    )

    t0 = time.perf_counter()
    enc = load_encoder()
    head = load_head()
    load_s = time.perf_counter() - t0
    modality = VoiceModality()

    enc_s = best_of(lambda: [enc.pooled(a, head.layers) for a in clips])
    pros_s = best_of(lambda: [prosody_mod.measure(a) for a in clips])
    full_s = best_of(lambda: modality.evidence(ctx))
    long_s = best_of(lambda: enc.pooled(audio[: 60 * 16_000], head.layers), runs=2)

    from affectlens.modalities.voice.whisper_encoder import EncoderStates
    from affectlens.segments.asr import load_whisper, transcribe
    from affectlens.segments.vad import SpeechRegion

    # Words + voice on the first minute (one call each, models warm): ASR with CTranslate2's
    # encoder then the voice modality's own window pass, against the shared pass.
    load_whisper()
    minute = [s for s in segments if s.end <= 60.0]
    clip = audio[: int(minute[-1].end * 16_000)]
    regions = [SpeechRegion(s.start, s.end) for s in minute]
    media = MediaInfo("bench.wav", MediaKind.AUDIO, len(clip) / 16_000, True, False)

    def timed(fn) -> float:
        t0 = time.perf_counter()
        fn()
        return time.perf_counter() - t0

    asr_plain_s = timed(lambda: transcribe(clip, regions, language="en"))
    voice_own_s = timed(lambda: modality.evidence(AnalysisContext(media=media, segments=minute, audio=clip)))
    states = EncoderStates()
    asr_shared_s = timed(lambda: transcribe(clip, regions, language="en", states=states))
    voice_shared_s = timed(lambda: modality.evidence(AnalysisContext(media=media, segments=minute, audio=clip,
                                                                     shared={"whisper_states": states})))
    assert modality.shared_passes == len(minute)
    separate_s, shared_s = asr_plain_s + voice_own_s, asr_shared_s + voice_shared_s

    report = {
        "benchmark": "voice_speed",
        "input": f"{len(clips)} RAVDESS clips (actors 1 and 2), {seconds:.1f} s of audio, one segment per clip",
        "threads": int(os.environ.get("OMP_NUM_THREADS", "0") or 0) or "default",
        "load_seconds_encoder_and_head": round(load_s, 3),
        "ms_per_audio_second": {
            f"encoder_layers_upto_{max(head.layers)}": round(1000 * enc_s / seconds, 2),
            "prosody_praat": round(1000 * pros_s / seconds, 2),
            "voice_modality_total": round(1000 * full_s / seconds, 2),
            "encoder_one_60s_segment": round(1000 * long_s / 60, 2),
        },
        "real_time_factor_voice_modality": round(full_s / seconds, 4),
        "asr_and_voice_seconds": {
            "audio_seconds": round(len(clip) / 16_000, 1),
            "asr_ctranslate2_encoder": round(asr_plain_s, 2),
            "voice_own_window_pass": round(voice_own_s, 2),
            "asr_numpy_encoder_keeping_states": round(asr_shared_s, 2),
            "voice_from_kept_states": round(voice_shared_s, 2),
            "separate_total": round(separate_s, 2),
            "shared_total": round(shared_s, 2),
            "note": "one call each on the first minute, models warm; ASR uses 2 CTranslate2 threads",
        },
        "date": dt.date.today().isoformat(),
        "machine": "2-core CPU (shared with other jobs; best of 3)",
        "command": f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', '')} python benchmarks/voice_speed.py",
    }
    write_result("voice_speed", report)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
