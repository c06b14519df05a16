"""Claim-by-claim check of a language model's answer against the facts it was given.

A language model asked to rephrase an explanation (or to write a MERR reasoning caption) is
told to use only the facts in its prompt. Small models do not: measured on SmolLM2 and a 1.5B
model, accepted answers said "lip corners pulled up (AU23, 4.4/5)" (AU23 is the lip
tightener), "mouth dropped (AU05, 1.7/5)" (AU05 raises the upper lids), quoted numbers that
appear nowhere, and guessed at thoughts ("not as happy as they might think"). So the answer is
split into claims and each one is matched against :class:`Facts`; one unsupported claim is
enough to keep the template text (see :mod:`affectlens.explain.llm`).

What counts as a claim, and when it is supported:

* **action-unit code** (``AU12``, ``action unit 12``): the code is among the cited cues, the
  words before it (back to the previous code or the sentence start) describe *that* action
  unit, and the number given with it equals its measured value after rounding. Where the
  input gives a value (utterance cues) the value must be there; where it gives none (MERR cue
  lists) no value may be given;
* **facial movement described without a code** ("her brows are lowered"): some action unit
  that this wording describes is among the cues;
* **number**: equal to a number in the prompt, after rounding to the decimals written (at least
  one decimal, or a whole number from 10 up), or the same quantity as a percentage/fraction;
* **emotion word** (from a lexicon of ~260 forms): the fused label, a label with probability
  at or above the threshold (fused or a modality's), a label named by a cited cue, or an
  open-vocabulary word of the input; a *negated* emotion word ("not happy") is never supported;
* **modality** (face / voice / words wording): a sentence that attributes something to a
  modality is supported only when that modality had evidence (sentences saying it had none are
  fine);
* **attribution** ("the voice sounds fearful", "face, voice and words all point to anger"): an
  emotion said of a modality must be one that modality's own evidence points to;
* **voice direction** (louder, higher, slower...): the cited voice cues go the same way;
* **interpretation** (guessed thoughts, motives or life context: "might think", "hiding her
  feelings", "her boyfriend"): never supported, unless the context word is in the transcript.

Quoting the transcript is not a claim: quoted spans found in the transcript are removed
first. The lexicons are heuristics; the benchmark (``benchmarks/reasoning.py``) reports the
checker's precision beside a hand check of 20 answers.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from ..core.labels import LABELS

# ---------------------------------------------------------------------------- lexicons
#: How a facial action unit is described in words. Each entry is a list of alternative
#: patterns; a pattern is a list of slots, each slot a tuple of word stems (prefix match, or
#: exact when the stem ends in ``$``); every slot must be filled by a different word of the
#: clause. ``AU_FORBID`` lists stems that rule a pattern out ("pulled down" is not AU12).
AU_PATTERNS: dict[str, list[list[tuple[str, ...]]]] = {
    "AU01": [[("inner$",), ("brow",), ("rais", "lift", "up$")]],
    "AU02": [[("outer$",), ("brow",), ("rais", "lift", "up$")]],
    "AU04": [[("brow",), ("lower", "drawn$", "draw", "together$", "furrow", "knit")], [("frown",)]],
    "AU05": [[("upper$",), ("lid",), ("rais", "lift")], [("eye",), ("widen", "wide$")]],
    "AU06": [[("cheek",), ("rais", "lift", "up$", "push")]],
    "AU07": [[("lid", "eye"), ("tighten", "tight$", "narrow", "squint")]],
    "AU09": [[("nose",), ("wrinkl", "scrunch")]],
    "AU10": [[("upper$",), ("lip",), ("rais", "lift", "curl")]],
    "AU11": [[("nasolabial",)]],
    "AU12": [[("lip", "mouth"), ("corner",), ("pull", "rais", "up$", "lift", "turn")], [("smil", "grin")]],
    "AU14": [[("dimpl",)], [("lip", "mouth"), ("corner",), ("tighten", "tight$")]],
    "AU15": [[("lip", "mouth"), ("corner",), ("down$", "depress", "droop", "lower")]],
    "AU16": [[("lower$",), ("lip",), ("depress", "down$", "pull")]],
    "AU17": [[("chin$", "chins$"), ("rais", "up$", "push")]],
    "AU18": [[("pucker",)]],
    "AU20": [[("lip",), ("stretch",)]],
    "AU22": [[("funnel",)]],
    "AU23": [[("lip",), ("tighten", "tight$")]],
    "AU24": [[("lip",), ("press",)]],
    "AU25": [[("lip",), ("parted$", "part$", "parts$", "parting$", "apart$", "separat")]],
    "AU26": [[("jaw",), ("drop", "lower", "open")], [("mouth",), ("drop",)]],
    "AU27": [[("mouth",), ("stretch", "wide$", "widely$")]],
    "AU28": [[("suck",)]],
    "AU43": [[("eye",), ("clos", "shut")]],
    "AU45": [[("blink",)], [("eye",), ("clos", "shut")]],
}
AU_FORBID: dict[str, tuple[str, ...]] = {
    "AU12": ("down$", "depress", "droop"),
    "AU15": ("up$", "rais", "lift"),
    "AU16": ("corner",),
    "AU23": ("corner",),
    "AU20": ("mouth",),
    "AU07": ("lip",),
}

#: Emotion words: lemma -> surface forms. A basic label's own group (``sad``: sadness, unhappy...)
#: paraphrases the label; a finer emotion (``shame``, ``worry``) is its own claim and needs that
#: word among the input's open-vocabulary words.
EMOTION_LEMMAS: dict[str, tuple[str, ...]] = {
    "neutral": ("neutral", "neutrality", "calm", "calmly", "calmness", "composed", "emotionless",
                "unemotional", "impassive", "expressionless"),
    "happy": ("happy", "happiness", "happily", "glad", "gladness", "joy", "joyful", "joyous", "joyfully",
              "cheerful", "cheerfully", "cheerfulness", "delighted", "delight", "pleased", "elated",
              "elation", "merry", "glee", "gleeful"),
    "amusement": ("amused", "amusement", "amusing", "humorous", "humor", "humour", "laughing", "laughter",
                  "playful"),
    "excitement": ("excited", "excitement", "thrilled", "enthusiastic", "enthusiasm", "eager", "eagerness"),
    "love": ("love", "loving", "affection", "affectionate", "tenderness", "fondness"),
    "relief": ("relief", "relieved"),
    "pride": ("pride", "proud", "proudly"),
    "gratitude": ("grateful", "gratitude", "thankful", "thankfulness", "appreciation", "appreciative",
                  "appreciate"),
    "optimism": ("optimism", "optimistic", "hopeful", "hopefulness"),
    "admiration": ("admiration", "admiring"),
    "satisfaction": ("satisfied", "satisfaction", "content", "contented", "contentment", "pleasure",
                     "pleasurable", "enjoy", "enjoyment", "enjoying"),
    "relaxed": ("relaxed", "relaxation", "relax"),
    "sad": ("sad", "sadness", "sadly", "sorrow", "sorrowful", "unhappy", "unhappiness", "upset", "melancholy",
            "melancholic", "gloomy", "gloom", "miserable", "misery", "depressed", "depression", "tearful",
            "crying", "cry", "cries", "cried", "tears", "weeping", "weep", "heartbroken", "downcast",
            "dejected", "dejection", "mournful"),
    "grief": ("grief", "grieving", "grieve", "mourning"),
    "disappointment": ("disappointed", "disappointment"),
    "remorse": ("remorse", "remorseful", "regret", "regretful", "apologetic"),
    "guilt": ("guilt", "guilty"),
    "shame": ("shame", "ashamed", "shameful"),
    "embarrassment": ("embarrassed", "embarrassment"),
    "loneliness": ("lonely", "loneliness"),
    "helplessness": ("helpless", "helplessness", "powerless"),
    "despair": ("despair", "desperate", "desperation", "hopeless", "hopelessness"),
    "angry": ("angry", "anger", "angrily", "furious", "fury", "rage", "raging", "enraged", "irate", "mad",
              "outraged", "outrage", "hostile", "hostility", "wrath", "resentful", "resentment"),
    "annoyance": ("annoyed", "annoyance", "irritated", "irritation", "irritable", "exasperated",
                  "exasperation"),
    "frustration": ("frustrated", "frustration"),
    "dissatisfaction": ("dissatisfied", "dissatisfaction", "displeased", "displeasure", "discontent"),
    "jealousy": ("jealous", "jealousy", "envy", "envious"),
    "disapproval": ("disapproval", "disapproving"),
    "contempt": ("contempt", "contemptuous", "scorn", "scornful", "disdain", "disdainful"),
    "disgust": ("disgust", "disgusted", "disgusting", "revulsion", "revolted", "repulsed", "repelled",
                "aversion", "loathing"),
    "fear": ("fear", "fearful", "fearfully", "afraid", "scared", "frightened", "fright", "terrified",
             "terror", "panic", "panicked", "panicky", "horrified", "horror", "dread"),
    "worry": ("worried", "worry", "worrying", "worries", "anxious", "anxiety", "anxiously", "apprehensive",
              "apprehension", "uneasy", "unease", "concerned"),
    "nervousness": ("nervous", "nervousness", "nervously", "tense", "tension", "jittery", "stressed",
                    "stress"),
    "surprise": ("surprise", "surprised", "surprising", "astonished", "astonishment", "amazed", "amazement", "shocked",
                 "shock", "startled", "stunned", "astounded"),
    "confusion": ("confused", "confusion", "puzzled", "bewildered", "perplexed"),
    "curiosity": ("curious", "curiosity"),
    "doubt": ("doubt", "doubtful", "skeptical", "sceptical", "suspicious", "suspicion", "disbelief"),
    "boredom": ("bored", "boredom"),
    "sympathy": ("sympathy", "sympathetic", "compassion", "compassionate", "empathy", "caring"),
    "determination": ("determined", "determination"),
}
#: surface form -> lemma
EMOTION_FORMS: dict[str, str] = {form: lemma for lemma, forms in EMOTION_LEMMAS.items() for form in forms}
#: Native labels of the shipped models that are spelt differently from LABELS.
_LABEL_ALIASES = {"fearful": "fear", "surprised": "surprise", "disgusted": "disgust", "calm": "neutral",
                  "joy": "happy", "sadness": "sad", "anger": "angry"}

NEGATIONS = frozenset({"not", "no", "never", "hardly", "barely", "without", "nor", "neither", "less", "isn't",
                       "aren't", "wasn't", "weren't", "doesn't", "don't", "didn't", "cannot", "can't", "nothing"})
ABSENCE = frozenset({"no", "not", "none", "nothing", "without", "absent", "unavailable", "silent", "silence",
                     "missing", "lack", "lacks", "lacking", "neither", "nor", "n't", "empty", "unknown"})
#: Wording that attributes something to a modality.
MODALITY_WORDS: dict[str, tuple[str, ...]] = {
    "face": ("face", "faces", "facial", "eyes", "eye", "brow", "brows", "eyebrow", "eyebrows", "lip", "lips",
             "mouth", "cheek", "cheeks", "jaw", "chin", "nose", "smile", "smiles", "smiling", "frown",
             "frowning", "eyelid", "eyelids", "lids"),
    "voice": ("voice", "voices", "vocal", "tone", "pitch", "intonation", "loud", "louder", "loudness", "quiet",
              "quieter", "prosody", "sounds", "speech"),
    "words": ("words", "word", "says", "said", "saying", "transcript", "text", "sentence", "subtitle",
              "subtitles", "wording", "phrase"),
}
_VOICE_UP = frozenset({"higher", "above", "louder", "faster", "livelier", "wider", "quicker"})
_VOICE_DOWN = frozenset({"lower", "below", "quieter", "softer", "slower", "flatter", "narrower"})
#: Guesses at thoughts, motives and life context: never in the cues.
INTERPRETATION_PATTERNS: tuple[str, ...] = (
    r"\b(?:might|may|could|would|must)\s+(?:be\s+)?(?:think|thinks|thinking|believe|believes|want|wants|wish|"
    r"expect|assume|realize|realise|remember|feel that)\b",
    r"\bdeep down\b",
    r"\bpretend\w*\b",
    r"\b(?:hid(?:e|es|ing|den)|mask(?:s|ing)?|conceal\w*|suppress\w*)\b",
    r"\btrying to\b",
    r"\bas (?:\w+ )?as (?:she|he|they|one|you|the person) (?:might|may|would|could)\b",
    r"\bin (?:her|his|their) (?:heart|mind|head)\b",
)
#: Life-context words that no cue measures (flagged unless the transcript says them).
CONTEXT_WORDS = frozenset({"boyfriend", "girlfriend", "husband", "wife", "partner", "mother", "father", "parents",
                           "family", "childhood", "relationship", "breakup", "divorce", "funeral", "death", "died",
                           "news", "memories", "memory", "job", "exam", "trauma", "illness", "diagnosis",
                           "trained", "training", "dataset", "algorithm"})

_NUMBER = re.compile(r"(?<![A-Za-z\d.])[-+−]?(\d+(?:\.\d+)?)(?![\d])")
_AU_CODE = re.compile(r"\b(?:AU\s?-?\s?(\d{1,2})|action\s+units?\s+(\d{1,2}))\b", re.IGNORECASE)
_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")
_CLAUSE = re.compile(r"[,;:]|\band\b|\bwhile\b|\bbut\b|\bwith\b|\bwhereas\b", re.IGNORECASE)
_QUOTE = re.compile(r"\"([^\"]+)\"|“([^”]+)”|‘([^’]+)’|(?<![A-Za-z])'([^']+)'(?![A-Za-z])")
_WORD = re.compile(r"[a-z]+(?:'[a-z]+)?")
_LIST_MARKER = re.compile(r"^\s*\d+[.)]\s", re.MULTILINE)
#: Speaking as the person instead of about them (outside quotes of the transcript).
_FIRST_PERSON = re.compile(r"\b(?:I|I'm|I've|I'd|I'll|me|my|mine|myself|we|we're|us|our)\b", re.IGNORECASE)


# ---------------------------------------------------------------------------- types
@dataclass(frozen=True)
class AUFact:
    """An action unit the prompt cited: its code, how it was described, and its measured value
    (None when the prompt gave no value, as in MERR cue lists)."""

    code: str
    description: str
    value: float | None = None


@dataclass(frozen=True)
class Facts:
    """Everything a checked answer may rest on: exactly what its prompt said.

    Parameters
    ----------
    aus : tuple of AUFact
        Action units cited in the prompt.
    numbers : tuple of str
        Every number written in the prompt, as written (decimals matter for rounding).
    labels : frozenset of str
        Labels (of :data:`~affectlens.core.labels.LABELS`) an emotion word may paraphrase.
    words : frozenset of str
        Open-vocabulary words of the input (lemmas where the lexicon knows them).
    with_evidence : frozenset of str
        Modalities (face / voice / words) that had evidence.
    voice_directions : frozenset of str
        ``"up"`` / ``"down"``: which ways the cited voice cues go.
    transcript : str
        What was said; quoting it is not a claim.
    prompt : str
        The prompt; a phrase the answer puts in quotes must be in it.
    modality_labels : mapping of str to frozenset of str
        Per modality with evidence, the emotions (lemmas) the prompt says *it* points to: "the
        words read as sad" is only supported when the words' own evidence says sad.
    """

    aus: tuple[AUFact, ...] = ()
    numbers: tuple[str, ...] = ()
    labels: frozenset[str] = frozenset()
    words: frozenset[str] = frozenset()
    with_evidence: frozenset[str] = frozenset()
    voice_directions: frozenset[str] = frozenset()
    transcript: str = ""
    prompt: str = ""  # the prompt itself: a quoted phrase must come from it
    modality_labels: Mapping[str, frozenset[str]] = field(default_factory=dict)
    _au_index: dict[str, AUFact] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._au_index.update({a.code: a for a in self.aus})

    def au(self, code: str) -> AUFact | None:
        return self._au_index.get(code)


@dataclass(frozen=True)
class Claim:
    """One claim found in an answer: what kind, the words, and whether the facts support it."""

    kind: str  # "action_unit" | "facial_movement" | "number" | "emotion" | "modality" | "voice_direction" | "interpretation"
    text: str
    supported: bool
    reason: str | None = None  # why not, when unsupported


@dataclass(frozen=True)
class ClaimCheck:
    """The verdict on one answer: every claim found, and whether all of them are supported."""

    claims: tuple[Claim, ...]
    problem: str | None = None  # a defect of the answer as a whole (empty, cut off)

    @property
    def failed(self) -> tuple[Claim, ...]:
        return tuple(c for c in self.claims if not c.supported)

    @property
    def ok(self) -> bool:
        return self.problem is None and not self.failed

    @property
    def supported(self) -> int:
        return sum(c.supported for c in self.claims)

    def reason(self, limit: int = 3) -> str | None:
        """A one-line account of why the answer was rejected (None when it was not)."""
        if self.ok:
            return None
        parts = [self.problem] if self.problem else []
        failed = self.failed
        parts += [c.reason or c.text for c in failed[:limit]]
        if len(failed) > limit:
            parts.append(f"{len(failed) - limit} more unsupported claim(s)")
        return "; ".join(p for p in parts if p)


# ---------------------------------------------------------------------------- helpers
def numbers_in(text: str) -> tuple[str, ...]:
    """Every number written in ``text`` (not the digits of codes such as AU12), as written."""
    return tuple(m.group(1) for m in _NUMBER.finditer(text))


def label_of(word: str) -> str | None:
    """The label of :data:`LABELS` a label word stands for ("fearful" -> fear), if any."""
    w = word.strip().lower()
    return w if w in LABELS else _LABEL_ALIASES.get(w)


def lemma_of(word: str) -> str:
    """The lexicon's lemma of an emotion word (the word itself when the lexicon does not know it)."""
    w = word.strip().lower()
    return EMOTION_FORMS.get(w, w)


