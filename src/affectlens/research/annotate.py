"""Batch MERR-style annotation of unlabelled clips: resumable, failure-tolerant.

For each clip: run the pipeline, build a :class:`~affectlens.research.merr.MerrRecord`, and
save the state (atomically) before moving on, so an interrupted or crashed batch loses at most
the clip in flight. Outputs in ``out_dir``:

* ``merr.json``: clip name -> MERR record, for clips whose agreement reaches ``min_agreement``;
* ``instructions.jsonl``: one instruction-tuning conversation per kept clip;
* ``annotate_state.json``: every clip seen, ``done`` (with its record, kept or not) or
  ``failed`` (with its error). ``merr.json`` and ``instructions.jsonl`` are derived from it, so
  rerunning with another ``min_agreement`` re-filters without re-analysing.

The analysis function is injected (``analyze=``), defaulting to :func:`affectlens.analyze`:
tests and other pipelines pass any callable ``analyze(path, subtitles=None|path) -> Result``.

With ``llm=`` (``--llm-url``), a language model writes each record's ``smp_reason_caption``
from its cue lists (:mod:`affectlens.research.reasoning`), ``llm.concurrency`` requests at a
time while the next clips are analysed; a caption that fails the claim check keeps the
template text. Captions are saved as they arrive, so a rerun resumes them too: records already
captioned by that model are not sent again, records whose request failed are.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tqdm import tqdm

from ..core.atomic import write_text_atomic
from ..core.errors import ParameterError
from ..ingest.subtitles import find_subtitles, subtitles_folder
from .merr import AnalyzedClip, MerrRecord, RecordOptions, build_record

if TYPE_CHECKING:
    from ..explain.llm import LLMConfig

logger = logging.getLogger(__name__)

VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv", ".webm", ".avi", ".m4v")
STATE_FILE = "annotate_state.json"
MERR_FILE = "merr.json"
INSTRUCTIONS_FILE = "instructions.jsonl"
STATE_VERSION = 1

AnalyzeFn = Callable[..., AnalyzedClip]


@dataclass(frozen=True)
class ClipState:
    """How one clip ended: ``done`` with its record, or ``failed`` with the error."""

    name: str
    path: str
    status: str  # "done" | "failed"
    record: MerrRecord | None = None
    error: str | None = None

    def to_plain(self) -> dict[str, Any]:
        return {"path": self.path, "status": self.status, "error": self.error,
                "record": None if self.record is None else self.record.to_merr()}

    @classmethod
    def from_plain(cls, name: str, data: dict[str, Any]) -> ClipState:
        rec = data.get("record")
        return cls(name=name, path=data.get("path", ""), status=data["status"], error=data.get("error"),
                   record=None if rec is None else MerrRecord.from_merr(name, rec))


@dataclass(frozen=True)
class AnnotateSummary:
    """What a run did: counts, and where it wrote."""

    out_dir: Path
    analysed: int  # clips analysed in this run
    skipped: int  # clips already finished before this run
    failed: tuple[str, ...]  # clips that failed (this run or before)
    kept: tuple[str, ...]  # clips in merr.json
    filtered: tuple[str, ...]  # done, but agreement below min_agreement
    states: dict[str, ClipState] = field(default_factory=dict, repr=False)
    captions: dict[str, int] = field(default_factory=dict)  # language-model captions this run: status -> count


def find_clips(inputs: Iterable[str | Path]) -> list[Path]:
    """Video files named in ``inputs``: files as given, folders searched (not recursively), sorted."""
    clips: list[Path] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            clips.extend(sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES))
        elif path.is_file():
            clips.append(path)
        else:
            raise ParameterError(f"input {path} is neither a video file nor a folder")
    names = [c.stem for c in clips]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ParameterError(f"clip names must be unique (records are keyed by name); repeated: {', '.join(dupes)}")
    return clips



def load_state(out_dir: Path) -> dict[str, ClipState]:
    """Clip states saved by an earlier run (empty when none), including the clips a run on Ray
    recorded in ``manifest.jsonl`` (see :mod:`affectlens.scale.annotate`), so either path
    resumes the other."""
    from ..scale.annotate import merge_states, states_from_manifest

    path = out_dir / STATE_FILE
    states: dict[str, ClipState] = {}
    if path.is_file():
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            states = {name: ClipState.from_plain(name, item) for name, item in data["clips"].items()}
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise ParameterError(f"cannot resume: {path} is unreadable ({e}); move it away to start afresh") from e
    return merge_states(states, states_from_manifest(out_dir))


def save_outputs(out_dir: Path, states: dict[str, ClipState], min_agreement: float) -> tuple[list[str], list[str]]:
    """Write the state file, then ``merr.json`` and ``instructions.jsonl`` derived from it."""
    write_text_atomic(out_dir / STATE_FILE, json.dumps(
        {"version": STATE_VERSION, "clips": {n: s.to_plain() for n, s in states.items()}}, indent=1) + "\n")
    kept, filtered = [], []
    merr: dict[str, Any] = {}
    lines = []
    for name, st in states.items():
        if st.status != "done" or st.record is None:
            continue
        if st.record.agreement < min_agreement:
            filtered.append(name)
            continue
        kept.append(name)
        merr[name] = st.record.to_merr()
        lines.append(json.dumps(st.record.instruction(video=Path(st.path).name), ensure_ascii=False))
    write_text_atomic(out_dir / MERR_FILE, json.dumps(merr, indent=1, ensure_ascii=False) + "\n")
    write_text_atomic(out_dir / INSTRUCTIONS_FILE, "".join(line + "\n" for line in lines))
    return kept, filtered


def _default_analyze() -> AnalyzeFn:
    try:
        from .. import analyze
    except ImportError as e:  # the pipeline is optional for the research tools
        raise ParameterError(f"affectlens.analyze is not available ({e}); pass analyze= explicitly") from e
    return analyze


def prepare_run(inputs: Sequence[str | Path], out_dir: str | Path, subtitles_dir: str | Path | None,
                min_agreement: float) -> tuple[list[Path], Path, Path | None]:
    """The checks every annotate run makes before analysing anything (local and on Ray):
    the clips found in ``inputs``, the output folder (created) and the subtitles folder."""
    if not 0.0 <= min_agreement <= 1.0:
        raise ParameterError(f"min_agreement must be between 0 and 1; got {min_agreement}")
    out = Path(out_dir)
    subs = subtitles_folder(subtitles_dir)
    clips = find_clips(inputs)
    if not clips:
        raise ParameterError(f"no video files found in {', '.join(map(str, inputs))}")
    out.mkdir(parents=True, exist_ok=True)
    return clips, out, subs


def annotate(
    inputs: Sequence[str | Path],
    out_dir: str | Path,
    *,
    min_agreement: float = 0.0,
    subtitles_dir: str | Path | None = None,
    analyze: AnalyzeFn | None = None,
    options: RecordOptions | None = None,
    retry_failed: bool = False,
    progress: bool = True,
    llm: LLMConfig | None = None,
) -> AnnotateSummary:
    """Annotate clips into MERR records, resuming from ``out_dir`` when it holds a state file.

    Parameters
    ----------
    inputs : sequence of str or Path
        Video files and/or folders of videos.
    out_dir : str or Path
        Created if needed; see the module docstring for what it receives.
    min_agreement : float, default=0.0
        Keep a clip in ``merr.json`` only when its modality agreement (0..1) reaches this.
    subtitles_dir : str or Path, optional
        Folder of ``<clip>.srt|.vtt|.csv`` transcripts, passed to ``analyze(subtitles=...)``.
    analyze : callable, optional
        ``analyze(path, subtitles=None|path) -> Result``; default :func:`affectlens.analyze`.
        Injected so tests and custom pipelines can annotate without the shipped models.
    options : RecordOptions, optional
        Thresholds of the record builder.
    retry_failed : bool, default=False
        Analyse clips that failed in an earlier run again (finished clips are always skipped).
    progress : bool, default=True
        Show a tqdm bar on stderr.
    llm : LLMConfig, optional
        A language model that writes ``smp_reason_caption`` from each record's cues (checked
        claim by claim; the template caption is kept otherwise). Unset: nothing leaves the machine.

    Returns
    -------
    AnnotateSummary
    """
    clips, out, subs = prepare_run(inputs, out_dir, subtitles_dir, min_agreement)
    states = load_state(out)
    todo = [c for c in clips if c.stem not in states
            or (retry_failed and states[c.stem].status == "failed")]
    skipped = len(clips) - len(todo)
    if skipped:
        logger.info("resuming: %d of %d clips already finished", skipped, len(clips))
    run_analyze = analyze or (_default_analyze() if todo else None)
    captions = _Captions(llm, states) if llm is not None else None
    try:
        if captions is not None:  # records finished earlier but not yet captioned by this model
            wanted = {c.stem for c in clips}
            for name in [n for n in states if n in wanted]:
                captions.submit(name)
        bar = tqdm(todo, desc="annotate", unit="clip", file=sys.stderr, disable=not progress)
        for clip in bar:
            bar.set_postfix_str(clip.name, refresh=False)
            try:
                result = run_analyze(clip, subtitles=find_subtitles(clip, subs))  # type: ignore[misc]
                state = ClipState(clip.stem, str(clip), "done", record=build_record(clip.stem, result, options))
            except Exception as e:  # noqa: BLE001 - one bad clip must never stop the batch
                logger.warning("%s failed: %s: %s", clip.name, type(e).__name__, e)
                state = ClipState(clip.stem, str(clip), "failed", error=f"{type(e).__name__}: {e}")
            states[clip.stem] = state
            if captions is not None:
                captions.submit(clip.stem)
                captions.collect(wait=False)
            save_outputs(out, states, min_agreement)
        if captions is not None:
            captions.collect(wait=True)
    finally:
        if captions is not None:
            captions.close()
            save_outputs(out, states, min_agreement)  # captions that arrived before an interruption are kept
    kept, filtered = save_outputs(out, states, min_agreement)
    failed = tuple(n for n, s in states.items() if s.status == "failed")
    return AnnotateSummary(out_dir=out, analysed=len(todo), skipped=skipped, failed=failed, kept=tuple(kept),
                           filtered=tuple(filtered), states=states,
                           captions=dict(captions.counts) if captions is not None else {})


class _Captions:
    """Caption requests in flight for :func:`annotate`: submitted as records are built, their
    results written into ``states`` by the calling thread (so the state file is only ever
    written from one thread)."""

    def __init__(self, config: LLMConfig, states: dict[str, ClipState]) -> None:
        from ..explain.llm import Asker

        self.config = config
        self.states = states
        self.asker = Asker(config)
        self.pending: dict[str, Any] = {}
        self.counts: dict[str, int] = {}

    def submit(self, name: str) -> None:
        from .reasoning import caption_job, wants_caption

        st = self.states.get(name)
        if st is None or st.status != "done" or st.record is None or name in self.pending:
            return
        if wants_caption(st.record, self.config.model):
            self.pending[name] = self.asker.submit(caption_job(st.record))

    def collect(self, wait: bool) -> None:
        """Write the captions that have arrived (all of them with ``wait``) into the states."""
        from .reasoning import apply_caption

        for name, future in list(self.pending.items()):
            if not (wait or future.done()):
                continue
            del self.pending[name]
            if future.cancelled():
                continue
            outcome = future.result()
            st = self.states[name]
            if st.record is not None:
                self.states[name] = replace(st, record=apply_caption(st.record, outcome, self.config.model))
            self.counts[outcome.status] = self.counts.get(outcome.status, 0) + 1

    def close(self) -> None:
        for future in self.pending.values():
            future.cancel()  # not yet sent: they stay uncaptioned and a rerun sends them
        self.asker.close()
        self.collect(wait=False)
