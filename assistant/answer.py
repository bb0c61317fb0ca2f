"""Answer: question -> (rewrite) -> retrieve -> gates -> candidates -> features -> score -> decide
-> ground -> result.

`stream()` yields events in the order a chat shows them: the retrieved sources first, then the
answer's text, then the whole result. `answer()` returns only the result. The decision is
the calibrated scorer's (scorer.py, decide.py), with three outcomes (outcome.py): an answer made
of the documents' sentences verbatim and cited, passages to check with the closest sentence
highlighted, or a refusal. No LLM is needed; when one is configured it rewrites follow-up
questions and, in the `write` style, phrases an answer the scorer has accepted, which the
verifier then holds to its passages (or the extractive answer stands).
"""

from __future__ import annotations

import functools
import logging
import re
import time
from dataclasses import dataclass, field
from typing import Iterator

from . import confirm
from .decide import Bars, Decision, decide
from .features import candidate_features
from .gates import gate
from .ground import ground
from .lexical import analyze
from .llm import LLMUnavailable, ModelBusy, generates, get_chat_model, hold_model, identity
from .outcome import HEADLINES, Outcome, Reason, say
from .prompts import load as load_prompt, neutralize
from .retrieve import Filter, Result, clean_question, get_retriever
from .scorer import Scorer
from .settings import Settings, get_settings
from .verify import REFUSAL, split_sentences, verify

log = logging.getLogger(__name__)
CLOSEST = 3  # passages a refusal or a "check" names for the reader to consult

NOTICE_NO_MODEL = "Le modèle de langage n'est pas disponible : la réponse est faite sans lui, avec les phrases des documents."
NOTICE_OTHER_JUDGE = ("La confirmation a été entraînée avec un autre modèle de langage que celui configuré : la "
                      "décision vient du seul modèle de décision.")
NOTICE_UNCONFIRMED = ("Le modèle de langage n'a pas pu confirmer la réponse (indisponible, occupé ou non entraîné "
                      "pour cela) : la décision vient du seul modèle de décision.")
_FOLLOW_UP = re.compile(r"^\s*(et|mais|alors|donc|aussi|pareil|idem|qui|quand|combien|pourquoi|comment)\b|"
                        r"\b(il|elle|ils|elles|le|la|les|ça|cela|celui|celle|ceux|ce dispositif|cette mesure)\s*\??\s*$",
                        re.IGNORECASE)


@dataclass
class Citation:
    n: int
    chunk_id: str
    text: str
    source: dict
    sentences: list[str] = field(default_factory=list)  # the answer sentences it supports

    def as_dict(self) -> dict:
        return {"n": self.n, "text": self.text, "source": self.source, "sentences": self.sentences}


@dataclass
class AnswerResult:
    question: str
    standalone_question: str
    answer: str
    outcome: Outcome
    citations: list[Citation]
    passages: list[Result]  # everything retrieved (the closest passages when not answered)
    backend: str
    reason: Reason | None = None
    probability: float = 0.0  # the scorer's confidence (answerable x best sentence), compared with the bars
    highlight: list[dict] = field(default_factory=list)  # check / refusal: the closest sentence and its passage
    notice: str = ""
    removed: list[dict] = field(default_factory=list)  # sentences the grounding check took out, with why
    raw: str = ""  # the model's text before verification (write style)
    timings: dict = field(default_factory=dict)

    @property
    def refused(self) -> bool:
        """Nothing is stated as an answer (refusal, or passages to check)."""
        return self.outcome is not Outcome.ANSWER

    @property
    def refusal_reason(self) -> str:
        return say(self.reason)

    def as_dict(self) -> dict:
        out = {
            "question": self.question,
            "standalone_question": self.standalone_question,
            "answer": self.answer,
            "outcome": self.outcome.value,
            "headline": HEADLINES[self.outcome],
            "refused": self.refused,
            "probability": round(self.probability, 4),
            "citations": [c.as_dict() for c in self.citations],
            "timings": self.timings,
            "backend": self.backend,
        }
        if self.notice:
            out["notice"] = self.notice
        if self.refused:
            out["reason"] = self.reason.value if self.reason else ""
            out["refusal_reason"] = self.refusal_reason
            out["highlight"] = self.highlight
            out["closest"] = [p.as_dict() for p in self.passages[:CLOSEST]]
        if self.removed:
            out["removed"] = self.removed
        return out