def emotion_lemmas_in(text: str) -> set[str]:
    """Lemmas of the emotion words written in ``text``."""
    return {EMOTION_FORMS[t] for t in _WORD.findall(text.lower()) if t in EMOTION_FORMS}


def voice_directions_in(text: str) -> frozenset[str]:
    words = set(_WORD.findall(text.lower()))
    return frozenset(d for d, lex in (("up", _VOICE_UP), ("down", _VOICE_DOWN)) if words & lex)


def _tokens(text: str) -> list[str]:
    out = []
    for t in _WORD.findall(text.lower()):
        t = t.replace("eyebrow", "brow").replace("eyelid", "lid")
        out.append(t)
    return out


def _stem_hits(token: str, stem: str) -> bool:
    return token == stem[:-1] if stem.endswith("$") else token.startswith(stem)


def _fill(slots: Sequence[tuple[str, ...]], tokens: Sequence[str], used: frozenset[int] = frozenset()) -> bool:
    """Whether every slot can be filled by a different token (tiny backtracking search)."""
    if not slots:
        return True
    first, rest = slots[0], slots[1:]
    for i, tok in enumerate(tokens):
        if i not in used and any(_stem_hits(tok, s) for s in first) and _fill(rest, tokens, used | {i}):
            return True
    return False


