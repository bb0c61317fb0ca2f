"""Answer: question -> (rewrite) -> retrieve -> prompt -> LLM -> citations -> verify -> answer.

`stream()` yields events in the order a chat shows them: the retrieved sources first, then
the answer's text ("token" events: the model's tokens when it writes, the chosen sentences at
once when it selects them), then the verified answer. `answer()` returns only the last. Whatever
fails on the way (no model, model crash, timeout) ends in the extractive answer with a
notice; the answer never contains a sentence that no cited passage supports.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass, field
from typing import Iterator, NamedTuple

from .lexical import analyze, fold
from .llm import LLMUnavailable, ModelBusy, get_chat_model, hold_model, identity
from .privacy import asks_personal_data
from .prompts import load as load_prompt
from .retrieve import Result, clean_question, get_retriever
from .settings import Settings, get_settings
from .verify import (REFUSAL, asks_number, content_terms, coverage, gives_number, looks_english, name_words,
                     names, numbers, split_sentences, verify)

log = logging.getLogger(__name__)

NOTICE_RESCUE = ("Le modèle de langage n'a pas formulé de réponse appuyée ; voici les phrases des documents "
                 "qui reprennent le plus directement la question.")
NOTICE_EXTRACTIVE = ("Réponse extractive (sans modèle de langage) : ce sont les phrases des documents "
                     "les plus proches de la question.")
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
    refused: bool
    citations: list[Citation]
    passages: list[Result]  # everything retrieved (the closest passages when refused)
    backend: str
    notice: str = ""
    removed: list[dict] = field(default_factory=list)  # sentences the verifier took out, with why
    raw: str = ""  # the model's text before verification
    refusal_reason: str = ""
    timings: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        out = {
            "question": self.question,
            "standalone_question": self.standalone_question,
            "answer": self.answer,
            "refused": self.refused,
            "citations": [c.as_dict() for c in self.citations],
            "timings": self.timings,
            "backend": self.backend,
        }
        if self.notice:
            out["notice"] = self.notice
        if self.refused:
            out["refusal_reason"] = self.refusal_reason
            out["closest"] = [p.as_dict() for p in self.passages[:3]]
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


_CONTROL_TOKENS = re.compile(r"<\|[^|<>]{0,40}\|>|</?extrait[^>]{0,200}>", re.IGNORECASE)


def neutralize(text: str) -> str:
    """Quoted data must not close its quote or forge chat-template turns (<|im_start|>...)."""
    return _CONTROL_TOKENS.sub(" ", text).replace("{", "(").replace("}", ")")


def _passage_block(settings: Settings, n: int, result: Result, question: str) -> str:
    template = load_prompt(settings.prompts_dir, "passage")
    text = neutralize(_focus(result.text, question, settings.passage_chars))
    return template.format(n=n, title=neutralize(result.meta["title"][:120]), date=neutralize(result.meta["date"]),
                           text=text)


_LABEL = re.compile(r"\((\d+)\.(\d+)\)")
_BARE_LABEL = re.compile(r"(?<![\d.])(\d+)\.(\d+)(?![\d.])")
SELECT_MAX_TOKENS = 24  # "2.3, 1.1, 3.4" and a little slack: the answer is the sentences, not the tokens


def _figure_follows(sentence: str, following: str | None, question: str) -> bool:
    """A figure asked, missing from `sentence`, given by the sentence after it ("… RSA. Il repose sur 5 objectifs.")."""
    return (following is not None and asks_number(question) and not gives_number(sentence, question)
            and gives_number(following, question))


def _closeness(sentence: str, question: str) -> float:
    """Share of the question's words a sentence holds, and a bonus when it gives the figure asked."""
    return coverage(sentence, question) + (0.25 if asks_number(question) and gives_number(sentence, question) else 0.0)


class Label(NamedTuple):
    n: int  # passage number
    sentence: str
    shown: bool = True  # False: kept only so a figure in the sentence after a chosen one can be added


