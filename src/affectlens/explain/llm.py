"""Optional rewriting of explanations by a language model the user points affectlens at.

Off by default: nothing leaves the machine unless ``llm_url`` is set. Any server that speaks
the OpenAI chat-completions protocol works (a local llama.cpp / Ollama / vLLM server, or a
remote API with its key in an environment variable).

The model only *rephrases*: it receives the template explanation, the cited cues and the
transcript, and is told not to add claims. Its answer is checked — an action unit or a label
it mentions that no cue supports makes affectlens keep the template text and log a warning.
"""

from __future__ import annotations

import json
import logging
import os
import re
import urllib.error
import urllib.request
from dataclasses import dataclass, replace

from ..core.errors import ParameterError
from ..core.labels import LABELS
from ..core.types import Explanation, FusedPrediction, Segment

log = logging.getLogger(__name__)

SYSTEM_PROMPT = (
    "You rewrite emotion-analysis explanations into two or three fluent sentences for a non-expert. "
    "Use only the facts given. Do not add any cue, action unit, emotion or interpretation that is not "
    "in the input. Keep numbers as given. Answer with the rewritten text only."
)


@dataclass(frozen=True)
class LLMConfig:
    """Where and how to ask.

    Parameters
    ----------
    url : str
        Base URL of an OpenAI-compatible API, e.g. ``http://127.0.0.1:8080/v1``.
    model : str
        Model name the server expects.
    api_key_env : str, optional
        Name of the environment variable holding the API key (never the key itself, so it
        does not end up in result files).
    timeout : float, default=30
    """

    url: str
    model: str = "default"
    api_key_env: str | None = None
    timeout: float = 30.0

    def __post_init__(self) -> None:
        if not re.match(r"^https?://", self.url):
            raise ParameterError(f"llm url must start with http:// or https://; got {self.url!r}")


def _prompt(segment: Segment, fused: FusedPrediction, explanation: Explanation) -> str:
    cues = "\n".join(f"- [{c.modality}] {c.description}" for c in explanation.cues) or "- (none)"
    words = f'Transcript: "{segment.text}"\n' if segment.text else ""
    return (
        f"{words}Fused emotion: {fused.label} ({fused.confidence:.0%}).\n"
        f"Measured cues:\n{cues}\n\nExplanation to rewrite:\n{explanation.text}"
    )


def _unsupported(text: str, explanation: Explanation, fused: FusedPrediction) -> list[str]:
    """Action units or labels in ``text`` that nothing in the input supports."""
    allowed_aus = {c.name.upper() for c in explanation.cues if c.name.upper().startswith("AU")}
    allowed_aus |= set(re.findall(r"AU\d+", explanation.text.upper()))
    bad = [au for au in re.findall(r"\bAU\s?\d+", text.upper()) if au.replace(" ", "") not in allowed_aus]
    source = explanation.text.lower()
    for label in LABELS:
        if re.search(rf"\b{label}\b", text.lower()) and label not in source and label != fused.label:
            bad.append(label)
    return bad


def rewrite(segment: Segment, fused: FusedPrediction, explanation: Explanation, config: LLMConfig) -> Explanation:
    """The explanation rephrased by the configured model, or the original when that fails."""
    if fused.no_evidence:
        return explanation
    body = json.dumps({
        "model": config.model,
        "temperature": 0,
        "messages": [
            {"role": "system", "content": SYSTEM_PROMPT},
            {"role": "user", "content": _prompt(segment, fused, explanation)},
        ],
    }).encode()
    headers = {"Content-Type": "application/json"}
    if config.api_key_env and os.environ.get(config.api_key_env):
        headers["Authorization"] = f"Bearer {os.environ[config.api_key_env]}"
    request = urllib.request.Request(config.url.rstrip("/") + "/chat/completions", data=body, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=config.timeout) as response:
            reply = json.loads(response.read().decode())
        text = reply["choices"][0]["message"]["content"].strip()
    except (urllib.error.URLError, TimeoutError, KeyError, IndexError, ValueError, OSError) as e:
        log.warning("language model at %s did not answer usably (%s); keeping the template explanation", config.url, e)
        return explanation
    bad = _unsupported(text, explanation, fused)
    if not text or bad:
        log.warning("language model added unsupported claims %s; keeping the template explanation", bad)
        return explanation
    return replace(explanation, text=text, rewritten_by=config.model)