def aus_described(text: str) -> set[str]:
    """Action units whose wording appears in ``text`` (one clause)."""
    tokens = _tokens(text)
    found = set()
    for code, patterns in AU_PATTERNS.items():
        if any(any(_stem_hits(t, s) for s in AU_FORBID.get(code, ())) for t in tokens):
            continue
        if any(_fill(p, tokens) for p in patterns):
            found.add(code)
    return found


def _au_code(match: re.Match) -> str:
    return f"AU{int(match.group(1) or match.group(2)):02d}"


def values_in(text: str) -> list[str]:
    """Numbers of ``text`` that state a value: not a scale's denominator ("/5", "of 5")."""
    return [n.group(1) for n in _NUMBER.finditer(text)
            if not text[:n.start()].rstrip().endswith("/") and not re.search(r"\bof\s*$", text[:n.start()])]


def _decimals(token: str) -> int:
    return len(token.split(".")[1]) if "." in token else 0


def number_matches(written: str, given: str) -> bool:
    """Whether a number written in an answer states a number of the input.

    Equal, or ``given`` rounded to the decimals written (at least one decimal, or a whole
    number of 10 or more: "2" for 2.3 is not the measured value, "12" for 12.4 % is), or the
    same quantity as a percentage (45 for 0.45) or fraction (0.45 for 45 %).
    """
    x, d = float(written), _decimals(written)
    y = float(given)
    candidates = [y]
    if _decimals(given) >= 2 and 0 <= y <= 1:
        candidates.append(y * 100)
    candidates.append(y / 100)
    for c in candidates:
        if abs(c - x) < 1e-9:
            return True
        if (d >= 1 or abs(c) >= 10) and abs(round(c, d) - x) < 1e-9 and d <= max(_decimals(given), 1):
            return True
    return False


