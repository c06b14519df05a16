"""Corpora at scale: many files on a local process or on Ray, crash-safe and resumable.

* :func:`analyze_many` (``affectlens analyze DIR [--ray]``): results or failures as they finish;
* :func:`annotate_corpus` (``affectlens annotate DIR --ray``): MERR records and instruction
  data written in shards;
* :mod:`.manifest`: the per-file record of a run (``manifest.jsonl``) that makes a killed run
  resumable; :mod:`.worker`: the long-lived worker holding one loaded pipeline;
  :mod:`.ray_pool`: Ray actors, dispatch by size, retries when a worker dies.

Ray is optional (``pip install 'affectlens[ray]'``) and imported only when a run asks for it.
"""

from .corpus import FileFailure, FileResult, analyze_many
from .manifest import MANIFEST_FILE, ManifestEntry, read_manifest
from .ray_pool import CorpusEvent, ScaleError

__all__ = ["analyze_many", "annotate_corpus", "FileResult", "FileFailure", "CorpusEvent", "ScaleError",
           "ManifestEntry", "read_manifest", "MANIFEST_FILE"]


def __getattr__(name: str):
    if name == "annotate_corpus":  # the research tools import the pipeline's record builder: load on use
        from .annotate import annotate_corpus

        return annotate_corpus
    raise AttributeError(name)
