"""The language-model client and the checked rewrite: a real server, and stand-ins for its failures.

The round trip, the output cap, the abandoned request and the command line run against a real
llama.cpp server (fixture ``local_llm``: xllamacpp + SmolLM2-135M-Instruct on a loopback port).
A real server cannot be made to hang, invent, fail once or trickle on demand, so those cases
use small standard-library stubs that speak the same OpenAI chat-completions protocol, which
is all affectlens depends on.
"""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import pytest
from llm_stub import reply

import affectlens
from affectlens.cli import main
from affectlens.core.errors import ParameterError
from affectlens.core.labels import LABELS
from affectlens.core.types import Cue, Evidence, FusedPrediction, Segment, Utterance
from affectlens.explain.llm import LLMClient, LLMConfig, LLMError, Message, rewrite, rewrite_all
from affectlens.explain.templates import explain
from affectlens.research.inputs import read_predictions


# ---------------------------------------------------------------------------- helpers
def _probs(label: str, p: float = 0.6) -> dict[str, float]:
    rest = (1 - p) / (len(LABELS) - 1)
    return {k: (p if k == label else rest) for k in LABELS}


def _utterance(index: int = 0) -> Utterance:
    """A sad face with three action units, no voice, a few words."""
    cues = (Cue("face", "AU15", 4.96, "lip corners pulled down (AU15, 5.0/5)", 1.0),
            Cue("face", "AU23", 4.43, "lips tightened (AU23, 4.4/5)", 0.9))
    evidence = {"face": Evidence("face", index, True, _probs("sad"), 0.9, cues),
                "voice": Evidence.missing("voice", index, "no speech in this segment")}
    fused = FusedPrediction("sad", _probs("sad"), -0.57, -0.03, {"face": 1.0}, emotion_words=(("sad", 0.6),))
    segment = Segment(index, 2.0 * index, 2.0 * index + 2.0, "window")
    return Utterance(segment, evidence, fused, explain(segment, evidence, fused))


@pytest.fixture
def transcript(tmp_path: Path) -> Path:
    """Three utterances as a transcript CSV: the words modality alone, no media."""
    path = tmp_path / "chat.csv"
    path.write_text("utterance\nI can't believe you did this to me!\nI'm so sorry.\nThat is wonderful news.\n")
    return path


# ---------------------------------------------------------------------------- a real server
def test_real_server_round_trip(local_llm):
    client = LLMClient(LLMConfig(local_llm.url, "smollm2", max_tokens=40, timeout=60))
    done = client.complete([Message("system", "Answer briefly."), Message("user", "Name one emotion.")])
    assert done.text and done.finish_reason in ("stop", "length")
    assert done.completion_tokens is not None and 0 < done.completion_tokens <= 40
    assert done.attempts == 1 and done.latency < 60
    # The whole rewrite path: the answer is received and judged claim by claim (whatever the
    # tiny model says, it is either used with source "llm" or kept out with a reason).
    config = LLMConfig(local_llm.url, "smollm2", timeout=60)
    explanations, report = rewrite_all([_utterance()], config)
    e, outcome = explanations[0], report.outcomes[0]
    assert outcome.completion is not None and outcome.check is not None, outcome.reason
    assert e.model == "smollm2" and e.source in ("llm", "template")
    if e.source == "template":
        assert e.rejected and e.rejected_text is not None and outcome.status == "rejected"
    else:
        assert e.text == outcome.text and e.rejected is None


def test_real_server_honours_the_output_cap(local_llm):
    client = LLMClient(LLMConfig(local_llm.url, max_tokens=8, timeout=60))
    done = client.complete([Message("user", "Write a long story about a dragon and a knight.")])
    assert done.finish_reason == "length" and done.completion_tokens == 8
    assert len(done.text.split()) <= 12


