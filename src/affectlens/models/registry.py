"""The one place models are found, checked and loaded.

Two kinds of model live here:

* **Shipped models**: a folder ``<name>/`` beside this file (or in a folder listed in the
  ``AFFECTLENS_MODELS`` environment variable, which wins) holding ``card.json`` — the
  machine-readable card: task, labels, files with their sha256, data, licence, test metrics,
  how to retrain — a human ``README.md`` card, and the weight files. Every file's sha256 is
  checked on first load.
* **External encoders**: pretrained weights that arrive inside pinned pip packages (the
  whisper-base ASR model, MiniLM). They are registered with :func:`register_external` as a
  resolver that returns a local folder and checks its own sha256.

``load_model(name_or_path)`` accepts a registered name or a folder holding a ``card.json``,
so users can point affectlens at a model they trained themselves.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from ..core.errors import ModelError
from ..core.threads import available_threads

PACKAGE_MODELS = Path(__file__).resolve().parent


@dataclass(frozen=True)
class ModelCard:
    """The machine-readable half of a model card (``card.json``)."""

    name: str
    task: str
    folder: Path
    files: dict[str, str]  # file name -> sha256
    labels: tuple[str, ...] = ()
    label_mapping: str | None = None  # key of DATASET_MAPPINGS the labels belong to
    data: str = ""
    licence: str = ""
    metrics: dict[str, float] = field(default_factory=dict)
    retrain: str = ""
    extra: dict[str, Any] = field(default_factory=dict)  # model-specific settings (input size...)

    def path(self, file: str | None = None) -> Path:
        """Path of one of the model's files (the only one when ``file`` is None)."""
        if file is None:
            if len(self.files) != 1:
                raise ModelError(f"model {self.name!r} has several files {sorted(self.files)}; name one")
            file = next(iter(self.files))
        if file not in self.files:
            raise ModelError(f"model {self.name!r} has no file {file!r}; it has {sorted(self.files)}")
        return self.folder / file


def cache_dir() -> Path:
    """Where derived files (joined weights, verification stamps) go: ``AFFECTLENS_CACHE``."""
    root = os.environ.get("AFFECTLENS_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "affectlens"
    )
    path = Path(root)
    path.mkdir(parents=True, exist_ok=True)
    return path


def sha256_of(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def verify_sha256(path: Path, expected: str) -> None:
    """Raise :class:`ModelError` unless ``path`` hashes to ``expected``.

    Large files are hashed once; a stamp keyed by size and mtime remembers the result.
    """
    if not path.is_file():
        raise ModelError(f"model file is missing: {path}")
    stat = path.stat()
    stamp = cache_dir() / "verified" / f"{expected}-{stat.st_size}-{int(stat.st_mtime)}"
    if stamp.exists():
        return
    actual = sha256_of(path)
    if actual != expected:
        raise ModelError(
            f"checksum mismatch for {path}: expected sha256 {expected[:16]}..., got {actual[:16]}...; "
            "the file is corrupt or not the pinned version"
        )
    stamp.parent.mkdir(parents=True, exist_ok=True)
    stamp.touch()


def _search_roots() -> list[Path]:
    extra = [Path(p) for p in os.environ.get("AFFECTLENS_MODELS", "").split(os.pathsep) if p]
    return [*extra, PACKAGE_MODELS]


def read_card(folder: Path) -> ModelCard:
    """Parse ``folder/card.json`` into a :class:`ModelCard`."""
    card_file = folder / "card.json"
    try:
        raw = json.loads(card_file.read_text())
    except FileNotFoundError as e:
        raise ModelError(f"{folder} holds no card.json, so it is not a model folder") from e
    except json.JSONDecodeError as e:
        raise ModelError(f"{card_file} is not valid JSON: {e}") from e
    known = {"name", "task", "files", "labels", "label_mapping", "data", "licence", "metrics", "retrain"}
    return ModelCard(
        name=raw.get("name", folder.name),
        task=raw.get("task", ""),
        folder=folder,
        files=dict(raw.get("files", {})),
        labels=tuple(raw.get("labels", ())),
        label_mapping=raw.get("label_mapping"),
        data=raw.get("data", ""),
        licence=raw.get("licence", ""),
        metrics=dict(raw.get("metrics", {})),
        retrain=raw.get("retrain", ""),
        extra={k: v for k, v in raw.items() if k not in known},
    )


def available_models(task: str | None = None) -> list[str]:
    """Names of the shipped and external models (optionally of one ``task``)."""
    names: dict[str, str] = {}
    for root in reversed(_search_roots()):
        if not root.is_dir():
            continue
        for card in root.glob("*/card.json"):
            try:
                names[card.parent.name] = read_card(card.parent).task
            except ModelError:
                continue
    for name, ext in _EXTERNAL.items():
        names[name] = ext.task
    return sorted(n for n, t in names.items() if task is None or t == task)


@cache
def get_card(name_or_path: str) -> ModelCard:
    """Find a shipped model by name (or a folder path) and verify its files' checksums."""
    candidate = Path(name_or_path)
    folder = candidate if (candidate / "card.json").is_file() else None
    if folder is None:
        for root in _search_roots():
            if (root / name_or_path / "card.json").is_file():
                folder = root / name_or_path
                break
    if folder is None:
        raise ModelError(
            f"unknown model {name_or_path!r}; available: {', '.join(available_models()) or 'none'} "
            "(or pass a folder that holds a card.json)"
        )
    card = read_card(folder)
    for file, digest in card.files.items():
        verify_sha256(folder / file, digest)
    return card


@cache
def onnx_session(name_or_path: str, file: str | None = None, threads: int | None = None, spinning: bool = True):
    """A cached onnxruntime session for one ONNX file of a shipped model.

    ``spinning=False`` makes the intra-op threads sleep between calls instead of busy-waiting:
    needed where several sessions run one after the other (an ensemble's members), whose idle
    spinning threads would otherwise take the cores from the one that is working (measured:
    8.1 ms instead of 4.3 ms per face for two networks on 2 cores).
    """
    import onnxruntime as ort

    card = get_card(name_or_path)
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or available_threads()
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    if not spinning:
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    try:
        return ort.InferenceSession(str(card.path(file)), options, providers=["CPUExecutionProvider"])
    except Exception as e:  # onnxruntime raises its own, unrelated exception types
        raise ModelError(f"cannot load {card.path(file)} with onnxruntime: {e}") from e


@cache
def load_arrays(name_or_path: str, file: str | None = None) -> dict[str, Any]:
    """The arrays of one ``.npz`` file of a shipped model, loaded once."""
    import numpy as np

    card = get_card(name_or_path)
    with np.load(card.path(file), allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


# --- external encoders from pinned pip packages ------------------------------------------------


@dataclass(frozen=True)
class ExternalModel:
    """A pretrained encoder that a pip package carries; ``resolve`` returns its checked folder."""

    name: str
    task: str
    resolve: Callable[[], Path]
    description: str = ""


_EXTERNAL: dict[str, ExternalModel] = {}


def register_external(model: ExternalModel) -> ExternalModel:
    _EXTERNAL[model.name] = model
    return model


@cache
def external_path(name: str) -> Path:
    """Resolve (and checksum) a registered external encoder once per process."""
    from . import external  # noqa: F401  (registers the built-in resolvers)

    if name not in _EXTERNAL:
        raise ModelError(f"unknown external model {name!r}; registered: {sorted(_EXTERNAL)}")
    return _EXTERNAL[name].resolve()


def load_model(name_or_path: str) -> ModelCard:
    """Public entry point: a verified :class:`ModelCard` for a name or a model folder."""
    return get_card(str(name_or_path))