def _emotion_percents(prompt: str) -> list[tuple[str, str]]:
    """(lemma, percent) pairs the prompt states: "Sad (60%)", "says fear (76%)"."""
    return [(lemma_of(label_of(m.group(1)) or m.group(1)), m.group(2))
            for m in re.finditer(r"\b([A-Za-z]+)\s*\(\s*(\d+(?:\.\d+)?)\s*%", prompt)]


def _word_end(sentence: str, token: str, index: int) -> int:
    """Where the ``index``-th word token of ``sentence`` (lower-cased) ends."""
    for k, m in enumerate(_WORD.finditer(sentence.lower())):
        if k == index:
            return m.end()
    return len(sentence)


def _normalised(text: str) -> str:
    return " ".join(re.sub(r"[^a-z0-9 ]+", " ", text.lower()).split())


def _strip_quotes(text: str, transcript: str) -> str:
    """``text`` without the quoted spans that repeat the transcript (quoting is not claiming)."""
    said = re.sub(r"[^a-z0-9 ]+", " ", transcript.lower())
    said = " ".join(said.split())

    def drop(m: re.Match) -> str:
        inner = next(g for g in m.groups() if g is not None)
        norm = " ".join(re.sub(r"[^a-z0-9 ]+", " ", inner.lower()).split())
        return " " if norm and said and norm in said else m.group(0)

    return _QUOTE.sub(drop, text)