def test_abandoned_request_frees_the_real_server(local_llm):
    """A request past its deadline is dropped, and llama.cpp stops generating: the server has one
    slot, so the next request is only quick if the abandoned generation (1,500 tokens, ~20 s
    here) was cancelled."""
    long_story = [Message("user", "Write a very long story about a dragon, with many chapters.")]
    t0 = time.monotonic()
    with pytest.raises(LLMError) as info:
        LLMClient(LLMConfig(local_llm.url, max_tokens=1500, timeout=0.5)).complete(long_story)
    assert info.value.kind == "timeout" and time.monotonic() - t0 < 1.5
    t1 = time.monotonic()
    quick = LLMClient(LLMConfig(local_llm.url, max_tokens=4, timeout=30)).complete([Message("user", "Hi")])
    assert quick.completion_tokens == 4 and time.monotonic() - t1 < 6.0


def test_cli_analysis_through_the_real_server(local_llm, transcript, tmp_path):
    code = main(["analyze", str(transcript), "--out", str(tmp_path / "out"), "--format", "json", "--quiet",
                 "--llm-url", local_llm.url, "--llm-model", "smollm2", "--llm-max-tokens", "96",
                 "--llm-timeout", "60", "--llm-concurrency", "2"])
    assert code == 0
    data = json.loads((tmp_path / "out" / "chat.json").read_text())
    assert data["options"]["llm_max_tokens"] == 96 and data["options"]["llm_concurrency"] == 2
    explanations = [u["explanation"] for u in data["utterances"]]
    assert explanations and all(e["model"] == "smollm2" for e in explanations)
    assert all(e["source"] in ("llm", "template") for e in explanations)
    assert all(e["rejected"] for e in explanations if e["source"] == "template")
    assert not any("failed" in w for w in data["warnings"])  # the real server answered every request
    rejected = sum(e["source"] == "template" for e in explanations)
    if rejected:
        assert any(f"{rejected} of {len(explanations)} rejected" in w for w in data["warnings"])


# ---------------------------------------------------------------------------- failures (stubs)
def test_hanging_server_analysis_finishes_in_bounded_time(stub_factory, transcript):
    stub = stub_factory()  # accepts the request, never answers
    t0 = time.monotonic()
    result = affectlens.analyze(transcript, llm_url=stub.url, llm_timeout=1.0, llm_concurrency=2)
    elapsed = time.monotonic() - t0
    assert result.timings["llm"] < 3.5  # two rounds of 1 s (3 utterances, 2 at a time) plus overhead
    assert elapsed < 60
    assert [u.explanation.source for u in result.utterances] == ["template"] * 3
    assert all(u.explanation.rejected.startswith("timeout") for u in result.utterances)
    assert all(u.explanation.model == "default" and u.explanation.rejected_text is None for u in result.utterances)
    assert any("3 failed (timeout 3)" in w for w in result.warnings), result.warnings
    # Abandoned cleanly: the client closed each connection at its deadline, so a real server stops.
    deadline = time.monotonic() + 5
    while len(stub.disconnects) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(stub.disconnects) == 3 and max(stub.disconnects) < 1.6, stub.disconnects


def test_a_dead_server_stops_being_asked(stub_factory):
    stub = stub_factory()
    config = LLMConfig(stub.url, timeout=0.5, concurrency=2, give_up_after=2)
    t0 = time.monotonic()
    explanations, report = rewrite_all([_utterance(i) for i in range(10)], config)
    assert time.monotonic() - t0 < 2.5
    assert report.count("failed") >= 2 and report.count("skipped") >= 6 and len(stub.requests) <= 4
    assert all(e.source == "template" for e in explanations)
    assert "not sent after repeated failures" in report.warning()


def test_inventing_server_is_rejected_and_recorded(stub_factory, transcript):
    invented = "The person is angry (88%): her voice trembles and she is not as happy as they might think."
    stub = stub_factory(lambda h, b, n: reply(h, invented))
    result = affectlens.analyze(transcript, llm_url=stub.url, llm_model="inventor")
    data = result.to_dict()
    for u in data["utterances"]:
        e = u["explanation"]
        assert e["source"] == "template" and e["model"] == "inventor"
        assert e["rejected"].startswith("unsupported claims") and e["rejected_text"] == invented
        assert e["text"] != invented
    assert any("3 of 3 rejected by the claim check" in w for w in result.warnings), result.warnings
    table = result.to_pandas()
    assert (table["explanation_source"] == "template").all() and table["explanation_rejected"].notna().all()


