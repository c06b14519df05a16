"""Property tests for the analysis options and the ``analyze`` command line (issue #28).

Any value of any field must either build :class:`AnalysisOptions` or raise
:class:`ParameterError`, never a TypeError or the like; and what does build must be what the
stages downstream rely on (finite positive rates and lengths, whole thread counts, known
modalities...). A bad value found only hours into an analysis, or one that hangs it
(``max_utterance=0`` never ends the utterance splitting), is the failure this guards against.

On the command line, any argument either parses, exits with argparse's code 2, or ends as a
one-line ``affectlens: error:`` with code 1; the pipeline itself is replaced by a stub, so no
media is analysed here.
"""

from __future__ import annotations

import contextlib
import io
import math
import numbers
import os
from collections.abc import Mapping
from dataclasses import fields
from fractions import Fraction
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from affectlens.cli import main
from affectlens.core.errors import ParameterError
from affectlens.pipeline import AnalysisOptions, available_modalities

FAST = settings(max_examples=150, deadline=None)
NAMES = ("face", "voice", "words")


def _finite(value: object) -> bool:
    """An independent statement of "usable number": NaN fails both comparisons."""
    return not isinstance(value, bool) and isinstance(value, numbers.Real) and -math.inf < value < math.inf


def _check_sane(options: AnalysisOptions) -> None:
    """What the stages assume of options that were accepted."""
    o = options
    assert isinstance(o.modalities, tuple | list) and set(o.modalities) <= set(available_modalities())
    assert o.face_fps is None or (_finite(o.face_fps) and o.face_fps > 0)
    assert o.threads is None or (type(o.threads) is int and o.threads >= 1)
    assert _finite(o.window) and o.window > 0
    assert _finite(o.max_utterance) and o.max_utterance > 0
    assert o.max_side is None or (type(o.max_side) is int and o.max_side >= 1)
    assert o.language is None or (isinstance(o.language, str) and o.language.isalpha() and o.language.islower())
    assert o.subtitles is None or isinstance(o.subtitles, str | os.PathLike)
    assert isinstance(o.asr_model, str) and o.asr_model.strip()
    assert o.fusion_priors is None or (
        isinstance(o.fusion_priors, Mapping)
        and all(isinstance(k, str) and _finite(v) and v >= 0 for k, v in o.fusion_priors.items())
    )
    assert o.llm_url is None or (isinstance(o.llm_url, str) and (not o.llm_url or o.llm_url.startswith(("http://",
                                                                                                         "https://"))))
    assert isinstance(o.llm_model, str)
    assert o.llm_api_key_env is None or isinstance(o.llm_api_key_env, str)
    assert type(o.llm_max_tokens) is int and o.llm_max_tokens >= 1
    assert _finite(o.llm_timeout) and o.llm_timeout > 0
    assert type(o.llm_concurrency) is int and o.llm_concurrency >= 1
    assert type(o.llm_retries) is int and o.llm_retries >= 0


