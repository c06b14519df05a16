"""Optional rewriting of explanations by a language model the user points affectlens at.

Off by default: nothing leaves the machine unless ``llm_url`` is set. Any server that speaks
the OpenAI chat-completions protocol works: a local llama.cpp / Ollama / vLLM server, or a
remote API with its key in an environment variable.

Bounded, because a language model is the slowest and least predictable stage:

* every request sends ``max_tokens`` (a server without a cap generates until its context is
  full and blocks the next request);
* ``timeout`` is a deadline for the whole request, retries included (not a per-read socket
  timeout, which a slow trickle of bytes would keep resetting); a request past it is
  abandoned by closing the connection, which makes llama.cpp's server cancel the generation;
* connection errors and HTTP 429/5xx are retried with exponential backoff while the deadline
  allows; a timeout is not retried (the server is busy: asking again doubles the wait);
* utterances are sent ``concurrency`` at a time from a small thread pool; after
  ``give_up_after`` consecutive failures the remaining utterances are not sent at all, so a
  dead server costs a few timeouts, not one per utterance.

Checked, because small models invent: the answer is split into claims and each is matched
against the facts of the prompt (:mod:`affectlens.explain.claims`); one unsupported claim keeps
the template text. Every explanation records ``source``, the ``model`` asked and, when its
answer was not used, the reason (``rejected``); the analysis warnings count the rejections.

The model may also propose free-form emotion words (AffectGPT's open-vocabulary answer); they
are kept apart in ``Explanation.open_vocabulary`` and never replace the fused words.
"""

from __future__ import annotations

import http.client
import json
import logging
import math
import os
import re
import ssl
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from urllib.parse import urlsplit

from ..core.errors import AffectlensError, ParameterError
from ..core.types import Evidence, Explanation, FusedPrediction, Segment, Utterance
from .claims import (
    AUFact,
    ClaimCheck,
    Facts,
    allowed_labels,
    check_claims,
    label_of,
    lemma_of,
    numbers_in,
    voice_directions_in,
)

log = logging.getLogger(__name__)

SYSTEM_PROMPT = (
    "You explain the result of an emotion analysis to a non-expert in two or three short sentences. "
    "Use only the facts you are given. Copy each facial cue exactly as written, with its code and number. "
    "Do not add any other cue, number or emotion, and do not guess what the person thinks or why."
)
OPEN_VOCABULARY_PROMPT = (
    " After the sentences, write one last line that starts with 'Emotion words:' followed by up to "
    "five single words, separated by commas, naming the emotions the person shows."
)
#: Phrases of the instructions themselves: an answer that repeats them is an echo.
INSTRUCTION_ECHO = (r"use only the facts|copy each facial cue|after the sentences|write one last line|"
                    r"separated by commas|explain the result of an emotion analysis")
#: One worked example, given as a previous turn: small models copy its form (cue, code and value
#: together). Its values are made up and match no real cue, so an answer copying the example
#: instead of its own facts fails the check.
EXAMPLE_USER = (
    'Transcript: "I told you not to touch it!"\n'
    "Measured: Angry (52%), valence -0.41, arousal +0.66. Face (58% of the decision) suggests angry (49%): "
    "brows lowered and drawn together (AU04, 2.8/5); lids tightened (AU07, 1.9/5). Voice (42% of the decision) "
    "suggests angry (57%): louder than typical voices (+4.1 dB). Words: no evidence (no words in this segment).\n"
    "Other emotion words from the text model: annoyance\n\n"
    "Rewrite the measured result in two or three plain sentences."
)
EXAMPLE_ANSWER = (
    "The person is most likely angry (52%). Their brows are lowered and drawn together (AU04, 2.8/5) and their "
    "lids are tightened (AU07, 1.9/5), and their voice is louder than typical voices (+4.1 dB)."
)
EXAMPLE_WORDS = "\nEmotion words: angry, annoyance"
#: Largest reply body read (a misbehaving server must not fill memory).
MAX_REPLY_BYTES = 1 << 20
_RETRY_STATUS = frozenset({429, 500, 502, 503, 504})
_LOOPBACK = frozenset({"localhost", "127.0.0.1", "::1"})


