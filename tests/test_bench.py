"""Tests of the MER-UniBench-compatible scorer: normalisation, parsing, metrics, readers, CLI.

Unit tests build a tiny emotion wheel in a temporary folder, so each expected value can be
worked out by hand; the real-data tests reproduce the OV-MER paper's Chat-UniVi row.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from affectlens.core.errors import ParameterError
from affectlens.research import bench_cli
from affectlens.research.bench import run_bench
from affectlens.research.inputs import clip_name, prediction_from_result, read_gold, read_predictions
from affectlens.research.metrics import (
    class_score,
    hit_rate,
    open_vocab_prf,
    open_vocab_score,
    sentiment_score,
)
from affectlens.research.wheel import WHEELS, load_lexicon, parse_label_list

# ---------------------------------------------------------------------------- tiny wheel
WHEEL_ROWS = [  # level1, level2, level3 (blank = same as above), as in the real sheets
    ("Happy", "Joyful", "Cheerful"),
    (None, None, "Delighted"),
    (None, "Content", "Pleased"),
    (None, None, "Brave"),
    ("Sad", "Lonely", "Isolated"),
    (None, "Depressed", "Empty"),
    ("Scared", "Anxious", "Afraid"),
]
SYNONYMS = [  # wheel word, synonyms (run 1); run 2 adds glad -> pleased. Every wheel word is listed,
    # as in the real synonym.xlsx, so that it maps onto itself.
    ("happy", "glad, joyful"), ("sad", "unhappy"), ("scared", "fear"), ("brave", "fearless"),
    ("pleased", "content"), ("cheerful", ""), ("delighted", ""), ("joyful", ""), ("content", ""),
    ("isolated", ""), ("empty", ""), ("lonely", ""), ("depressed", ""), ("afraid", ""), ("anxious", ""),
]
FORMS = {  # base word -> surface forms; every synonym-table word is a base, as in format.csv
    **{w: "" for w, _ in SYNONYMS},
    "cheerful": "cheerfully,cheerfulness", "joyful": "joy,joyfully", "happy": "happiness,happily",
    "delighted": "delight", "isolated": "isolation", "glad": "gladly", "scared": "scare",
    "fear": "fears,fearful,fear", "unhappy": "unhappiness", "fearless": "fearlessness",
}


def _write_wheel(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    frame = pd.DataFrame(WHEEL_ROWS, columns=["level1", "level2", "level3"])
    for w in WHEELS:
        frame.to_excel(root / f"{w}.xlsx", index=False)
    fixed = FORMS
    defect = dict(FORMS, fearless="fearlessness,fear")  # the 2025 defect: fear -> fearless
    for name, forms in (("format.csv", fixed), ("format_2025.csv", defect)):
        pd.DataFrame({"name": list(forms), "format": list(forms.values())}).to_csv(root / name, index=False)
    cols: dict[str, list[str]] = {}
    for run in range(1, 9):
        rows = [(w, "glad" if (run == 2 and w == "pleased") else syn) for w, syn in SYNONYMS]
        cols[f"word_run{run}"] = [w for w, _ in rows]
        cols[f"synonym_run{run}"] = [s for _, s in rows]
    pd.DataFrame(cols).to_excel(root / "synonym.xlsx", index=False)
    return root


@pytest.fixture(scope="module")
def wheel_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _write_wheel(tmp_path_factory.mktemp("wheel"))


@pytest.fixture(scope="module")
def lex(wheel_root: Path):
    return load_lexicon(wheel_root, "2026")


# ---------------------------------------------------------------------------- parsing
@pytest.mark.parametrize(("text", "expected"), [
    ("['happy', 'sad']", ["happy", "sad"]),
    ("[happy, \"relieved\" ,grateful]", ["happy", "relieved", "grateful"]),
    ("The labels are [Happy, calm] overall.", ["Happy", "calm"]),
    ("happy, sad", ["happy", "sad"]),
    ("[]", []),
    ("", []),
    (None, []),
    (float("nan"), []),
    (["a ", "b"], ["a", "b"]),
    (np.array(["x", "y"]), ["x", "y"]),
])
def test_parse_label_list(text, expected):
    assert parse_label_list(text) == expected


def test_clip_name_strips_folder_and_media_extension():
    assert clip_name("/v/sample_1.mp4") == "sample_1"
    assert clip_name("sample_00000007") == "sample_00000007"
    assert clip_name("a.b.c") == "a.b.c"


# ---------------------------------------------------------------------------- normalisation
def test_normalize_level1_through_forms_and_synonyms(lex):
    assert lex.normalize("Cheerfully ", "wheel1", 1) == "happy"  # form -> cheerful -> happy
    assert lex.normalize("joy", "wheel1", 1) == "happy"  # joy -> joyful -> (synonym of happy) happy
    assert lex.normalize("isolation", "wheel1", 1) == "sad"
    assert lex.normalize("unhappiness", "wheel1", 1) == "sad"  # unhappy is a synonym of sad
    assert lex.normalize("bewildered", "wheel1", 1) is None  # not in format.csv: dropped


def test_normalize_alphabetically_first_candidate_wins(lex):
    # "glad" is a synonym of "happy" (run 1) and of "pleased" (run 2): the union holds both and
    # the alphabetically first present in the wheel ("happy") decides.
    assert lex.candidates("gladly") == ("happy", "pleased")
    assert lex.normalize("gladly", "wheel1", 1) == "happy"


def test_normalize_level2(lex):
    assert lex.normalize("cheerful", "wheel1", 2) == "joyful"
    assert lex.normalize("isolation", "wheel1", 2) == "lonely"
    # a level-1 word maps to its alphabetically first level-2 child (content < joyful)
    assert lex.normalize("happiness", "wheel1", 2) == "content"


def test_wheel_version_2025_keeps_the_fear_fearless_defect(wheel_root):
    old, new = load_lexicon(wheel_root, "2025"), load_lexicon(wheel_root, "2026")
    assert new.normalize("fear", "wheel1", 1) == "scared"
    # 2025: "fear" is also a form of "fearless", a synonym of "brave" (< "scared") -> happy
    assert old.normalize("fear", "wheel1", 1) == "happy"


def test_unknown_version_and_wheel_are_parameter_errors(wheel_root, lex):
    with pytest.raises(ParameterError, match="wheel version"):
        load_lexicon(wheel_root, "2024")
    with pytest.raises(ParameterError, match="unknown wheel"):
        lex.normalize("happy", "wheel9", 1)


# ---------------------------------------------------------------------------- metrics
def test_open_vocab_prf_by_hand(lex):
    gold = {"a": ["cheerful", "isolated"], "b": ["bewildered"], "c": ["happy"], "d": ["afraid"]}
    pred = {"a": ["joy", "nonsense"], "c": [], "d": ["scare", "delight"]}
    prf = open_vocab_prf(gold, pred, lex, "wheel1", 1)
    # a: G={happy,sad} P={happy} -> p=1 r=.5; b skipped (gold maps to nothing);
    # c: empty prediction -> 0,0; d: G={scared} P={scared,happy} -> p=.5 r=1
    assert prf.samples == 3
    assert prf.precision == pytest.approx((1 + 0 + 0.5) / 3)
    assert prf.recall == pytest.approx((0.5 + 0 + 1) / 3)
    assert prf.f == pytest.approx(0.5)


def test_open_vocab_score_means_over_wheels(lex):
    gold = {"a": ["cheerful"], "b": ["isolated"]}
    pred = {"a": ["delight"]}  # b missing -> empty
    score = open_vocab_score(gold, pred, lex)
    assert score.missing == ("b",)
    f1, p1, r1 = score.mean(1)
    assert (p1, r1) == (pytest.approx(0.5), pytest.approx(0.5))
    assert score.mean(2)[0] == pytest.approx(0.5)  # delighted and cheerful share "joyful"
    plain = score.to_plain()
    assert set(plain) >= {*WHEELS, "mean"}
    assert plain["wheel3"]["level2"]["f"] == pytest.approx(50.0)


def test_open_vocab_raises_when_no_gold_maps(lex):
    with pytest.raises(ParameterError):
        open_vocab_prf({"a": ["bewildered"]}, {"a": ["happy"]}, lex, "wheel1", 1)


def test_hit_rate_excludes_unmappable_gold(lex):
    gold = {"a": ["happy"], "b": ["sad"], "c": ["neutral"], "d": ["afraid"]}
    pred = {"a": ["cheerful", "sad"], "b": ["happy"], "c": ["happy"], "d": ["scare"]}
    hr = hit_rate(gold, pred, lex)
    assert hr.samples == 3  # neutral maps to nothing
    assert hr.mean == pytest.approx(2 / 3)


def test_sentiment_score_excludes_zero_gold():
    gold = {"a": 2.0, "b": -1.0, "c": 0.0, "d": "-0.5", "e": "positive"}
    pred = {"a": 1.0, "b": 0.5, "c": 3.0, "d": -1.0}  # e missing -> 0 -> negative
    s = sentiment_score(gold, pred)
    assert s.samples == 4
    assert s.accuracy == pytest.approx(0.5)  # a right, b wrong, d right, e wrong


def test_class_score_by_hand():
    gold = {"1": "happy", "2": "happy", "3": "sad", "4": "angry"}
    pred = {"1": "Happy", "2": "sad", "3": "sad"}  # 4 missing
    s = class_score(gold, pred)
    assert s.accuracy == pytest.approx(0.5)
    assert s.labels == ("<none>", "angry", "happy", "sad")
    assert s.confusion[s.labels.index("happy")] == (0, 0, 1, 1)
    f1 = dict(zip(s.labels, s.per_class_f1, strict=True))
    assert f1["happy"] == pytest.approx(2 / 3) and f1["sad"] == pytest.approx(2 / 3) and f1["angry"] == 0
    assert s.macro_f1 == pytest.approx((2 / 3 + 2 / 3 + 0) / 3)
    assert s.weighted_f1 == pytest.approx((2 * 2 / 3 + 2 / 3) / 4)


# ---------------------------------------------------------------------------- readers
def _result(path: str, utts: list[tuple[str, float, float, list]]) -> dict:
    return {"media": {"path": path}, "utterances": [
        {"segment": {"index": i, "start": s, "end": e}, "fused": {
            "label": lab, "probs": {lab: 0.8}, "valence": {"happy": 0.8, "sad": -0.7}.get(lab, 0.0),
            "emotion_words": words}}
        for i, (lab, s, e, words) in enumerate(utts)]}


def test_prediction_from_result_summarises_the_clip():
    data = _result("/v/clip7.mp4", [("neutral", 0, 5, []), ("sad", 5, 7, [["lonely", 0.4], ["hurt", 0.7]])])
    p = prediction_from_result(data, "x")
    assert p.name == "clip7"
    assert p.label == "sad"  # neutral only wins when nothing else was said
    assert p.labels == ("hurt", "lonely", "sad")
    assert p.sentiment == pytest.approx(-0.7 * 2 / 7)


def test_read_predictions_csv_npz_json_and_folder(tmp_path):
    csv = tmp_path / "p.csv"
    pd.DataFrame({"name": ["a.mp4", "b"], "openset": ["[happy, glad]", "['sad']"], "label": ["happy", ""]}).to_csv(
        csv, index=False)
    preds = read_predictions(csv)
    assert preds["a"].labels == ("happy", "glad") and preds["b"].label is None
    npz = tmp_path / "p-openset.npz"
    np.savez(npz, filenames=np.array(["a", "b"]), fileitems=np.array(["[joy]", "[]"]))
    assert read_predictions(npz)["a"].labels == ("joy",)
    folder = tmp_path / "results"
    folder.mkdir()
    for name, lab in (("a", "happy"), ("b", "sad")):
        (folder / f"{name}.json").write_text(json.dumps(_result(f"{name}.mp4", [(lab, 0, 1, [])])))
    preds = read_predictions(folder)
    assert {k: v.label for k, v in preds.items()} == {"a": "happy", "b": "sad"}
    assert read_predictions(folder / "a.json")["a"].open_labels() == ["happy"]


@pytest.mark.parametrize("bad", ["missing.csv", "p.txt"])
def test_read_predictions_rejects_bad_paths(tmp_path, bad):
    (tmp_path / "p.txt").write_text("x")
    with pytest.raises(ParameterError):
        read_predictions(tmp_path / bad)


def test_read_gold_needs_the_task_column(tmp_path):
    gold = tmp_path / "g.csv"
    pd.DataFrame({"file": ["a.mp4"], "emotion": ["happy"], "valence": ["1.5"]}).to_csv(gold, index=False)
    assert read_gold(gold, "classes") == {"a": "happy"}
    assert read_gold(gold, "hit") == {"a": ["happy"]}
    assert read_gold(gold, "sentiment") == {"a": "1.5"}
    with pytest.raises(ParameterError, match="openset"):
        read_gold(gold, "ov")


# ---------------------------------------------------------------------------- CLI
def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="affectlens bench")
    bench_cli.add_arguments(parser)
    return parser.parse_args(argv)


def test_cli_ov_writes_json_and_markdown(tmp_path, wheel_root, capsys):
    gold = tmp_path / "g.csv"
    pd.DataFrame({"name": ["a", "b"], "openset": ["[cheerful, isolated]", "[afraid]"]}).to_csv(gold, index=False)
    pred = tmp_path / "p.csv"
    pd.DataFrame({"name": ["a", "b"], "openset": ["[joy]", "[scare]"]}).to_csv(pred, index=False)
    out_json, out_md = tmp_path / "o.json", tmp_path / "o.md"
    code = bench_cli.run(_parse(["--gold", str(gold), "--pred", str(pred), "--wheel-dir", str(wheel_root),
                                 "--json", str(out_json), "--markdown", str(out_md)]))
    assert code == 0
    data = json.loads(out_json.read_text())
    for w in WHEELS:
        assert set(data[w]) == {"level1", "level2"}
        assert set(data[w]["level1"]) >= {"f", "precision", "recall"}
    assert data["mean"]["level1"]["precision"] == pytest.approx(100.0)
    assert data["mean"]["level1"]["recall"] == pytest.approx(75.0)
    assert "| wheel1 |" in out_md.read_text()
    assert "wheel5" in capsys.readouterr().out


def test_cli_classes_with_gold_dataset_mapping(tmp_path, capsys):
    gold = tmp_path / "g.csv"
    pd.DataFrame({"file": ["a.mp4", "b.mp4", "c.mp4"], "emotion": ["worried", "happy", "doubt"]}).to_csv(
        gold, index=False)
    pred = tmp_path / "p.csv"
    pd.DataFrame({"name": ["a", "b", "c"], "label": ["fear", "sad", "neutral"]}).to_csv(pred, index=False)
    report = run_bench(gold, pred, task="classes", gold_dataset="mer2023")
    assert report.gold_samples == 2 and report.score.accuracy == pytest.approx(0.5)
    assert bench_cli.run(_parse(["--gold", str(gold), "--pred", str(pred), "--task", "classes"])) == 0
    assert "accuracy" in capsys.readouterr().out


def test_cli_errors_are_parameter_errors(tmp_path):
    gold = tmp_path / "g.csv"
    pd.DataFrame({"name": ["a"], "openset": ["[happy]"]}).to_csv(gold, index=False)
    pred = tmp_path / "p.csv"
    pd.DataFrame({"name": ["zzz"], "openset": ["[happy]"]}).to_csv(pred, index=False)
    with pytest.raises(ParameterError, match="no clip name is shared"):
        bench_cli.run(_parse(["--gold", str(gold), "--pred", str(pred)]))


# ---------------------------------------------------------------------------- real data
PAPER_CHAT_UNIVI = {"wheel1": (57.00, 42.25), "wheel2": (57.50, 42.43), "wheel3": (56.80, 45.66),
                    "wheel4": (55.86, 41.97), "wheel5": (55.81, 43.61)}


def test_reproduces_ov_mer_paper_chat_univi(shared_data):
    root = shared_data / "eval" / "ovmerd"
    report = run_bench(root / "gt-openset.csv",
                       root / "predictions" / "Chat-UniVi" / "output-reason-7b-nosubtitle-addsub-eng-openset.npz",
                       task="ov", wheel_version="2025")
    assert report.gold_samples == 332
    for wheel, (l1, l2) in PAPER_CHAT_UNIVI.items():
        assert 100 * report.score.get(wheel, 1).f == pytest.approx(l1, abs=1.5)
        assert 100 * report.score.get(wheel, 2).f == pytest.approx(l2, abs=1.5)
    # exact values of this implementation, so any drift in the scorer is caught
    assert 100 * report.score.get("wheel1", 1).f == pytest.approx(57.27, abs=0.01)
    assert 100 * report.score.mean(2)[0] == pytest.approx(43.85, abs=0.01)


def test_lexicon_matches_upstream_precomputed_mapping(shared_data):
    ref = np.load(shared_data / "eval" / "emotion_wheel" / "wheel_mapping.npz", allow_pickle=True)
    lex = load_lexicon(shared_data / "eval" / "emotion_wheel", "2026")
    forms = ref["format_mapping"].item()
    assert {k: sorted(set(v)) for k, v in forms.items()} == {k: sorted(set(v)) for k, v in lex.forms.items()}
    syn = ref["raw_mapping"].item()
    assert {k: sorted(set(v)) for k, v in syn.items()} == {k: sorted(v) for k, v in lex.synonyms.items()}
    wheels = ref["wheel_map_whole"].item()
    for w in WHEELS:
        for level in (1, 2):
            assert dict(lex.clusters(w, level)) == wheels[w][f"level{level}"]
