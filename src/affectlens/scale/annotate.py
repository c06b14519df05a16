"""``affectlens annotate --ray``: MERR-style records and instruction data for a whole corpus.

Workers analyse clips and build each clip's MERR record; the driver appends every record to
``manifest.jsonl`` as it arrives (synced: the durable copy) and groups the records that pass
``min_agreement`` into shards written whole and atomically:

* ``shards/instructions-00000.jsonl``: the instruction-tuning conversations of up to
  ``shard_size`` clips (what a trainer reads, file by file, while the corpus still runs);
* ``shards/merr-00000.json``: the MERR records of the same clips (written after the
  instructions: its presence means the shard is complete).

A clip is in exactly one shard: a rerun reads which clips the ``merr-*.json`` files hold, removes
an instruction shard whose MERR shard never got written (a kill between the two) and puts
every recorded clip that is in no shard into the next one. At the end the whole dataset is
also written as the local command writes it (``merr.json``, ``instructions.jsonl``,
``annotate_state.json``), so the local ``affectlens annotate`` resumes a Ray run, a Ray run
resumes a local one, and a local run with ``--llm-url`` can caption what Ray annotated.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..core.atomic import write_text_atomic
from ..core.errors import ParameterError
from ..pipeline import AnalysisOptions
from ..research.annotate import (
    AnnotateSummary,
    ClipState,
    prepare_run,
    save_outputs,
)
from ..research.merr import MerrRecord, RecordOptions
from .corpus import LocalExecutor, RayExecutor, drive, sidecar_subtitles, speech_recognition_needed
from .manifest import DONE, FAILED, MANIFEST_FILE, ManifestEntry, exclusive, read_manifest
from .progress import CorpusProgress
from .ray_pool import EventHook
from .worker import AnalysisWorker

SHARDS_DIR = "shards"
DEFAULT_SHARD_SIZE = 1000
_MERR_SHARD = re.compile(r"^merr-(\d+)\.json$")
_INSTRUCTION_SHARD = re.compile(r"^instructions-(\d+)\.jsonl$")


def states_from_manifest(out_dir: str | Path) -> dict[str, ClipState]:
    """Clip states recorded in ``out_dir``'s manifest by an annotate run on Ray."""
    states = {}
    for stem, e in read_manifest(Path(out_dir) / MANIFEST_FILE).items():
        if e.status == DONE and e.record is None:
            continue  # an analyze run's line, or a resumed one without its record
        try:
            record = MerrRecord.from_merr(stem, e.record) if e.record is not None else None
        except (KeyError, TypeError, ValueError):
            continue
        states[stem] = ClipState(stem, e.input, e.status, record=record, error=e.error)
    return states


def merge_states(saved: dict[str, ClipState], recorded: dict[str, ClipState]) -> dict[str, ClipState]:
    """The state file's clips, completed by the manifest's: a clip missing from the state file
    (a Ray run killed before its end) is taken from the manifest, and so is a clip the state file
    says failed and the manifest says done (a failure retried on the other path). Otherwise the
    state file wins: a local run may have captioned its records since."""
    merged = dict(saved)
    for name, st in recorded.items():
        if name not in merged or (merged[name].status == FAILED and st.status == DONE):
            merged[name] = st
    return merged


class ShardWriter:
    """Groups finished records into numbered shards of ``size`` clips (see the module docstring)."""

    def __init__(self, out_dir: Path, size: int, min_agreement: float) -> None:
        self.dir = out_dir / SHARDS_DIR
        self.dir.mkdir(parents=True, exist_ok=True)
        self.size = size
        self.min_agreement = min_agreement
        self.sharded: set[str] = set()
        self.buffer: list[tuple[MerrRecord, str]] = []
        self.written: list[Path] = []
        indices = [-1]
        for p in self.dir.iterdir():
            if m := _MERR_SHARD.match(p.name):
                indices.append(int(m.group(1)))
                self.sharded.update(json.loads(p.read_text(encoding="utf-8")))
        for p in self.dir.iterdir():  # instructions whose MERR shard was never written: a kill between the two
            if (m := _INSTRUCTION_SHARD.match(p.name)) and not (self.dir / f"merr-{m.group(1)}.json").is_file():
                p.unlink()
        self.next = max(indices) + 1

    def add(self, record: MerrRecord, path: str) -> None:
        if record.name in self.sharded or record.agreement < self.min_agreement:
            return
        if any(r.name == record.name for r, _ in self.buffer):
            return
        self.buffer.append((record, path))
        if len(self.buffer) >= self.size:
            self.flush()

    def flush(self) -> None:
        """Write the buffered records as the next shard (instructions first, MERR last)."""
        if not self.buffer:
            return
        k = self.next
        lines = "".join(json.dumps(r.instruction(video=Path(p).name), ensure_ascii=False) + "\n"
                        for r, p in self.buffer)
        write_text_atomic(self.dir / f"instructions-{k:05d}.jsonl", lines)
        merr = {r.name: r.to_merr() for r, _ in self.buffer}
        write_text_atomic(self.dir / f"merr-{k:05d}.json", json.dumps(merr, indent=1, ensure_ascii=False) + "\n")
        self.written.append(self.dir / f"merr-{k:05d}.json")
        self.sharded.update(merr)
        self.buffer.clear()
        self.next = k + 1