def clean_history(history) -> list[dict]:
    """Keep well-formed turns only; a malformed history never stops an answer."""
    if not isinstance(history, list):
        return []
    out = []
    for turn in history[-8:]:
        if isinstance(turn, dict) and turn.get("role") in ("user", "assistant") and isinstance(turn.get("content"), str):
            out.append({"role": turn["role"], "content": turn["content"][:2000]})
    return out


def _focus(text: str, question: str, limit: int) -> str:
    """The part of a passage nearest the question, within `limit` characters."""
    if len(text) <= limit:
        return text
    wanted = set(analyze(question))
    sentences = split_sentences(text)
    scores = [len(wanted & set(analyze(s))) for s in sentences]
    best = max(range(len(sentences)), key=lambda i: scores[i])
    lo = hi = best
    size = len(sentences[best])
    while True:
        grown = False
        for j in (hi + 1, lo - 1):
            if 0 <= j < len(sentences) and size + len(sentences[j]) + 1 <= limit:
                size += len(sentences[j]) + 1
                lo, hi = min(lo, j), max(hi, j)
                grown = True
        if not grown:
            break
    return " ".join(sentences[lo : hi + 1])[:limit]


def _passage_block(settings: Settings, n: int, result: Result, question: str) -> str:
    template = load_prompt(settings.prompts_dir, "passage")
    text = neutralize(_focus(result.text, question, settings.passage_chars))
    return template.format(n=n, title=neutralize(result.meta["title"][:120]), date=neutralize(result.meta["date"]),
                           text=text)


def rewrite_question(question: str, history: list[dict], model, settings: Settings) -> str:
    """A follow-up becomes a standalone question (LLM when there is one, else the previous question prefixed)."""
    previous = [t["content"] for t in history if t["role"] == "user"]
    if not is_follow_up(question, history):
        return question
    fallback = f"{previous[-1].rstrip(' ?')} — {question}"
    if model is None:
        return fallback
    turns = "\n".join(f"{'Agent' if t['role'] == 'user' else 'Assistant'} : {t['content'][:400]}" for t in history[-4:])
    prompt = load_prompt(settings.prompts_dir, "rewrite").format(history=turns, question=question)
    try:
        with hold_model(settings.llm_timeout / 2):  # behind other users, wait half the answer's budget
            text = model.bind(max_tokens=60).invoke([("human", prompt)]).content
    except Exception as exc:  # the rewrite is a nicety (busy, crash): never fail the answer for it
        log.warning("rewrite failed: %s", exc)
        return fallback
    text = text.strip().strip('"«» ').split("\n")[0].strip()
    if not (8 <= len(text) <= 300) or "?" not in text:
        return fallback
    return text


def _date_notice(citations: list[Citation]) -> str:
    dates = sorted({c.source["date"] for c in citations})
    docs = {c.source["doc_id"] for c in citations}
    if len(docs) > 1 and len(dates) > 1:
        return ("Attention : cette réponse s'appuie sur des documents de dates différentes ("
                + ", ".join(dates) + ") ; ils peuvent ne pas dire la même chose : vérifiez le plus récent.")
    return ""


@functools.lru_cache(maxsize=4)
def _scorer(path: str) -> Scorer:
    return Scorer.load(path)


def get_scorer(settings: Settings) -> Scorer:
    """The decision model, loaded once; a missing or corrupt file is a French error (ScorerError)."""
    return _scorer(str(settings.scorer_path))


def bars(settings: Settings, scorer: Scorer) -> Bars:
    """The decision bars: the settings' when set, else those chosen on training folds."""
    pick = lambda own, key: own if own >= 0 else float(scorer.thresholds[key])  # noqa: E731
    return Bars(answer=pick(settings.answer_threshold, "answer"), check=pick(settings.check_threshold, "check"))


def _model(settings: Settings, needed: bool):
    """The chat model when this question needs one, else None; (model, notice)."""
    if not needed or not generates(settings):
        return None, ""
    try:
        return get_chat_model(settings), ""
    except LLMUnavailable as exc:
        return None, f"{exc} {NOTICE_NO_MODEL}"


def is_follow_up(question: str, history: list[dict]) -> bool:
    return any(t["role"] == "user" for t in history) and (len(question.split()) <= 8 or bool(_FOLLOW_UP.search(question)))


def _cited(decision: Decision) -> list[Citation]:
    """One citation per passage, holding the answer sentences it supports."""
    citations: dict[int, Citation] = {}
    for c in decision.shown:
        r = c.result
        citations.setdefault(c.passage, Citation(c.passage, r.chunk_id, r.text, r.source())).sentences.append(c.text)
    return sorted(citations.values(), key=lambda c: c.n)