def _numbered_passages(settings: Settings, given: list[tuple[int, Result]], question: str) -> tuple[str, dict]:
    """Passages cut into sentences labelled (n.i) for the model to choose from, and the label table.

    With `select_sentences`, only the sentences closest to the question are shown, closest first
    within each passage: a shorter prompt is a faster answer, and the small model picks by position.
    """
    template = load_prompt(settings.prompts_dir, "passage")
    labels = {f"{n}.{i}": Label(n, sentence.strip())
              for n, r in given
              for i, sentence in enumerate(split_sentences(_focus(r.text, question, settings.passage_chars)), 1)}
    order = list(labels)
    if 0 < settings.select_sentences < len(order):
        order = sorted(order, key=lambda k: -_closeness(labels[k].sentence, question))  # stable: ties keep place
        labels.update({k: labels[k]._replace(shown=False) for k in order[settings.select_sentences:]})
        order = order[: settings.select_sentences]
    blocks = []  # grouped by passage, closest first within each
    for n, result in given:
        lines = [f"({k}) {neutralize(labels[k].sentence)}" for k in order if labels[k].n == n]
        if lines:
            blocks.append(template.format(n=n, title=neutralize(result.meta["title"][:120]),
                                          date=neutralize(result.meta["date"]), text="\n".join(lines)))
    return "\n".join(blocks), labels


def _squash(text: str) -> str:
    """Letters and digits only, folded: how a copied fragment is matched to the sentence it comes from."""
    return re.sub(r"[^a-z0-9]", "", fold(text))


def _quoted(fragment: str, shown: dict) -> str | None:
    """The shown sentence a copied fragment comes from (« 28 propositions », or a sentence's first 40
    letters and digits), when it is long enough to tell and only one sentence's text holds it."""
    copied = _squash(fragment)[:40]
    if len(copied) < 12:
        return None
    holders = [k for k, label in shown.items() if copied in _squash(label.sentence)]
    # The same sentence in two passages (the article re-posts the government file) is one choice.
    return holders[0] if holders and len({shown[k].sentence for k in holders}) == 1 else None


def _selected(raw: str, labels: dict, question: str, max_sentences: int = 3) -> str:
    """The sentences the model named, verbatim and cited; empty when it named none ("AUCUNE")."""
    shown = {k: label for k, label in labels.items() if label.shown}
    # Labels in parentheses win: a model that copies its sentence after the label also copies
    # the sentence's own numbering ("(2.1) 1.4 Des solutions…").
    marked = list(_LABEL.finditer(raw))
    found = []
    for j, m in enumerate(marked):
        key = f"{int(m.group(1))}.{int(m.group(2))}"
        # The small model sometimes copies a sentence, or a figure, after the wrong number
        # (« (1.2) 100 millions d'euros »): the copy tells which sentence it meant.
        after = raw[m.end(): marked[j + 1].start() if j + 1 < len(marked) else len(raw)].strip().split("\n")[0]
        if key not in shown or _squash(after)[:40] not in _squash(shown[key].sentence):
            key = _quoted(after, shown) or key
        found.append(key)
    if not marked:
        first = raw.strip().split("\n")[0]
        found = [f"{int(n)}.{int(i)}" for n, i in _BARE_LABEL.findall(first)]
        if not found:  # the model wrote the answer (« 28 propositions ») instead of its number
            found = [hit] if (hit := _quoted(first, shown)) else []
    picked = []
    for key in found:
        if key in shown and key not in picked:  # a number the model was not shown is a slip, not a choice
            picked.append(key)
    parts = []
    for key in picked[:max_sentences]:
        n, sentence, _ = labels[key]
        parts.append(f"{sentence} [{n}]")
        following = f"{n}.{int(key.split('.')[1]) + 1}"  # shown or not: the figure completes the sentence
        if (following in labels and following not in picked
                and _figure_follows(sentence, labels[following].sentence, question)):
            parts.append(f"{labels[following].sentence} [{n}]")
    return " ".join(parts)