def test_wrong_action_unit_description_is_rejected(stub_factory):
    """The issue's case: a description of one unit under another unit's code."""
    stub = stub_factory(lambda h, b, n: reply(h, "She looks sad (60%): lip corners pulled up (AU23, 4.4/5)."))
    u = _utterance()
    e = rewrite(u.segment, u.evidence, u.fused, u.explanation, LLMConfig(stub.url))
    assert e.source == "template" and "AU23 is not described" in e.rejected


def test_faithful_answer_is_used_and_words_kept_apart(stub_factory):
    answer = ("She looks sad (60%): her lip corners are pulled down (AU15, 5.0/5) and her lips are tightened "
              "(AU23, 4.4/5).\nEmotion words: grief, regret")
    stub = stub_factory(lambda h, b, n: reply(h, answer))
    u = _utterance()
    e = rewrite(u.segment, u.evidence, u.fused, u.explanation, LLMConfig(stub.url, "m"))
    assert e.source == "llm" and e.model == "m" and e.rejected is None
    assert e.text.startswith("She looks sad (60%)") and "Emotion words" not in e.text
    assert e.open_vocabulary == ("grief", "regret")
    assert u.fused.emotion_words == (("sad", 0.6),)  # the fused words stay as they are


def test_request_is_bounded_and_carries_the_key(stub_factory, monkeypatch):
    monkeypatch.setenv("AFFECTLENS_TEST_KEY", "secret-123")
    stub = stub_factory(lambda h, b, n: reply(h, "She looks sad (60%)."))
    config = LLMConfig(stub.url, "m", api_key_env="AFFECTLENS_TEST_KEY", max_tokens=77)
    rewrite_all([_utterance()], config)
    body, headers = stub.requests[0], stub.headers[0]
    assert body["max_tokens"] == 77 and body["temperature"] == 0 and body["stream"] is False
    assert body["stop"] and len(body["stop"]) <= 4
    assert [m["role"] for m in body["messages"]] == ["system", "user", "assistant", "user"]
    assert "AU15, 5.0/5" in body["messages"][-1]["content"]
    assert headers["Authorization"] == "Bearer secret-123"


def test_transient_errors_are_retried_within_the_deadline(stub_factory):
    def flaky(h, b, n):
        if n == 1:
            reply(h, "busy", status=503)
        else:
            reply(h, "She looks sad (60%).")
    stub = stub_factory(flaky)
    done = LLMClient(LLMConfig(stub.url, retries=1, backoff=0.1)).complete([Message("user", "x")])
    assert done.attempts == 2 and len(stub.requests) == 2
    stub2 = stub_factory(lambda h, b, n: reply(h, "no", status=503))
    with pytest.raises(LLMError) as info:
        LLMClient(LLMConfig(stub2.url, retries=0)).complete([Message("user", "x")])
    assert info.value.kind == "http" and len(stub2.requests) == 1


def test_unreachable_server_fails_fast():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    t0 = time.monotonic()
    explanations, report = rewrite_all([_utterance()], LLMConfig(f"http://127.0.0.1:{port}/v1", timeout=5,
                                                                  backoff=0.1))
    assert time.monotonic() - t0 < 2 and report.outcomes[0].status == "failed"
    assert explanations[0].source == "template" and explanations[0].rejected.startswith("unreachable")


def test_deadline_covers_a_slow_trickle(stub_factory):
    """A per-read socket timeout would never fire on a server that sends a byte every 0.3 s."""
    def trickle(h, b, n):
        h.send_response(200)
        h.send_header("Content-Length", "1000")
        h.end_headers()
        for _ in range(100):
            h.wfile.write(b" ")
            h.wfile.flush()
            time.sleep(0.3)
    stub = stub_factory(trickle)
    t0 = time.monotonic()
    with pytest.raises(LLMError) as info:
        LLMClient(LLMConfig(stub.url, timeout=1.0)).complete([Message("user", "x")])
    assert info.value.kind == "timeout" and time.monotonic() - t0 < 1.6