def annotate_corpus(
    inputs: Sequence[str | Path],
    out_dir: str | Path,
    *,
    use_ray: bool = True,
    workers: int | None = None,
    ray_address: str | None = None,
    cpus_per_worker: float = 1,
    min_agreement: float = 0.0,
    subtitles_dir: str | Path | None = None,
    analysis: AnalysisOptions | None = None,
    record_options: RecordOptions | None = None,
    retry_failed: bool = False,
    shard_size: int = DEFAULT_SHARD_SIZE,
    progress: bool | None = None,
    hook: EventHook | None = None,
) -> AnnotateSummary:
    """Annotate a corpus into sharded MERR records and instruction data, resumable after any crash.

    Parameters
    ----------
    inputs : sequence of str or Path
        Video files and/or folders of videos (clip names must be unique).
    out_dir : str or Path
        Output folder (on a cluster, one every worker can reach at the same path).
    use_ray : bool, default=True
        Run on Ray (``workers`` actors); False: one pipeline in this process, same files.
    workers, ray_address, cpus_per_worker
        As in :func:`~affectlens.scale.corpus.analyze_many`.
    min_agreement : float, default=0.0
        Keep a clip in the shards and ``merr.json`` only when its modality agreement reaches this.
    subtitles_dir : str or Path, optional
        Folder of ``<clip>.srt|.vtt|.csv`` transcripts, used instead of speech recognition.
    analysis : AnalysisOptions, optional
        Options of each worker's pipeline (default options otherwise).
    record_options : RecordOptions, optional
        Thresholds of the record builder.
    retry_failed : bool, default=False
        Analyse clips that failed in an earlier run again.
    shard_size : int, default=1000
        Clips per shard.
    progress : bool, optional
        Show the corpus progress bar (default: when stderr is a terminal).
    hook : callable, optional
        Receives the pool's :class:`~affectlens.scale.ray_pool.CorpusEvent` s.

    Returns
    -------
    AnnotateSummary
    """
    if not isinstance(shard_size, int) or shard_size < 1:
        raise ParameterError(f"shard_size must be a whole number of at least 1; got {shard_size!r}")
    clips, out, subs = prepare_run(inputs, out_dir, subtitles_dir, min_agreement)
    with exclusive(out):  # the shards and the merged files too are written by one run at a time
        return _annotate_locked(clips, out, subs, use_ray=use_ray, workers=workers, ray_address=ray_address,
                                cpus_per_worker=cpus_per_worker, min_agreement=min_agreement, analysis=analysis,
                                record_options=record_options, retry_failed=retry_failed, shard_size=shard_size,
                                progress=progress, hook=hook)


def _annotate_locked(clips: list[Path], out: Path, subs: Path | None, *, use_ray: bool, workers: int | None,
                     ray_address: str | None, cpus_per_worker: float, min_agreement: float,
                     analysis: AnalysisOptions | None, record_options: RecordOptions | None, retry_failed: bool,
                     shard_size: int, progress: bool | None, hook: EventHook | None) -> AnnotateSummary:
    from ..research.annotate import load_state

    saved = load_state(out)  # the state file of local runs, with this folder's manifest merged in

    def prior(entries: dict[str, ManifestEntry]) -> dict[str, ManifestEntry]:
        """Every clip's outcome so far: from the merged states, with the manifest's details
        (worker, seconds, failure kind) where the manifest agrees."""
        merged = {}
        for name, st in saved.items():
            e = entries.get(name)
            if e is None or e.status != st.status:
                e = ManifestEntry(input=st.path, stem=name, status=st.status, error=st.error,
                                  kind="input" if st.status == FAILED else None)
            merged[name] = replace(e, record=st.record.to_merr() if st.record is not None else None)
        return merged

    bar = CorpusProgress("annotate", enabled=progress)
    shards: ShardWriter | None = None
    counts = {"analysed": 0, "skipped": 0}
    worker_kwargs: dict[str, Any] = {"options": analysis or AnalysisOptions(), "record_options": record_options}

    def executor_for(tasks: list) -> Any:
        kwargs = {**worker_kwargs, "load_speech_recognition": speech_recognition_needed(tasks)}
        if use_ray:
            return RayExecutor(kwargs, workers=workers, cpus_per_worker=cpus_per_worker,
                                address=ray_address, method="annotate", hook=_both(hook, bar.event))
        return LocalExecutor(AnalysisWorker(**kwargs), method="annotate", events=_both(hook, bar.event))

    def on_entry(entry: ManifestEntry) -> None:
        if shards is not None and entry.status == DONE and entry.record is not None:
            shards.add(MerrRecord.from_merr(entry.stem, entry.record), entry.input)

    try:
        shards = ShardWriter(out, shard_size, min_agreement)
        for st in saved.values():  # recorded before (a killed run's buffer, a local run): into the next shard
            if st.status == DONE and st.record is not None:
                shards.add(st.record, st.path)
        for item in drive(clips, out, executor_for, resume=True, retry_failed=retry_failed, prior=prior,
                          subtitles=sidecar_subtitles(subs), on_entry=on_entry, on_plan=bar.plan,
                          lock=False):
            resumed = getattr(item, "resumed", False) or getattr(item, "earlier", False)
            counts["skipped" if resumed else "analysed"] += 1
            bar.done(item.ok, resumed=resumed)
    finally:
        bar.close()
        if shards is not None:
            shards.flush()
    states = load_state(out)  # every clip recorded in this folder, by either path
    kept, filtered = save_outputs(out, states, min_agreement)
    failed = tuple(n for n, s in states.items() if s.status == FAILED)
    return AnnotateSummary(out_dir=out, analysed=counts["analysed"], skipped=counts["skipped"], failed=failed,
                           kept=tuple(kept), filtered=tuple(filtered), states=states)


def _both(first: EventHook | None, second: EventHook) -> EventHook:
    def hook(event: Any) -> None:
        if first is not None:
            first(event)
        second(event)

    return hook