# ---------------------------------------------------------------------------- the check
def _check_codes(sentence: str, facts: Facts) -> tuple[list[Claim], list[tuple[int, int]]]:
    """Action-unit codes in one sentence; returns the claims and the spans they cover."""
    claims: list[Claim] = []
    spans: list[tuple[int, int]] = []
    mentions = list(_AU_CODE.finditer(sentence))
    if not mentions:
        return claims, spans
    # The group of a mention: the parenthesis around it, or the code itself.
    groups = []
    for m in mentions:
        open_at = sentence.rfind("(", 0, m.start())
        close_before = sentence.rfind(")", 0, m.start())
        close_at = sentence.find(")", m.end())
        if open_at > close_before and close_at != -1:
            groups.append((open_at, close_at + 1))
        else:
            groups.append((m.start(), m.end()))
    window_start = 0
    previous_group = None
    for i, m in enumerate(mentions):
        code = _au_code(m)
        g_start, g_end = groups[i]
        if previous_group is not None and previous_group != groups[i]:
            window_start = previous_group[1]
        previous_group = groups[i]
        window = sentence[window_start:g_end]
        if g_end - g_start == m.end() - m.start():  # a bare code: a parenthesis right after it may describe it
            tail = re.match(r"\s*\(([^)]*)\)", sentence[g_end:])
            if tail:
                window += " " + tail.group(1)
        spans.append((window_start, g_end))
        # The value: the first number after the code inside its group (or right after a bare code).
        nxt = mentions[i + 1].start() if i + 1 < len(mentions) and groups[i + 1] == groups[i] else None
        if g_end - g_start == m.end() - m.start():
            after = re.split(r"[,;()]|\.\s|\.$", sentence[m.end():m.end() + 40])[0]
        else:
            after = sentence[m.end():(nxt if nxt is not None else g_end)]
        values = values_in(after)
        text = sentence[max(window_start, g_start - 40):g_end].strip()
        fact = facts.au(code)
        if fact is None:
            claims.append(Claim("action_unit", text, False, f"{code} is not among the cited cues"))
            continue
        described = aus_described(window)
        if code not in described:
            other = ", ".join(sorted(described)) or "nothing"
            claims.append(Claim("action_unit", text, False,
                                f"{code} is not described as {fact.description!r} (the words describe {other})"))
            continue
        if fact.value is None:
            if values:
                claims.append(Claim("action_unit", text, False, f"{code} has no measured value in the input "
                                                                f"but the answer gives {values[0]}"))
                continue
        elif not values:
            claims.append(Claim("action_unit", text, False, f"{code} comes without its measured value "
                                                            f"({fact.value:g})"))
            continue
        elif not any(number_matches(values[0], v) for v in (f"{fact.value}", *values_in(fact.description))):
            claims.append(Claim("action_unit", text, False, f"{code} is given as {values[0]}, measured "
                                                            f"{fact.value:g}"))
            continue
        claims.append(Claim("action_unit", text, True))
    return claims, spans