def _written(settings: Settings, model, standalone: str, decision: Decision, given: list[Result]) -> tuple[str, str]:
    """Write style: the model phrases the accepted answer; (verified text or "", notice)."""
    from langchain_core.output_parsers import StrOutputParser
    from langchain_core.prompts import ChatPromptTemplate

    prompt = ChatPromptTemplate.from_messages([("system", load_prompt(settings.prompts_dir, "answer_system")),
                                               ("human", load_prompt(settings.prompts_dir, "answer_user"))])
    cited = sorted({c.passage for c in decision.shown})
    passages = "\n".join(_passage_block(settings, n, given[n - 1], standalone) for n in cited)
    try:
        with hold_model(settings.llm_timeout):
            raw = (prompt | model | StrOutputParser()).invoke({"passages": passages, "question": neutralize(standalone)})
    except Exception as exc:  # crash, timeout, busy, server down: the extractive answer stands
        log.warning("LLM failed: %s", exc)
        why = "occupé par les questions d'autres utilisateurs" if isinstance(exc, ModelBusy) else type(exc).__name__
        return "", f"Le modèle de langage n'a pas pu répondre ({why}) : voici les phrases des documents choisies."
    verdict = verify(raw, {n: given[n - 1].text for n in cited})
    return ("", "") if verdict.refused else (verdict.text(), "")


def _result(question: str, standalone: str, decision: Decision, results: list[Result], removed: list[dict],
            backend: str, notice: str, timings: dict, text: str = "") -> AnswerResult:
    answered = decision.outcome is Outcome.ANSWER
    citations = _cited(decision) if answered else []
    if answered and not text:
        text = " ".join(f"{c.text} [{c.passage}]" for c in decision.shown)
    highlight = [] if answered else [{"n": c.passage, "sentence": c.text, "source": c.result.source()}
                                     for c in decision.shown]
    notice = " ".join(x for x in (notice, _date_notice(citations)) if x)
    return AnswerResult(question, standalone, text if answered else REFUSAL, decision.outcome, citations, results,
                        backend, decision.reason, decision.probability, highlight, notice, removed, timings=timings)


def search(retriever, standalone: str, history: list[dict], settings: Settings,
           filters: Filter | None = None) -> list[Result]:
    """The passages an answer is built on (the first `answer_passages` give its candidates)."""
    return retriever.search(standalone, k=max(settings.top_k, settings.answer_passages), history=history,
                            filters=filters)


@dataclass
class Scored:
    """One question through gates, candidates, features, scorer and decision."""

    decision: Decision
    question: object = None  # features.Question; None when a gate refused
    candidates: list = field(default_factory=list)
    features: object = None
    p: object = None


def scored(standalone: str, given: list[Result], retriever, scorer: Scorer, settings: Settings,
           asked: str | None = None) -> Scored:
    """`asked`: the question as typed, when `standalone` is a follow-up's rewritten form."""
    refusal = gate(standalone, given)
    if refusal:
        return Scored(Decision.refusal(refusal))
    q, candidates, features = candidate_features(standalone, given, retriever, focus=asked)
    p = scorer.proba(features)
    confidence = scorer.confidence(features, p, q.kind)
    return Scored(decide(candidates, p, bars(settings, scorer), q.kind, confidence), q, candidates, features, p)


def _confirmed(got: Scored, standalone: str, settings: Settings, scorer: Scorer, model, timings: dict
               ) -> tuple[Decision, str, float | None]:
    """With ASSISTANT_CONFIRM=on and a model: the model's reading of the sentences the decision would
    show, combined with the scorer's confidence (confirm.py); (decision, notice, the model's P(oui)).
    The scorer's own decision stands when nothing is to be confirmed or the model fails."""
    d = got.decision
    if settings.confirm != "on" or model is None or got.question is None or d.outcome is Outcome.REFUSE:
        return d, "", None
    if not scorer.confirm:
        return d, NOTICE_UNCONFIRMED, None
    if scorer.confirm["judge"] != identity(settings):  # fitted on another model's readings
        log.warning("confirmation fitted with %s, configured model %s", scorer.confirm["judge"], identity(settings))
        return d, NOTICE_OTHER_JUDGE, None
    kept = ground(d)[0].shown  # a sentence giving orders (« réponds oui ») never reaches the model
    if not kept:
        return d, "", None
    started = time.perf_counter()
    system, user = confirm.messages(settings.prompts_dir, standalone, [c.text for c in kept])
    try:
        p_yes = confirm.yes_probability(settings, model, system, user, settings.llm_timeout / 2)
    except Exception as exc:  # busy, crash, server down: the scorer's decision stands
        log.warning("confirmation failed: %s", exc)
        return d, NOTICE_UNCONFIRMED, None
    timings["confirm_ms"] = _ms(started)
    combined = confirm.combined(scorer.confirm, d.probability, p_yes)
    return decide(got.candidates, got.p, Bars(**scorer.confirm["thresholds"]), got.question.kind, combined), "", p_yes


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)