#: Values of the wrong type, shape or size, for any field.
_WILD = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(10**300, 10**400), st.floats(), st.fractions(),
    st.decimals(), st.complex_numbers(), st.text(max_size=8), st.binary(max_size=4),
    st.lists(st.sampled_from([*NAMES, "x", 1]), max_size=3), st.dictionaries(st.text(max_size=4), st.floats(), max_size=2),
    st.builds(object), st.builds(Path, st.text(max_size=4)),
)
#: Values near the valid ones per field, where validation mistakes hide.
_NEAR: dict[str, st.SearchStrategy[Any]] = {
    "modalities": st.one_of(
        st.lists(st.sampled_from([*NAMES, "Face", "x", ""]), max_size=4).map(tuple),
        st.lists(st.sampled_from(NAMES), max_size=3),
        st.sampled_from(NAMES),
        st.lists(st.sampled_from(NAMES), max_size=3).map(lambda ms: (m for m in ms)),
    ),
    "face_fps": st.one_of(st.floats(), st.integers(-5, 60), st.just(10**400)),
    "threads": st.one_of(st.integers(-2, 64), st.floats(-2, 64)),
    "window": st.one_of(st.floats(), st.integers(-2, 10)),
    "max_utterance": st.one_of(st.floats(), st.integers(-2, 30)),
    "max_side": st.one_of(st.integers(-2, 4096), st.floats(0, 4096)),
    "language": st.sampled_from(["en", "fr", "yue", "EN", "en-US", "english", "", " en", "e1"]),
    "subtitles": st.one_of(st.text(max_size=8), st.builds(Path, st.text(max_size=8))),
    "asr": st.booleans(),
    "speakers": st.booleans(),
    "asr_model": st.sampled_from(["whisper-base", "", "  ", "tiny"]),
    "fusion_priors": st.dictionaries(st.sampled_from([*NAMES, 1]), st.one_of(st.floats(), st.integers(-1, 3)), max_size=3),
    "llm_url": st.sampled_from(["http://127.0.0.1:8080/v1", "https://x", "", "ftp://x", "localhost:8080", "HTTP://x"]),
    "llm_model": st.text(max_size=6),
    "llm_api_key_env": st.text(max_size=6),
    "llm_max_tokens": st.one_of(st.integers(-2, 4096), st.floats(0, 200)),
    "llm_timeout": st.one_of(st.floats(), st.integers(-2, 60)),
    "llm_concurrency": st.one_of(st.integers(-2, 16), st.floats(0, 4)),
    "llm_retries": st.one_of(st.integers(-2, 5), st.floats(0, 3)),
}
assert set(_NEAR) == {f.name for f in fields(AnalysisOptions)}, "a new field needs a strategy here"
_KWARGS = st.fixed_dictionaries({}, optional={name: st.one_of(_WILD, near) for name, near in _NEAR.items()})


@FAST
@given(kwargs=_KWARGS)
@example(kwargs={"face_fps": "10"})
@example(kwargs={"window": math.nan})
@example(kwargs={"max_utterance": 0})
@example(kwargs={"modalities": None})
@example(kwargs={"fusion_priors": [1.0]})
def test_any_options_build_or_raise_parameter_error(kwargs: dict[str, Any]) -> None:
    """Never a TypeError/ValueError/OverflowError of our making, and accepted means usable."""
    try:
        options = AnalysisOptions(**kwargs)
    except ParameterError:
        return
    _check_sane(options)


#: Valid values of every field: validation must not refuse any of them.
_VALID = st.fixed_dictionaries({}, optional={
    "modalities": st.lists(st.sampled_from(NAMES), max_size=3, unique=True).map(tuple),
    "face_fps": st.none() | st.floats(1e-3, 1000) | st.integers(1, 120) | st.fractions(Fraction(1, 10), 100),
    "threads": st.none() | st.integers(1, 256),
    "window": st.floats(1e-3, 3600) | st.integers(1, 60),
    "max_utterance": st.floats(1e-3, 3600) | st.integers(1, 60),
    "max_side": st.none() | st.integers(1, 8192),
    "language": st.none() | st.sampled_from(["en", "de", "zh", "haw", "yue"]),
    "subtitles": st.none() | st.text(max_size=8) | st.builds(Path, st.text(max_size=8)),
    "asr": st.booleans(),
    "speakers": st.booleans(),
    "asr_model": st.sampled_from(["whisper-base", "/models/faster-whisper-small", "large-v3"]),
    "fusion_priors": st.none() | st.dictionaries(st.sampled_from(NAMES), st.floats(0, 10), max_size=3),
    "llm_url": st.none() | st.sampled_from(["", "http://127.0.0.1:8080/v1", "https://api.example.org/v1"]),
    "llm_model": st.text(max_size=8),
    "llm_api_key_env": st.none() | st.text(max_size=8),
    "llm_max_tokens": st.integers(1, 8192),
    "llm_timeout": st.floats(1e-3, 3600) | st.integers(1, 600),
    "llm_concurrency": st.integers(1, 64),
    "llm_retries": st.integers(0, 10),
})