@pytest.mark.parametrize("concurrency", [1, 2, 3])
def test_requests_in_flight_never_exceed_the_limit(stub_factory, concurrency):
    def slow(h, b, n):
        time.sleep(0.25)
        reply(h, "She looks sad (60%).")
    stub = stub_factory(slow)
    t0 = time.monotonic()
    _, report = rewrite_all([_utterance(i) for i in range(6)], LLMConfig(stub.url, concurrency=concurrency))
    wall = time.monotonic() - t0
    assert stub.max_active == concurrency and report.count("accepted") == 6
    assert wall < 0.25 * (6 / concurrency) + 1.0 and wall >= 0.25 * (6 // concurrency) - 0.05


def test_config_and_options_refuse_unbounded_values():
    for kwargs in ({"max_tokens": 0}, {"timeout": 0}, {"timeout": float("inf")}, {"concurrency": 0},
                   {"retries": -1}, {"max_tokens": True}):
        with pytest.raises(ParameterError):
            LLMConfig("http://127.0.0.1:1/v1", **kwargs)
    with pytest.raises(ParameterError):
        LLMConfig("127.0.0.1:8080")


def test_llm_words_are_scored_apart_from_the_fused_ones(tmp_path):
    data = {"media": {"path": "clip.mp4"}, "utterances": [{
        "segment": {"start": 0, "end": 2}, "fused": {"label": "sad", "probs": {"sad": 0.6},
                                                     "emotion_words": [["sad", 0.6], ["remorse", 0.3]]},
        "explanation": {"open_vocabulary": ["grief", "regret"]}}]}
    (tmp_path / "clip.json").write_text(json.dumps(data))
    assert read_predictions(tmp_path)["clip"].labels == ("sad", "remorse")
    assert read_predictions(tmp_path, words_from="llm")["clip"].labels == ("grief", "regret")


def test_serve_and_annotate_take_the_llm_options(tmp_path):
    """``serve`` hands the options to its Pipeline through AnalysisOptions (only the wiring from the
    command line is under test; the service itself is tested in test_serve.py)."""
    from affectlens.cli import build_parser
    from affectlens.serve.cli import build_config

    parser = build_parser()
    args = parser.parse_args(["serve", "--data-dir", str(tmp_path), "--llm-url", "http://127.0.0.1:8080/v1",
                              "--llm-max-tokens", "64", "--llm-timeout", "5", "--llm-concurrency", "3",
                              "--llm-retries", "0"])
    o = build_config(args).options
    assert (o.llm_url, o.llm_max_tokens, o.llm_timeout, o.llm_concurrency, o.llm_retries) == \
        ("http://127.0.0.1:8080/v1", 64, 5.0, 3, 0)
    args = parser.parse_args(["annotate", "x.mp4", "--out", "o", "--llm-url", "http://h/v1", "--llm-concurrency", "4"])
    assert args.llm_concurrency == 4 and args.llm_max_tokens == 160
    for bad in (["--llm-timeout", "0"], ["--llm-max-tokens", "0"], ["--llm-concurrency", "x"]):
        with pytest.raises(SystemExit):
            parser.parse_args(["analyze", "a.mp4", *bad])


def test_the_html_report_says_who_worded_each_explanation():
    import io
    from dataclasses import replace

    from affectlens import analyze_text
    from affectlens.writers.html import WriteHTML

    result = analyze_text(["I can't believe you did this!", "I'm so sorry.", "Fine."])
    ex = result.utterances[0].explanation
    result.utterances[0] = replace(result.utterances[0], explanation=replace(ex, source="llm", model="smollm2"))
    result.utterances[1] = replace(result.utterances[1], explanation=replace(
        result.utterances[1].explanation, model="smollm2", rejected="claims a cue that was not measured"))
    buffer = io.StringIO()
    WriteHTML().write(result, buffer)
    page = buffer.getvalue()
    assert "worded by smollm2; every claim checked" in page
    assert "smollm2's answer was not used: claims a cue that was not measured" in page
    assert page.count("answer was not used") == 1 and page.count("worded by") == 1
