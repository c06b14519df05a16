"""MERR reasoning captions written by a language model from a record's cue lists, checked claim by claim.

Emotion-LLaMA built MERR's ``smp_reason_caption`` by giving a language model each clip's
action-unit list, the tone of voice and the subtitle, and asking for the reasoning. This module
does the same with any OpenAI-compatible server (``affectlens annotate --llm-url ...``), and
keeps a caption only when every claim in it matches the record
(:func:`~affectlens.explain.claims.check_claims`): each action-unit code with its own FACS
name, no number or emotion the record does not state, no modality without evidence. Otherwise
the record keeps the template caption of :func:`~affectlens.research.merr.reason_caption`, and
records why (``caption_rejected``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace

from ..explain.claims import AUFact, Facts, label_of, lemma_of, numbers_in
from ..explain.llm import INSTRUCTION_ECHO, Job, LLMClient, LLMConfig, LLMReport, Message, Outcome, ask_all
from .merr import AU_NAMES, EMOTION_NOUNS, TONE_WORDS, MerrRecord

SYSTEM_PROMPT = (
    "You write the reasoning behind an emotion label for a video clip, in two or three short sentences, "
    "from the cues you are given. Use only those cues. When you mention a facial action unit, write its "
    "name with its code, as given. Do not add any other cue, number or emotion, and do not guess what the "
    "person thinks or why."
)
#: A worked example given as a previous turn (made-up cues, so a copied example fails the check).
EXAMPLE_USER = (
    "Facial action units over the clip: Brow Lowerer (AU04), Lid Tightener (AU07).\n"
    "At the most expressive frame: Brow Lowerer (AU04), Upper Lip Raiser (AU10).\n"
    "Voice: the person speaks in a normal tone.\n"
    'Subtitle: "Get out of my room."\n'
    "Each modality on its own: face angry (48%), voice neutral (52%), words angry (64%).\n"
    "Label: angry.\n\n"
    "Write the reasoning for the label in two or three sentences."
)
#: The example answer says which modality points where: copying "they all point to X" when they
#: do not is the most common mistake of small models (the check rejects it).
EXAMPLE_ANSWER = (
    "The person's brows are lowered (Brow Lowerer, AU04) and the lids tightened (Lid Tightener, AU07), "
    "and the words \"Get out of my room\" read as angry. The voice sounds neutral, but the face and the words "
    "point to anger."
)
CAPTION_SCAFFOLD = (r"^\s*(?:facial action units over the clip|at the most expressive frame|subtitle|"
                    r"each modality on its own|label)\s*:|write the reasoning for the label")
CAPTION_STOP = ("\nFacial action units", "\nSubtitle:", "\nLabel:", "\nWrite the reasoning")


def _au_phrase(codes: Sequence[str]) -> str:
    return ", ".join(f"{AU_NAMES.get(a, a)} ({a})" for a in codes)


def caption_prompt(record: MerrRecord) -> str:
    """The user message for one record, in the order Emotion-LLaMA gave its cues."""
    lines = []
    if record.AU_list:
        lines.append(f"Facial action units over the clip: {_au_phrase(record.AU_list)}.")
    else:
        lines.append("Facial action units over the clip: none clearly visible.")
    if record.peak_AU_list:
        lines.append(f"At the most expressive frame: {_au_phrase(record.peak_AU_list)}.")
    lines.append(f"Voice: the person {record.audio_prior_list}")
    if record.text:
        lines.append(f'Subtitle: "{record.text}"')
    if record.votes:
        lines.append("Each modality on its own: " + ", ".join(
            f"{v.modality} {v.label} ({v.confidence:.0%})" for v in record.votes) + ".")
    lines.append(f"Label: {record.pseu_emotion}.")
    lines.append("\nWrite the reasoning for the label in two or three sentences.")
    return "\n".join(lines)


def caption_facts(record: MerrRecord, prompt: str) -> Facts:
    """What the prompt of one record states.

    Action units come with their FACS names and no values (MERR lists carry none). Emotions
    that may be named: the pseudo-label, each modality's own label and the tone of voice.
    """
    codes = dict.fromkeys((*record.AU_list, *record.peak_AU_list))
    aus = tuple(AUFact(c, AU_NAMES.get(c, c), None) for c in codes)
    tone_labels: set[str] = set()
    tone = re.search(r"speaks in an? (\w+) tone", record.audio_prior_list)
    if tone:
        native = {w: k for k, w in TONE_WORDS.items()}.get(tone.group(1))
        tone_labels = {x for x in (native, label_of(tone.group(1))) if x}
    labels = {record.pseu_emotion} | {v.label for v in record.votes} | tone_labels
    # The caption may say the label as a noun ("sadness", "anger"): those are the label's own words.
    words = {lemma_of(w) for lab in labels for w in re.findall(r"[a-z]+", EMOTION_NOUNS.get(lab, ""))}
    evidence = {v.modality for v in record.votes}
    if record.AU_list or record.peak_AU_list:
        evidence.add("face")
    if not record.audio_prior_list.startswith("does not"):
        evidence.add("voice")
    if record.text:
        evidence.add("words")
    per_modality: dict[str, set[str]] = {v.modality: {lemma_of(v.label)} for v in record.votes}
    if tone_labels:  # the tone of voice is the voice's own too
        per_modality.setdefault("voice", set()).update(lemma_of(x) for x in tone_labels)
    return Facts(aus=aus, numbers=numbers_in(prompt), labels=frozenset(lemma_of(lab) for lab in labels),
                 words=frozenset(words), with_evidence=frozenset(evidence), transcript=record.text, prompt=prompt,
                 modality_labels={m: frozenset(v) for m, v in per_modality.items()})


def caption_job(record: MerrRecord) -> Job:
    prompt = caption_prompt(record)
    messages = (Message("system", SYSTEM_PROMPT), Message("user", EXAMPLE_USER),
                Message("assistant", EXAMPLE_ANSWER), Message("user", prompt))
    return Job(messages, caption_facts(record, prompt), CAPTION_SCAFFOLD + "|" + INSTRUCTION_ECHO, CAPTION_STOP)


def wants_caption(record: MerrRecord, model: str) -> bool:
    """Whether ``model`` should (still) write this record's caption.

    Not for records without a label; not again once this model's caption was accepted or
    rejected (a rerun resumes); again after a timeout, a server error or a skipped request.
    """
    if record.pseu_emotion == "unknown":
        return False
    return not (record.caption_model == model and record.caption_status in ("accepted", "rejected"))


def apply_caption(record: MerrRecord, outcome: Outcome, model: str) -> MerrRecord:
    """The record with the model's caption when it passed the check, else the template's, and why."""
    if outcome.status == "accepted" and outcome.text:
        return replace(record, smp_reason_caption=outcome.text, caption_source="llm", caption_model=model,
                       caption_status="accepted", caption_rejected=None, caption_rejected_text=None)
    return replace(record, caption_source="template", caption_model=model, caption_status=outcome.status,
                   caption_rejected=outcome.reason,
                   caption_rejected_text=outcome.text if outcome.status == "rejected" else None)


def caption_all(records: Sequence[MerrRecord], config: LLMConfig,
                client: LLMClient | None = None) -> tuple[list[MerrRecord], LLMReport]:
    """Captions for ``records`` (same order; records without a label are not sent) and the batch report."""
    todo = [i for i, r in enumerate(records) if r.pseu_emotion != "unknown"]
    report = ask_all([caption_job(records[i]) for i in todo], config, client)
    out = list(records)
    for i, outcome in zip(todo, report.outcomes, strict=True):
        out[i] = apply_caption(out[i], outcome, config.model)
    return out, report