def _chosen(raw: str, labels: dict, question: str, given: list[tuple[int, Result]], lead_overlap: float) -> str:
    """The select-style answer: the model's sentences, led by the sentence that holds most of the question."""
    chosen = _selected(raw, labels, question)
    if not chosen:
        return ""  # the model found nothing: the refusal path (and its rescue) decides
    # The model picks by position more than by meaning; a sentence holding most of the question's
    # words (the rescue's calibrated bar) leads the answer whatever it picked.
    lead = _extractive(question, given, max_sentences=1, min_overlap=lead_overlap)
    if lead and lead.split(" [")[0] not in chosen:
        chosen = f"{lead} {chosen}"
    return chosen


def _closest_shown(labels: dict, question: str, min_overlap: float) -> str:
    """The shown sentence closest to the question, cited, when it holds `min_overlap` of the question's
    words and every name and number the question gives; else empty."""
    shown = [k for k, label in labels.items() if label.shown]
    if not content_terms(question) or not shown:
        return ""
    best = max(shown, key=lambda k: _closeness(labels[k].sentence, question))  # first wins ties
    text = _selected(best, labels, question, max_sentences=1)
    if (coverage(labels[best].sentence, question) < min_overlap
            or any(name not in fold(text) for name in names(question)) or numbers(question) - numbers(text)):
        return ""
    return text


def rewrite_question(question: str, history: list[dict], model, settings: Settings) -> str:
    """A follow-up becomes a standalone question (LLM when there is one, else the previous question prefixed)."""
    previous = [t["content"] for t in history if t["role"] == "user"]
    if not previous:
        return question
    short = len(question.split()) <= 8 or _FOLLOW_UP.search(question)
    if not short:
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


def _extractive(question: str, given: list[tuple[int, Result]], max_sentences: int = 2, min_overlap: float = 0.34) -> str:
    """The best supporting sentences, each cited; empty when none holds `min_overlap` of the question's words."""
    wanted = content_terms(question)
    if not wanted:
        return ""
    need_number = asks_number(question)
    scored = []
    for n, result in given:
        sentences = split_sentences(result.text)
        for i, sentence in enumerate(sentences):
            terms = content_terms(sentence)
            hit = len(wanted & terms)
            if not hit or len(sentence) < 25:
                continue
            cited = f"{sentence.rstrip()} [{n}]"
            following = sentences[i + 1] if i + 1 < len(sentences) else None
            if _figure_follows(sentence, following, question):
                cited += f" {following.rstrip()} [{n}]"
            elif need_number and not gives_number(sentence, question):
                continue
            scored.append((hit / len(wanted), -n, -i, cited))
    scored.sort(reverse=True)
    picked = [s for s in scored if s[0] >= min_overlap][:max_sentences]
    return " ".join(s[3] for s in picked)


def _date_notice(citations: list[Citation]) -> str:
    dates = sorted({c.source["date"] for c in citations})
    docs = {c.source["doc_id"] for c in citations}
    if len(docs) > 1 and len(dates) > 1:
        return ("Attention : cette réponse s'appuie sur des documents de dates différentes ("
                + ", ".join(dates) + ") ; ils peuvent ne pas dire la même chose : vérifiez le plus récent.")
    return ""


def relevance(retriever, question: str) -> float:
    """Best dense similarity between the question and any indexed passage."""
    top = retriever.dense(question, 1)
    return top[0][1] if top else 0.0