def _without(sentence: str, spans: Iterable[tuple[int, int]]) -> str:
    chars = list(sentence)
    for a, b in spans:
        for k in range(a, min(b, len(chars))):
            chars[k] = " "
    return "".join(chars)


def check_claims(answer: str, facts: Facts) -> ClaimCheck:
    """Split ``answer`` into claims and match each against ``facts``.

    Parameters
    ----------
    answer : str
        The model's text (without its "Emotion words:" line, which is not checked: it is
        kept apart as an open-vocabulary proposal).
    facts : Facts
        What the prompt said.

    Returns
    -------
    ClaimCheck
        ``ok`` is True only when every claim is supported.
    """
    if len(_WORD.findall(answer.lower())) < 3:
        return ClaimCheck((), problem="empty answer")
    text = _strip_quotes(answer, facts.transcript).replace("\u2019", "'")
    text = _LIST_MARKER.sub(" ", text)
    sentences = [s for s in _SENTENCE.split(text) if s.strip()]
    seen: set[str] = set()
    for s in sentences:
        key = " ".join(_WORD.findall(s.lower()))
        if len(key.split()) >= 3 and key in seen:
            return ClaimCheck((), problem=f"repeats itself ({s.strip()[:60]!r})")
        seen.add(key)
    claims: list[Claim] = []
    transcript_words = set(_WORD.findall(facts.transcript.lower()))
    source = _normalised(facts.prompt)
    percents = _emotion_percents(facts.prompt)
    for m in _QUOTE.finditer(text):
        inner = next(g for g in m.groups() if g is not None)
        ok = bool(_normalised(inner)) and _normalised(inner) in source
        claims.append(Claim("quote", inner, ok, None if ok else f"quotes {inner!r}, which is not in the input"))
    for sentence in sentences:
        code_claims, spans = _check_codes(sentence, facts)
        claims += code_claims
        rest = _without(sentence, spans)
        # Facial movements described without a code.
        for clause in _CLAUSE.split(rest):
            described = aus_described(clause)
            if described and not any(facts.au(c) for c in described):
                claims.append(Claim("facial_movement", clause.strip(), False,
                                    f"{clause.strip()!r} describes {'/'.join(sorted(described))}, "
                                    "which is not among the cited cues"))
            elif described:
                # A number given with the description ("3.7/5", "(71%)") must be that movement's value.
                stated = values_in(clause)
                values = [str(a.value) for c in described if (a := facts.au(c)) and a.value is not None]
                values += [v for c in described if (a := facts.au(c)) for v in values_in(a.description)]
                bad = [x for x in stated if not any(number_matches(x, v) for v in values)]
                if bad:
                    claims.append(Claim("facial_movement", clause.strip(), False,
                                        f"{clause.strip()!r} gives {bad[0]}, not the measured value"))
                else:
                    claims.append(Claim("facial_movement", clause.strip(), True))
        # Numbers.
        no_codes = _AU_CODE.sub(" ", sentence)
        for m in _NUMBER.finditer(no_codes):
            if m.group(1) == "5" and re.search(r"(?:/|\bout of|\bof)\s*$", no_codes[:m.start()]):
                continue  # the 0-5 intensity scale's "/5" is notation, not a claim
            ok = any(number_matches(m.group(1), n) for n in facts.numbers)
            claims.append(Claim("number", m.group(1), ok, None if ok else f"the number {m.group(1)} is not in the input"))
        # Emotion words, and their negation.
        tokens = _WORD.findall(sentence.lower())
        for k, tok in enumerate(tokens):
            lemma = EMOTION_FORMS.get(tok)
            if lemma is None:
                continue
            ok = lemma in facts.words or lemma in facts.labels  # a label's own group, or an input word
            negated = any(t in NEGATIONS or t.endswith("n't") for t in tokens[max(0, k - 3):k])
            pct = re.match(r"\s*\(\s*(\d+(?:\.\d+)?)\s*%\s*\)", sentence.lower()[_word_end(sentence, tok, k):])
            if ok and pct and not any(lemma == lem and number_matches(pct.group(1), n) for lem, n in percents):
                claims.append(Claim("emotion", f"{tok} ({pct.group(1)}%)", False,
                                    f"{pct.group(1)}% is not the probability of {tok!r} in the input"))
            elif ok and negated:
                claims.append(Claim("emotion", tok, False, f"{tok!r} is negated; the cues state it, not its absence"))
            elif ok:
                claims.append(Claim("emotion", tok, True))
            else:
                claims.append(Claim("emotion", tok, False, f"{tok!r} is not the fused label, a likely label or an "
                                                           "open-vocabulary word of the input"))
        claims += _attributions(sentence, facts)
        # Modalities the sentence attributes something to.
        words = set(tokens)
        absent = bool(words & ABSENCE) or any(t.endswith("n't") for t in tokens)
        for modality, lex in MODALITY_WORDS.items():
            if not words & set(lex):
                continue
            if modality in facts.with_evidence or absent:
                claims.append(Claim("modality", modality, True))
            else:
                claims.append(Claim("modality", modality, False, f"attributes something to the {modality}, "
                                                                 "which had no evidence"))
        # Voice directions.
        if words & set(MODALITY_WORDS["voice"]):
            for direction, lex in (("up", _VOICE_UP), ("down", _VOICE_DOWN)):
                for w in sorted(words & lex):
                    ok = direction in facts.voice_directions
                    claims.append(Claim("voice_direction", w, ok, None if ok else
                                        f"{w!r}: no cited voice cue goes that way"))
        # Guesses at thoughts and context.
        for pattern in INTERPRETATION_PATTERNS:
            for m in re.finditer(pattern, sentence, flags=re.IGNORECASE):
                claims.append(Claim("interpretation", m.group(0), False,
                                    f"{m.group(0)!r} guesses beyond the cues"))
        for w in sorted((words & CONTEXT_WORDS) - transcript_words):
            claims.append(Claim("interpretation", w, False, f"{w!r}: context no cue measures"))
        for m in _FIRST_PERSON.finditer(sentence):
            claims.append(Claim("interpretation", m.group(0), False,
                                f"{m.group(0)!r}: speaks as the person instead of about them"))
    if not any(c.kind == "emotion" and c.supported for c in claims):
        return ClaimCheck(tuple(claims), problem="names no emotion of the result")
    return ClaimCheck(tuple(claims))