def stream(question: str, history=None, settings: Settings | None = None,
           filters: Filter | None = None) -> Iterator[dict]:
    """Events: {"type": "sources"}, {"type": "token"}, {"type": "answer", "answer": AnswerResult}.
    `filters`: only these documents or dates (retrieve.Filter)."""
    settings = settings or get_settings()
    started = time.perf_counter()
    question = clean_question(question, settings.max_question_chars)
    history = clean_history(history)
    retriever, scorer = get_retriever(settings), get_scorer(settings)
    write = settings.answer_style == "write"
    model, notice = _model(settings, write or settings.confirm == "on" or is_follow_up(question, history))
    standalone = rewrite_question(question, history, model, settings)
    results = search(retriever, standalone, history, settings, filters)
    timings = {"retrieve_ms": _ms(started)}
    yield {"type": "sources", "standalone_question": standalone, "passages": [r.as_dict() for r in results],
           "retrieve_ms": timings["retrieve_ms"]}

    given = results[: settings.answer_passages]
    decision, unconfirmed, _ = _confirmed(scored(standalone, given, retriever, scorer, settings, question), standalone,
                                       settings, scorer, model, timings)
    decision, removed = ground(decision)
    text, failed = _written(settings, model, standalone, decision, given) if (
        write and model is not None and decision.outcome is Outcome.ANSWER) else ("", "")
    backend = identity(settings) if text else "extractive"
    notice = " ".join(x for x in (notice, unconfirmed, failed) if x)
    timings.update(first_token_ms=_ms(started), total_ms=_ms(started))
    result = _result(question, standalone, decision, results, removed, backend, notice, timings, text)
    yield {"type": "token", "text": result.answer}
    yield {"type": "answer", "answer": result}


def explain(question: str, history=None, settings: Settings | None = None, filters: Filter | None = None) -> dict:
    """The decision for a question with each feature's contribution, for its best candidates."""
    settings = settings or get_settings()
    retriever, scorer = get_retriever(settings), get_scorer(settings)
    history = clean_history(history)
    standalone = rewrite_question(clean_question(question, settings.max_question_chars), history, None, settings)
    got = scored(standalone, search(retriever, standalone, history, settings, filters)[: settings.answer_passages],
                 retriever, scorer, settings, question)
    decision, _ = ground(got.decision)
    out = {"question": standalone, "outcome": decision.outcome.value, "bars": bars(settings, scorer).__dict__}
    if got.question is None:
        return {**out, "gate": decision.reason.value, "candidates": []}
    order = sorted(range(len(got.candidates)), key=lambda i: -got.p[i])[:5]
    model, _ = _model(settings, settings.confirm == "on")
    timings: dict = {}
    confirmed, _, p_yes = _confirmed(got, standalone, settings, scorer, model, timings)
    if p_yes is not None:  # the model was asked: its reading and the combined probability
        out["confirmation"] = {"p_yes": round(p_yes, 4), "combined": round(confirmed.probability, 4),
                               "outcome": confirmed.outcome.value,
                               "bars": scorer.confirm["thresholds"], "ms": timings["confirm_ms"]}
    return {**out, "answer_type": got.question.kind.value, "confidence": round(got.decision.probability, 4),
            "answerable": round(scorer.answerable(got.features, got.p, got.question.kind), 4),
            "question_contributions": [(n, round(v, 4), round(c, 4)) for n, v, c in
                                       scorer.explain_question(got.features, got.p, got.question.kind)[:8]],
            "candidates": [{"passage": got.candidates[i].passage, "sentence": got.candidates[i].text,
                            "probability": round(float(got.p[i]), 4),
                            "contributions": [(n, round(v, 4), round(c, 4)) for n, v, c in scorer.explain(got.features[i])]}
                           for i in order]}


def answer(question: str, history=None, settings: Settings | None = None,
           filters: Filter | None = None) -> AnswerResult:
    result = None
    for event in stream(question, history, settings, filters):
        if event["type"] == "answer":
            result = event["answer"]
    return result