@FAST
@given(kwargs=_VALID)
def test_valid_options_are_accepted_as_given(kwargs: dict[str, Any]) -> None:
    options = AnalysisOptions(**kwargs)
    for name, value in kwargs.items():
        assert getattr(options, name) == value
    _check_sane(options)


@pytest.mark.parametrize("kwargs", [
    {"window": math.nan}, {"window": math.inf}, {"face_fps": math.inf}, {"face_fps": "10"},
    {"max_utterance": 0}, {"max_utterance": -1.0}, {"max_utterance": math.nan}, {"max_side": -1}, {"max_side": 2.5},
    {"threads": True}, {"modalities": None}, {"modalities": "face"}, {"modalities": (m for m in ["face"])},
    {"fusion_priors": [1.0]}, {"fusion_priors": {"face": math.inf}}, {"fusion_priors": {"face": -1.0}},
    {"language": "english"}, {"language": 1}, {"asr_model": None}, {"llm_url": "localhost:8080"},
    {"subtitles": 3}, {"face_fps": 10**400}, {"llm_url": "http://"}, {"llm_max_tokens": 0},
    {"llm_max_tokens": 1.5}, {"llm_timeout": 0}, {"llm_timeout": math.nan}, {"llm_concurrency": 0},
    {"llm_concurrency": True}, {"llm_retries": -1}, {"llm_retries": False},
])
def test_bad_options_found_by_the_properties(kwargs: dict[str, Any]) -> None:
    """Regression: each of these was accepted (NaN windows, hangs) or raised a non-ParameterError."""
    with pytest.raises(ParameterError):
        AnalysisOptions(**kwargs)


# --- the command line ------------------------------------------------------------------------


class _Reached(Exception):
    """Raised by the stub pipeline: arguments got as far as a built AnalysisOptions."""

    def __init__(self, options: AnalysisOptions) -> None:
        super().__init__()
        self.options = options


def _stub_pipeline(options: AnalysisOptions, *args: object, **kwargs: object) -> None:
    raise _Reached(options)


_ARG = st.one_of(
    st.text(max_size=8), st.sampled_from(["0", "-1", "1", "10", "all", "ALL", "nan", "inf", "-inf", "1e999", "2.5",
                                           "٣", "1_0", " 7 ", "", "face,voice", "words", "face,,x", "en", "json,csv"]),
)
_OPTIONS = ("--face-fps", "--threads", "--modalities", "--language", "--format", "--subtitles", "--asr-model",
            "--llm-url", "--llm-model", "--llm-max-tokens", "--llm-timeout", "--llm-concurrency", "--llm-retries")


#: ``tmp_path`` is shared by the examples of one test: ``--out`` only has to be a writable folder.
@settings(FAST, max_examples=100, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(chosen=st.dictionaries(st.sampled_from(_OPTIONS), _ARG, max_size=4), two_paths=st.booleans())
@example(chosen={"--face-fps": "nan"}, two_paths=False)
@example(chosen={"--face-fps": "inf"}, two_paths=False)
def test_analyze_arguments_parse_or_fail_cleanly(tmp_path: Path, chosen: dict[str, str], two_paths: bool) -> None:
    """argparse's exit 2, a one-line error with code 1 or 2, or options that pass every check."""
    argv = ["analyze", "a.mp4", *(["b.mp4"] if two_paths else []), "--quiet", f"--out={tmp_path}",
            *(f"{opt}={value}" for opt, value in chosen.items())]
    err = io.StringIO()
    with mock.patch("affectlens.pipeline.Pipeline", _stub_pipeline), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as e:  # argparse refused an argument
            assert e.code == 2
            return
        except _Reached as reached:
            _check_sane(reached.options)
            assert "--face-fps" not in chosen or reached.options.face_fps is None or reached.options.face_fps > 0
            return
    lines = err.getvalue().strip().splitlines()
    assert code in (1, 2) and len(lines) == 1 and lines[0].startswith("affectlens: error:"), (code, lines)