_MODALITY_OF = {w: m for m, lex in MODALITY_WORDS.items() for w in lex}
_SPLIT_CLAUSE = re.compile(r"[,;:()]|\bbut\b|\band\b|\bso\b|\bwhile\b|\bwhereas\b|\bthough\b", re.IGNORECASE)


def _attributions(sentence: str, facts: Facts) -> list[Claim]:
    """Emotions said of a particular modality ("the voice is fearful", "face, voice and words all
    point to anger") must be that modality's own, as the prompt states it."""
    if not facts.modality_labels:
        return []
    out: list[Claim] = []

    def judge(modalities: list[str], lemmas: list[tuple[str, str]], text: str) -> None:
        for tok, lemma in lemmas:
            wrong = [m for m in modalities if m in facts.modality_labels and lemma not in facts.modality_labels[m]]
            if wrong:
                said = "; ".join(f"{m}: {', '.join(sorted(facts.modality_labels[m])) or 'nothing'}" for m in wrong)
                out.append(Claim("attribution", text.strip(), False,
                                 f"{tok!r} is attributed to the {' and '.join(wrong)}, which point(s) to {said}"))
            else:
                out.append(Claim("attribution", text.strip(), True))

    def parts(text: str) -> tuple[list[str], list[tuple[str, str]]]:
        toks = _WORD.findall(text.lower())
        mods = list(dict.fromkeys(_MODALITY_OF[t] for t in toks if t in _MODALITY_OF))
        lemmas = [(t, EMOTION_FORMS[t]) for t in toks if t in EMOTION_FORMS]
        return mods, lemmas

    together = re.search(r"\b(?:all|both|each)\b", sentence, flags=re.IGNORECASE)
    mods, lemmas = parts(sentence)
    if together and len(mods) >= 2:
        _, after = parts(sentence[together.end():])
        judge(mods, after, sentence)
        return out
    for clause in _SPLIT_CLAUSE.split(sentence):
        mods, lemmas = parts(clause)
        if len(mods) == 1 and lemmas:
            judge(mods, lemmas, clause)
    return out


def allowed_labels(prob_sets: Iterable[Mapping[str, float] | None], threshold: float) -> set[str]:
    """Labels whose probability reaches ``threshold`` in any of the distributions."""
    out: set[str] = set()
    for probs in prob_sets:
        for k, p in (probs or {}).items():
            if p >= threshold and label_of(k):
                out.add(label_of(k))  # type: ignore[arg-type]
    return out