def stream(question: str, history=None, settings: Settings | None = None) -> Iterator[dict]:
    """Events: {"type": "sources"}, {"type": "token"}..., {"type": "answer", "answer": AnswerResult}."""
    settings = settings or get_settings()
    started = time.perf_counter()
    question = clean_question(question, settings.max_question_chars)
    history = clean_history(history)
    retriever = get_retriever(settings)
    notice, model = "", None
    if settings.llm_backend != "extractive":
        try:
            model = get_chat_model(settings)
        except LLMUnavailable as exc:
            notice = f"{exc} {NOTICE_EXTRACTIVE}"
    standalone = rewrite_question(question, history, model, settings)
    results = retriever.search(standalone, k=max(settings.top_k, settings.answer_passages), history=history)
    retrieve_ms = round((time.perf_counter() - started) * 1000, 1)
    yield {"type": "sources", "standalone_question": standalone, "passages": [r.as_dict() for r in results],
           "retrieve_ms": retrieve_ms}

    given = list(enumerate(results[: settings.answer_passages], 1))
    full = {n: r.text for n, r in given}
    timings = {"retrieve_ms": retrieve_ms, "first_token_ms": None, "total_ms": None}
    backend = identity(settings) if model is not None else "extractive"

    def finish(raw: str, refusal_reason: str = "") -> AnswerResult:
        verdict = verify(raw, full, standalone) if raw else None
        refused = verdict is None or verdict.refused
        citations: dict[int, Citation] = {}
        if not refused:
            for s in verdict.kept:
                for n in s.cited:
                    r = results[n - 1]
                    citations.setdefault(n, Citation(n, r.chunk_id, r.text, r.source())).sentences.append(s.text)
        reason = refusal_reason or ("" if not refused else
                                    "le modèle indique que les documents ne répondent pas" if verdict and verdict.model_refused
                                    else "la réponse ne porte pas sur ce que demande la question" if verdict and verdict.off_point
                                    else "aucune phrase de la réponse n'est appuyée par les passages")
        cites = sorted(citations.values(), key=lambda c: c.n)
        extra = _date_notice(cites) if not refused else ""
        timings["total_ms"] = round((time.perf_counter() - started) * 1000, 1)
        return AnswerResult(
            question=question, standalone_question=standalone,
            answer=REFUSAL if refused else verdict.text(), refused=refused, citations=cites,
            passages=results, backend=backend, notice=" ".join(x for x in (notice, extra) if x),
            removed=[{"sentence": s.text, "reason": s.reason} for s in (verdict.removed if verdict else [])],
            raw=raw, refusal_reason=reason, timings=timings,
        )

    # Refuse before generating when the passages cannot hold the answer.
    if not given:
        yield {"type": "answer", "answer": finish("", "aucun passage trouvé")}
        return
    if asks_personal_data(standalone):
        yield {"type": "answer", "answer": finish(
            "", "la question demande des données personnelles sur une personne : les documents n'en "
                "contiennent pas et l'assistant n'en recherche pas")}
        return
    if relevance(retriever, standalone) < settings.min_relevance:
        yield {"type": "answer", "answer": finish("", "aucun passage assez proche de la question")}
        return
    asked_terms = content_terms(standalone)
    unknown = retriever.unindexed(asked_terms)
    if (asked_terms and not looks_english(standalone)
            and len(unknown) / len(asked_terms) >= settings.max_unknown_share):
        words = [w for w in re.findall(r"[^\W\d_]+", standalone) if set(analyze(w)) & unknown]
        yield {"type": "answer", "answer": finish(
            "", "la plupart des mots de la question n'apparaissent dans aucun document (" + ", ".join(words) + ")")}
        return
    # A place, body or person the question names and no document mentions: any answer would be
    # about someone else (« le Morbihan » answered with another Département's scheme).
    absent = [] if looks_english(standalone) else retriever.unknown_words(name_words(standalone))
    if absent:
        yield {"type": "answer", "answer": finish(
            "", "la question nomme " + ", ".join(absent)
                + (", qui n'apparaissent" if len(absent) > 1 else ", qui n'apparaît") + " dans aucun document")}
        return
    known = set()
    for _, r in given:
        known |= numbers(r.text) | numbers(r.meta["date"]) | numbers(r.meta["title"])
    asked = numbers(standalone) - known
    if asked:
        yield {"type": "answer", "answer": finish(
            "", "la question porte sur " + ", ".join(sorted(asked)) + ", absent des passages trouvés")}
        return

    if model is None:
        raw = _extractive(standalone, given)
        if not notice and settings.llm_backend == "extractive":
            notice = NOTICE_EXTRACTIVE
        yield {"type": "answer", "answer": finish(raw, "" if raw else "aucune phrase des passages ne répond")}
        return

    from langchain_core.output_parsers import StrOutputParser
    from langchain_core.prompts import ChatPromptTemplate

    select = settings.answer_style == "select"
    prompt = ChatPromptTemplate.from_messages([
        ("system", load_prompt(settings.prompts_dir, "select_system" if select else "answer_system")),
        ("human", load_prompt(settings.prompts_dir, "select_user" if select else "answer_user")),
    ])
    if select:
        passages, labels = _numbered_passages(settings, given, standalone)
    else:
        passages = "\n".join(_passage_block(settings, n, r, standalone) for n, r in given)
    chain = prompt | (model.bind(max_tokens=SELECT_MAX_TOKENS) if select else model) | StrOutputParser()
    inputs = {"passages": passages, "question": neutralize(standalone)}
    raw, deadline = "", started + settings.llm_timeout
    try:
        # Waiting behind other users counts against the same budget: a queued question gets the
        # extractive answer at the deadline instead of waiting without end.
        with hold_model(deadline - time.perf_counter()):
            for token in chain.stream(inputs):
                raw += token
                if not select:  # sentence numbers mean nothing to the reader: only written text streams
                    if timings["first_token_ms"] is None:
                        timings["first_token_ms"] = round((time.perf_counter() - started) * 1000, 1)
                    yield {"type": "token", "text": token}
                if time.perf_counter() > deadline:
                    raise TimeoutError(f"plus de {settings.llm_timeout} s")
    except Exception as exc:  # crash, timeout, busy, server down: the extractive answer takes over
        log.warning("LLM failed: %s", exc)
        reason = ("occupé par les questions d'autres utilisateurs" if isinstance(exc, ModelBusy)
                  else type(exc).__name__)
        notice = f"Le modèle de langage n'a pas pu répondre ({reason}). {NOTICE_EXTRACTIVE}"
        backend = "extractive"
        raw = _extractive(standalone, given)
        yield {"type": "answer", "answer": finish(raw, "" if raw else "aucune phrase des passages ne répond")}
        return
    chosen = ""
    if select:
        # The answer can be shown as soon as the model has named its sentences.
        timings["first_token_ms"] = round((time.perf_counter() - started) * 1000, 1)
        chosen = _chosen(raw, labels, standalone, given, settings.rescue_overlap)
        result = finish(chosen, "" if chosen else "le modèle n'a trouvé dans les passages aucune phrase qui réponde")
        result.raw = raw
    else:
        result = finish(raw)
    if result.refused:
        # Replacements for a refusal, each verified, first that passes wins: when the model named
        # sentences beside the question (it picks by position; "AUCUNE" is not such a case), the shown
        # sentence closest to the question holding its names and numbers (off by default); then, as
        # the small model also refuses answerable questions, a passage sentence holding most of the
        # question's words (calibrated on the dev set).
        replacements = [_closest_shown(labels, standalone, settings.select_fallback_overlap) if chosen else "",
                        _extractive(standalone, given, min_overlap=settings.rescue_overlap)]
        for text in filter(None, replacements):
            notice = NOTICE_RESCUE
            replaced = finish(text)
            if not replaced.refused:
                replaced.raw, replaced.removed = raw, result.removed
                replaced.backend = f"{backend}+extractive"
                result = replaced
                break
    if select:
        yield {"type": "token", "text": result.answer}
    yield {"type": "answer", "answer": result}


def answer(question: str, history=None, settings: Settings | None = None) -> AnswerResult:
    result = None
    for event in stream(question, history, settings):
        if event["type"] == "answer":
            result = event["answer"]
    return result