class LLMError(AffectlensError):
    """A request to the language model gave no usable reply.

    ``kind`` is ``timeout``, ``unreachable``, ``http`` or ``bad_reply``.
    """

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True)
class LLMConfig:
    """Where and how to ask.

    Parameters
    ----------
    url : str
        Base URL of an OpenAI-compatible API, e.g. ``http://127.0.0.1:8080/v1``.
    model : str, default="default"
        Model name the server expects.
    api_key_env : str, optional
        Name of the environment variable holding the API key (never the key itself, so it
        does not end up in result files).
    timeout : float, default=30
        Deadline in seconds for one utterance's request, retries included.
    max_tokens : int, default=160
        Cap on the generated tokens of one answer (two or three sentences plus the emotion
        words line need about 100).
    concurrency : int, default=2
        Requests in flight at once. More than the server's slots only queues them there,
        where their deadlines keep running.
    retries : int, default=1
        Extra attempts after a connection error or HTTP 429/5xx (never after a timeout).
    backoff : float, default=0.5
        Seconds before the first retry, doubled for each further one (or the server's
        ``Retry-After``), always within the deadline.
    label_threshold : float, default=0.2
        A label whose probability reaches this (fused or in a modality) may be named.
    open_vocabulary : bool, default=True
        Also ask for free-form emotion words (kept in ``Explanation.open_vocabulary``).
    give_up_after : int, default=3
        Consecutive failed requests after which the rest are not sent.
    """

    url: str
    model: str = "default"
    api_key_env: str | None = None
    timeout: float = 30.0
    max_tokens: int = 160
    concurrency: int = 2
    retries: int = 1
    backoff: float = 0.5
    label_threshold: float = 0.2
    open_vocabulary: bool = True
    give_up_after: int = 3

    def __post_init__(self) -> None:
        if not isinstance(self.url, str) or not re.match(r"^https?://[^/\s]+", self.url, flags=re.IGNORECASE):
            raise ParameterError(f"llm url must start with http:// or https:// and name a host; got {self.url!r}")
        for name, low in (("timeout", 0.0), ("backoff", 0.0), ("label_threshold", 0.0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < low:
                raise ParameterError(f"llm {name} must be a finite number of at least {low:g}; got {value!r}")
        if self.timeout <= 0:
            raise ParameterError(f"llm timeout must be a positive number of seconds; got {self.timeout!r}")
        for name, low in (("max_tokens", 1), ("concurrency", 1), ("retries", 0), ("give_up_after", 1)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ParameterError(f"llm {name} must be a whole number of at least {low}; got {value!r}")


@dataclass(frozen=True)
class Completion:
    """One answer as the server gave it, and what it cost."""

    text: str
    finish_reason: str | None  # "stop", or "length" when max_tokens cut it
    completion_tokens: int | None  # as the server counted them
    prompt_tokens: int | None
    latency: float  # seconds from the first attempt to the full reply
    attempts: int


@dataclass(frozen=True)
class Message:
    """One chat message (``role``: system, user or assistant)."""

    role: str
    content: str


@dataclass(frozen=True)
class Job:
    """One request: the chat messages, and the facts its answer is checked against."""

    messages: tuple[Message, ...]
    facts: Facts
    scaffold: str = ""  # a regular expression for the prompt's own headings: an answer repeating them is an echo
    stop: tuple[str, ...] = ()  # where the server should stop (the prompt's headings again)


@dataclass(frozen=True)
class Outcome:
    """What became of one job.

    ``status``: ``accepted`` (every claim supported), ``rejected`` (some claim was not),
    ``failed`` (no usable reply) or ``skipped`` (not sent: the server had failed too often).
    """

    status: str
    text: str | None = None  # the answer without its emotion-words line
    reason: str | None = None  # why not accepted
    check: ClaimCheck | None = None
    completion: Completion | None = None
    words: tuple[str, ...] = ()  # open-vocabulary proposal


@dataclass(frozen=True)
class LLMReport:
    """What one batch of requests did: counts, latencies and the reasons for not using answers."""

    model: str
    url: str
    outcomes: tuple[Outcome, ...]
    wall: float  # seconds for the whole batch
    concurrency: int

    def count(self, status: str) -> int:
        return sum(o.status == status for o in self.outcomes)

    @property
    def latencies(self) -> tuple[float, ...]:
        return tuple(o.completion.latency for o in self.outcomes if o.completion is not None)

    def warning(self, what: str = "explanations") -> str | None:
        """One line for ``Result.warnings`` when some answer was not used (None when all were)."""
        n = len(self.outcomes)
        rejected, failed, skipped = self.count("rejected"), self.count("failed"), self.count("skipped")
        if not (rejected or failed or skipped):
            return None
        parts = []
        if rejected:
            parts.append(f"{rejected} of {n} rejected by the claim check")
        if failed:
            kinds = Counter((o.reason or "").split(":")[0] for o in self.outcomes if o.status == "failed")
            parts.append(f"{failed} failed (" + ", ".join(f"{k} {v}" for k, v in kinds.most_common()) + ")")
        if skipped:
            parts.append(f"{skipped} not sent after repeated failures")
        return (f"language model {self.model!r}: {'; '.join(parts)}; the template text was kept for those "
                f"{what} (see each explanation's 'rejected')")


# ---------------------------------------------------------------------------- the client
class LLMClient:
    """A bounded OpenAI-compatible chat-completions client (standard library only).

    One :meth:`complete` call is one answer: a deadline of ``config.timeout`` seconds for
    everything (connecting, retries, reading), ``max_tokens`` sent, and the connection closed
    when the deadline passes so the server can stop generating. Thread-safe: every call opens
    its own connection.
    """

    def __init__(self, config: LLMConfig) -> None:
        self.config = config
        parts = urlsplit(config.url)
        self._https = parts.scheme.lower() == "https"
        self._host = parts.hostname or ""
        self._port = parts.port or (443 if self._https else 80)
        self._path = (parts.path.rstrip("/") or "") + "/chat/completions"
        self._url = config.url.rstrip("/") + "/chat/completions"
        proxy = None
        if self._host not in _LOOPBACK and not urllib.request.proxy_bypass(self._host):
            proxy = urllib.request.getproxies().get("https" if self._https else "http")
        self._proxy = urlsplit(proxy) if proxy else None

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        key = os.environ.get(self.config.api_key_env) if self.config.api_key_env else None
        if key:
            headers["Authorization"] = f"Bearer {key}"
        return headers

    def _connection(self, timeout: float) -> tuple[http.client.HTTPConnection, str]:
        """A connection (through the configured proxy, if any) and the request target."""
        if self._proxy is not None and self._proxy.hostname:
            if self._https:
                conn: http.client.HTTPConnection = http.client.HTTPSConnection(
                    self._proxy.hostname, self._proxy.port or 8080, timeout=timeout,
                    context=ssl.create_default_context())
                conn.set_tunnel(self._host, self._port)
                return conn, self._path
            return http.client.HTTPConnection(self._proxy.hostname, self._proxy.port or 8080, timeout=timeout), self._url
        if self._https:
            return http.client.HTTPSConnection(self._host, self._port, timeout=timeout,
                                               context=ssl.create_default_context()), self._path
        return http.client.HTTPConnection(self._host, self._port, timeout=timeout), self._path

    def complete(self, messages: Sequence[Message], stop: Sequence[str] = ()) -> Completion:
        """Ask once (retrying transient failures within the deadline); raises :class:`LLMError`.

        ``stop``: up to four strings at which the server stops generating (OpenAI's limit).
        """
        cfg = self.config
        payload: dict = {
            "model": cfg.model, "temperature": 0, "max_tokens": cfg.max_tokens, "stream": False,
            "messages": [{"role": m.role, "content": m.content} for m in messages],
        }
        if stop:
            payload["stop"] = list(stop)[:4]
        body = json.dumps(payload).encode()
        start = time.monotonic()
        deadline = start + cfg.timeout
        attempt = 0
        while True:
            attempt += 1
            try:
                reply = self._once(body, deadline)
                break
            except _Retryable as e:
                remaining = deadline - time.monotonic()
                wait = e.retry_after if e.retry_after is not None else cfg.backoff * 2 ** (attempt - 1)
                if attempt > cfg.retries or wait >= remaining:
                    raise LLMError(e.kind, f"{e.kind}: {e} (after {attempt} attempt(s))") from e
                log.info("language model: %s; retrying in %.1f s", e, wait)
                time.sleep(wait)
        try:
            choice = reply["choices"][0]
            text = choice["message"]["content"]
            if not isinstance(text, str):
                raise TypeError(f"content is {type(text).__name__}")
        except (KeyError, IndexError, TypeError) as e:
            raise LLMError("bad_reply", f"bad_reply: no choices[0].message.content in the reply ({e})") from e
        usage = reply.get("usage") or {}
        tokens = usage.get("completion_tokens") if isinstance(usage, dict) else None
        if isinstance(tokens, int) and tokens > cfg.max_tokens:
            log.warning("language model generated %d tokens although max_tokens was %d", tokens, cfg.max_tokens)
        prompt_tokens = usage.get("prompt_tokens") if isinstance(usage, dict) else None
        return Completion(text=text.strip(), finish_reason=choice.get("finish_reason"),
                          completion_tokens=tokens if isinstance(tokens, int) else None,
                          prompt_tokens=prompt_tokens if isinstance(prompt_tokens, int) else None,
                          latency=time.monotonic() - start, attempts=attempt)

    def _once(self, body: bytes, deadline: float) -> dict:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise LLMError("timeout", f"timeout: no reply within {self.config.timeout:g} s")
        conn, target = self._connection(remaining)
        try:
            conn.request("POST", target, body=body, headers=self._headers())
            self._arm(conn, deadline)
            response = conn.getresponse()
            chunks, size = [], 0
            while True:
                self._arm(conn, deadline)
                chunk = response.read1(65536)  # one socket read: read(n) would wait for all n bytes
                if not chunk:
                    break
                size += len(chunk)
                if size > MAX_REPLY_BYTES:
                    raise LLMError("bad_reply", f"bad_reply: reply larger than {MAX_REPLY_BYTES} bytes")
                chunks.append(chunk)
            data = b"".join(chunks)
        except TimeoutError as e:
            raise LLMError("timeout", f"timeout: no reply within {self.config.timeout:g} s; "
                                      "request abandoned (connection closed)") from e
        except (ConnectionError, http.client.HTTPException, OSError) as e:
            if isinstance(e, ssl.SSLCertVerificationError):
                raise LLMError("unreachable", f"unreachable: {e}") from e
            raise _Retryable("unreachable", f"{type(e).__name__}: {e}") from e
        finally:
            conn.close()  # always: a dropped connection is how llama.cpp learns to stop generating
        if response.status in _RETRY_STATUS:
            retry_after = response.getheader("Retry-After")
            seconds = float(retry_after) if retry_after and retry_after.strip().isdigit() else None
            raise _Retryable("http", f"HTTP {response.status}: {data[:200].decode(errors='replace')}", seconds)
        if response.status >= 400:
            raise LLMError("http", f"http: HTTP {response.status}: {data[:300].decode(errors='replace')}")
        try:
            reply = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as e:
            raise LLMError("bad_reply", f"bad_reply: not JSON ({e})") from e
        if not isinstance(reply, dict):
            raise LLMError("bad_reply", "bad_reply: the reply is not a JSON object")
        return reply

    @staticmethod
    def _arm(conn: http.client.HTTPConnection, deadline: float) -> None:
        """Set the socket timeout to what is left of the deadline (each read, not just once)."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("deadline passed")
        if conn.sock is not None:
            conn.sock.settimeout(remaining)


class _Retryable(Exception):
    def __init__(self, kind: str, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.retry_after = retry_after


# ---------------------------------------------------------------------------- answers
_WORDS_LINE = re.compile(r"[*_#>\s-]*(?:open[- ]vocabulary\s+)?emotion\s+words?\s*[*_]*\s*[:：]\s*[*_]*",
                         re.IGNORECASE)
_LEAD_LABEL = re.compile(r"^\s*[*_#]*\s*(?:rewritten(?: text| explanation)?|explanation|answer|reasoning)\s*[*_]*\s*:\s*",
                         re.IGNORECASE)
_NOT_WORDS = frozenset({"face", "voice", "words", "text", "none", "unknown", "emotion", "emotions", "au"})


def split_answer(raw: str) -> tuple[str, tuple[str, ...]]:
    """The explanation text and the proposed emotion words of one answer.

    The words are the comma-separated list after the first "Emotion words:" (at most 8, lower
    case, one to three letters-only words each); the text is what comes before that line, or,
    when nothing does, what follows it up to the next such line.
    """
    match = _WORDS_LINE.search(raw)
    if match is None:
        text, words_part = raw, ""
    else:
        words_part = raw[match.end():].split("\n")[0]
        text = raw[:match.start()]
        if not text.strip():
            after = raw[match.end() + len(words_part):]
            again = _WORDS_LINE.search(after)
            text = after[:again.start()] if again else after
    text = _LEAD_LABEL.sub("", text.replace("**", "")).strip()
    words: list[str] = []
    for item in re.split(r"[,;/|]|\band\b", words_part):
        w = re.sub(r"^[^a-zA-Z]+|[^a-zA-Z]+$", "", item).lower()
        if (w and re.fullmatch(r"[a-z][a-z' -]{1,30}", w) and len(w.split()) <= 3 and w not in _NOT_WORDS
                and not re.fullmatch(r"au\s?\d+", w) and w not in words):
            words.append(w)
    return text, tuple(words[:8])


def _complete_sentences(text: str) -> str:
    """``text`` up to its last sentence end (an answer cut by max_tokens ends mid-sentence)."""
    ends = [m.end() for m in re.finditer(r"[.!?](?=\s|$)", text)]
    return text[:ends[-1]].strip() if ends else ""


def judge(job: Job, completion: Completion) -> Outcome:
    """Check one answer claim by claim (see :mod:`affectlens.explain.claims`)."""
    text, words = split_answer(completion.text)
    if job.scaffold and (echo := re.search(job.scaffold, completion.text, flags=re.IGNORECASE | re.MULTILINE)):
        # An answer that repeats its instructions is not an answer; its words line is not one either.
        return Outcome("rejected", text, f"echoes the prompt ({echo.group(0)!r})",
                       ClaimCheck((), problem="echoes the prompt"), completion)
    if completion.finish_reason == "length":
        text = _complete_sentences(text)
        if not text:
            return Outcome("rejected", completion.text, "cut off by max_tokens before a full sentence",
                           ClaimCheck((), problem="cut off"), completion, words)
    check = check_claims(text, job.facts)
    if check.ok:
        return Outcome("accepted", text, None, check, completion, words)
    return Outcome("rejected", text, f"unsupported claims: {check.reason()}", check, completion, words)


@dataclass
class _Breaker:
    """Counts consecutive failed requests; once ``limit`` is reached, no more are sent."""

    limit: int
    failures: int = 0
    last: str | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def tripped(self) -> bool:
        with self.lock:
            return self.failures >= self.limit

    def record(self, error: str | None) -> None:
        with self.lock:
            if error is None:
                self.failures = 0
            else:
                self.failures += 1
                self.last = error


class Asker:
    """Sends jobs to the model ``config.concurrency`` at a time, judging each answer.

    :meth:`submit` returns at once with a future :class:`Outcome`, so a caller can keep working
    (``affectlens annotate`` analyses the next clip while captions are written). All jobs of
    one asker share a failure count: after ``give_up_after`` consecutive failed requests the
    rest are not sent. Never raises for a server problem: every job ends as an Outcome.
    """

    def __init__(self, config: LLMConfig, client: LLMClient | None = None) -> None:
        self.config = config
        self.client = client or LLMClient(config)
        self._breaker = _Breaker(config.give_up_after)
        self._pool = ThreadPoolExecutor(max_workers=config.concurrency, thread_name_prefix="affectlens-llm")

    def submit(self, job: Job) -> Future[Outcome]:
        return self._pool.submit(self._one, job)

    def _one(self, job: Job) -> Outcome:
        breaker = self._breaker
        if breaker.tripped():
            return Outcome("skipped", reason=f"skipped: the language model failed {breaker.failures} times in a row "
                                             f"(last: {breaker.last})")
        try:
            completion = self.client.complete(job.messages, job.stop)
        except LLMError as e:
            breaker.record(str(e))
            log.warning("language model at %s: %s; keeping the template text", self.config.url, e)
            return Outcome("failed", reason=str(e))
        breaker.record(None)
        outcome = judge(job, completion)
        if outcome.status == "rejected":
            log.info("language model answer rejected (%s): %r", outcome.reason, completion.text)
        return outcome

    def close(self) -> None:
        """Wait for the jobs in flight (each bounded by the timeout) and stop the threads."""
        self._pool.shutdown(wait=True)

    def __enter__(self) -> Asker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def ask_all(jobs: Sequence[Job], config: LLMConfig, client: LLMClient | None = None) -> LLMReport:
    """Send the jobs ``config.concurrency`` at a time and judge every answer (same order).

    In the worst case (a server that never answers) the batch takes about
    ``(give_up_after + concurrency) * timeout / concurrency`` seconds, however many jobs.
    """
    start = time.monotonic()
    with Asker(config, client) as asker:
        futures = [asker.submit(j) for j in jobs]
        outcomes = [f.result() for f in futures]
    return LLMReport(model=config.model, url=config.url, outcomes=tuple(outcomes),
                     wall=time.monotonic() - start, concurrency=config.concurrency)


# ---------------------------------------------------------------------------- utterances
def utterance_prompt(segment: Segment, fused: FusedPrediction, explanation: Explanation) -> str:
    """The user message for one utterance: what was said, the template text, the fused words."""
    lines = []
    if segment.text:
        lines.append(f'Transcript: "{segment.text}"')
    lines.append(f"Measured: {explanation.text}")
    words = [w for w, _ in fused.emotion_words if w != fused.label]
    if words:
        lines.append("Other emotion words from the text model: " + ", ".join(words))
    lines.append("\nRewrite the measured result in two or three plain sentences.")
    return "\n".join(lines)


#: The utterance prompt's headings: an answer that repeats them is an echo, and the server may stop there.
UTTERANCE_SCAFFOLD = r"^\s*(?:transcript|measured|other emotion words[^:\n]*)\s*:|rewrite the measured result"
UTTERANCE_STOP = ("\nTranscript:", "\nMeasured:", "\nOther emotion words", "\nRewrite the measured")


def utterance_facts(segment: Segment, evidence: Mapping[str, Evidence], fused: FusedPrediction,
                    explanation: Explanation, prompt: str, threshold: float = 0.2) -> Facts:
    """What the prompt of one utterance states, for :func:`~affectlens.explain.claims.check_claims`.

    Labels that may be named: the fused label, labels at or above ``threshold`` in the fused
    or a modality's probabilities, each modality's own label (the template states it) and
    labels named by the cited cues ("points to sad", "the voice sounds fearful").
    """
    aus = tuple(AUFact(c.name.upper(), c.description, float(c.value)) for c in explanation.cues
                if re.fullmatch(r"AU\d\d", c.name.upper()))
    available = {n: ev for n, ev in evidence.items() if ev.available and ev.probs}
    labels = {fused.label} | allowed_labels([fused.probs, *(ev.probs for ev in available.values())], threshold)
    labels |= {ev.label for ev in available.values() if ev.label}
    for cue in explanation.cues:
        labels |= {lab for w in re.findall(r"[a-z]+", cue.description.lower()) if (lab := label_of(w))}
    words = {lemma_of(w) for w, _ in fused.emotion_words}
    words |= {lemma_of(w) for ev in available.values() for w, _ in ev.emotion_words}
    voice = " ".join(c.description for c in explanation.cues if c.modality == "voice")
    per_modality = {}
    for name, ev in available.items():  # what each modality says, as the template states it
        own = {ev.label} | allowed_labels([ev.probs], threshold)
        own |= {lab for c in explanation.cues if c.modality == name
                for w in re.findall(r"[a-z]+", c.description.lower()) if (lab := label_of(w))}
        own |= {lemma_of(w) for w, _ in ev.emotion_words}
        per_modality[name] = frozenset(lemma_of(x) for x in own if x)
    return Facts(aus=aus, numbers=numbers_in(prompt), labels=frozenset(labels), words=frozenset(words),
                 with_evidence=frozenset(n for n, ev in evidence.items() if ev.available or ev.cues),
                 voice_directions=voice_directions_in(voice), transcript=segment.text or "", prompt=prompt,
                 modality_labels=per_modality)


def utterance_job(utterance: Utterance, config: LLMConfig) -> Job:
    u = utterance
    prompt = utterance_prompt(u.segment, u.fused, u.explanation)
    ov = config.open_vocabulary
    messages = (Message("system", SYSTEM_PROMPT + (OPEN_VOCABULARY_PROMPT if ov else "")),
                Message("user", EXAMPLE_USER), Message("assistant", EXAMPLE_ANSWER + (EXAMPLE_WORDS if ov else "")),
                Message("user", prompt))
    facts = utterance_facts(u.segment, u.evidence, u.fused, u.explanation, prompt, config.label_threshold)
    return Job(messages, facts, UTTERANCE_SCAFFOLD + "|" + INSTRUCTION_ECHO, UTTERANCE_STOP)


def apply_outcome(explanation: Explanation, outcome: Outcome, model: str) -> Explanation:
    """The explanation to keep, recording where its text came from and, if so, why not the model's."""
    if outcome.status == "accepted" and outcome.text:
        return replace(explanation, text=outcome.text, source="llm", model=model, rejected=None,
                       rejected_text=None, open_vocabulary=outcome.words)
    return replace(explanation, source="template", model=model, rejected=outcome.reason,
                   rejected_text=outcome.text if outcome.status == "rejected" else None,
                   open_vocabulary=outcome.words)


def rewrite_all(utterances: Sequence[Utterance], config: LLMConfig,
                client: LLMClient | None = None) -> tuple[list[Explanation], LLMReport]:
    """New explanations for ``utterances`` (same order) and the report of the batch.

    Utterances without evidence keep their template text and are not sent.
    """
    todo = [i for i, u in enumerate(utterances) if not u.fused.no_evidence]
    report = ask_all([utterance_job(utterances[i], config) for i in todo], config, client)
    explanations = [u.explanation for u in utterances]
    for i, outcome in zip(todo, report.outcomes, strict=True):
        explanations[i] = apply_outcome(explanations[i], outcome, config.model)
    return explanations, report


def rewrite(segment: Segment, evidence: Mapping[str, Evidence], fused: FusedPrediction, explanation: Explanation,
            config: LLMConfig) -> Explanation:
    """One utterance's explanation rephrased by the configured model (or the template, recorded why)."""
    explanations, _ = rewrite_all([Utterance(segment, dict(evidence), fused, explanation)], config)
    return explanations[0]
