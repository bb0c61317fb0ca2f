"""The web chat's behaviour without the browser: one ChatController per app holds what sessions
share (the busy flags, the rate limiter, the feedback store) and turns each user action into view
dataclasses. Answers come from assistant.answer.stream; this module only orchestrates and words.

app.py maps the views onto Gradio components; tests/test_chat.py drives the controller directly.
"""

from __future__ import annotations

import logging
import re
import tempfile
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from . import answer_log, documents, render
from .answer import stream
from .errors import AssistantError
from .feedback import FeedbackError, FeedbackStore
from .llm import generation_lock
from .retrieve import Filter, clean_question, get_retriever
from .settings import Settings

log = logging.getLogger("assistant.chat")

STREAM_EVERY = 0.15  # seconds between two partial updates of a streaming answer
BUSY = ("Une réponse est en cours de rédaction : attendez qu'elle se termine. "
        "Votre question est conservée dans la zone de saisie.")
UNEXPECTED = "Une erreur inattendue est survenue. Votre question est conservée : réessayez dans un instant."


@dataclass
class Notice:
    """The status line under the buttons."""

    text: str
    kind: str = "info"  # info, ok, warn, error

    def html(self) -> str:
        return render.status(self.text, self.kind)


@dataclass
class ChatView:
    """One update of the chat page. None: that part of the page is left as it is. Each view holds its
    own copy of the messages, so an earlier view still says what the page showed then."""

    messages: list[dict] | None = None  # the conversation, as chat messages
    question: str | None = None  # the input box ("" clears it)
    locked: bool | None = None  # input buttons disabled while answering
    sources: str | None = None  # the sources panel (HTML)
    notice: Notice | None = None
    turns: list[dict] | None = None  # the session's turns (question, passages, result)
    export: Path | None = None  # the conversation as Markdown, once there is an answer
    copy_text: str | None = None  # the last answer as plain text
    answer: dict | None = None  # the final answer (AnswerResult.as_dict), on the last view


@dataclass
class FeedbackView:
    notice: Notice
    turns: list[dict] | None = None
    rated: int | None = None  # the turn a comment would go to; None: unchanged
    clear_comment: bool = False


class RateLimiter:
    """At most `limit` questions per session in any 60 seconds."""

    def __init__(self, limit: int):
        self.limit = limit
        self._seen: dict[str, deque] = {}
        self._lock = threading.Lock()

    def wait_seconds(self, key: str) -> int:
        """0 when a question may be asked now (and count it), else seconds to wait."""
        now = time.monotonic()
        with self._lock:
            seen = self._seen.setdefault(key, deque())
            while seen and now - seen[0] > 60:
                seen.popleft()
            if self.limit > 0 and len(seen) >= self.limit:
                return max(1, int(60 - (now - seen[0])) + 1)
            seen.append(now)
            return 0


def history(turns: list[dict]) -> list[dict]:
    out = []
    for t in turns:
        out += [{"role": "user", "content": t["question"]},
                {"role": "assistant", "content": (t.get("result") or {}).get("answer", "")}]
    return out


class ChatController:
    """Per app: sessions are told apart by their key (Gradio's session hash)."""

    def __init__(self, settings: Settings, export_dir: Path | None = None):
        self.settings = settings
        self.limiter = RateLimiter(settings.rate_limit_per_minute)
        self.export_dir = export_dir or Path(tempfile.gettempdir()) / "assistant-solidarites-exports"
        self._busy: set[str] = set()
        self._busy_lock = threading.Lock()
        self._store: FeedbackStore | None = None

    # ----- asking -------------------------------------------------------------------------------
    def document_choices(self, docs: list[dict] | None = None) -> list[tuple[str, str]]:
        """(title, doc id) of each indexed document (or of `docs`, as list_documents gives them), for the
        filter's multi-select."""
        docs = documents.list_documents(self.settings) if docs is None else docs
        return [(d["title"] or d["doc_id"], d["doc_id"]) for d in docs]

    def build_filter(self, docs=(), since: str = "", until: str = "") -> Filter | None:
        """The search filter of the « Filtres » panel, checked against the index (QuestionError in French)."""
        filters = Filter(tuple(d for d in (docs or ()) if d), (since or "").strip(), (until or "").strip())
        if not filters:
            return None
        filters.matching(get_retriever(self.settings).catalog)  # a French QuestionError naming the box
        return filters

    def ask(self, message, messages, turns, session: str = "local",
            docs=(), since: str = "", until: str = "") -> Iterator[ChatView]:
        """Views from the question sent to its answer (or a French error that keeps the question)."""
        messages, turns = list(messages or []), list(turns or [])
        message = message if isinstance(message, str) else ""
        try:
            question = clean_question(message, self.settings.max_question_chars)
            filters = self.build_filter(docs, since, until)
        except AssistantError as exc:
            yield ChatView(notice=Notice(str(exc), "error"))
            return
        if not self._claim(session):
            yield ChatView(notice=Notice(BUSY, "error"))
            return
        owned = [True]
        try:
            wait = self.limiter.wait_seconds(session)
            if wait:
                yield ChatView(notice=Notice(
                    f"Trop de questions en peu de temps (maximum {self.settings.rate_limit_per_minute} par minute). "
                    f"Attendez environ {wait} s ; votre question est conservée dans la zone de saisie.", "error"))
                return
            yield from self._answer(question, messages, turns, session, filters, owned)
        except AssistantError as exc:
            messages[-1:] = [{"role": "assistant", "content": render.error_message(str(exc))}] if messages else []
            yield ChatView(messages, message, False, notice=Notice(str(exc) + " Votre question est conservée.", "error"))
        except Exception:
            log.exception("answer failed")
            if messages and messages[-1]["role"] == "assistant":
                messages[-1] = {"role": "assistant", "content": render.error_message(UNEXPECTED)}
            yield ChatView(messages, message, False, notice=Notice(UNEXPECTED, "error"))
        finally:
            self._release(session, owned)

    def _answer(self, question, messages, turns, session, filters, owned) -> Iterator[ChatView]:
        log.info("question (%d caractères) : %s", len(question), question[:300])
        turn_index = len(turns)
        messages += [{"role": "user", "content": render.md_text(question)},
                     {"role": "assistant", "content": "Recherche des passages…"}]
        pending = {"question": question, "passages": [], "status": "Recherche des passages dans les documents…",
                   "searching": True}
        yield ChatView(list(messages), "", True, render.sources_panel(turns, pending), Notice("Recherche en cours…"))
        result, raw, last = None, "", 0.0
        events = stream(question, history(turns), self.settings, filters)
        try:
            for event in events:
                if event["type"] == "sources":
                    pending["passages"], pending["searching"] = event["passages"], False
                    pending["status"] = ("Le modèle termine la réponse à une autre question ; la vôtre suit…"
                                         if generation_lock.locked() else "Rédaction de la réponse…")
                    messages[-1] = {"role": "assistant", "content": "Rédaction de la réponse…"}
                    found = (f"{len(event['passages'])} passages trouvés en {event['retrieve_ms']:.0f} ms"
                             + (f" ({_describe(filters)})" if filters else "") + ". ")
                    yield ChatView(list(messages), sources=render.sources_panel(turns, pending),
                                   notice=Notice(found + pending["status"]))
                elif event["type"] == "token":
                    raw += event["text"]
                    if time.monotonic() - last >= STREAM_EVERY:
                        last = time.monotonic()
                        messages[-1] = {"role": "assistant", "content": render.streaming_message(raw)}
                        yield ChatView(list(messages))
                elif event["type"] == "answer":
                    result = event["answer"]
        finally:
            events.close()  # releases the model if the page went away mid-answer
        answer = result.as_dict()
        turn = {"question": question, "passages": pending["passages"], "result": answer,
                "standalone": result.standalone_question, "backend": result.backend}
        answer_log.record(self.settings, result, source="web", history=history(turns), session=session,
                          filters=filters)
        turns.append(turn)
        messages[-1] = {"role": "assistant", "content": render.answer_message(turn_index, answer)}
        export = self.write_export(session, turns)
        # Free the session before the last view re-enables « Envoyer », and leave the question box alone
        # (cleared when the question was sent): Gradio may apply the last update twice (generating, then
        # completed), which would wipe a question typed in between.
        self._release(session, owned)
        yield ChatView(list(messages), None, False, render.sources_panel(turns), Notice(*render.outcome_status(answer)),
                       turns, export, render.answer_plain(answer), answer)

    def _claim(self, session: str) -> bool:
        with self._busy_lock:
            if session in self._busy:
                return False
            self._busy.add(session)
            return True

    def _release(self, session: str, owned: list) -> None:
        # once: a later question of this session may hold the flag by the time this ends
        if owned:
            owned.clear()
            with self._busy_lock:
                self._busy.discard(session)

    def write_export(self, session: str, turns: list[dict]) -> Path:
        folder = self.export_dir / re.sub(r"[^A-Za-z0-9]", "", session)[:40]
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "conversation-assistant-solidarites.md"
        path.write_text(render.conversation_markdown(turns), encoding="utf-8")
        return path

    def new_conversation(self) -> ChatView:
        return ChatView([], "", None, render.sources_panel([]), Notice("Nouvelle conversation : posez votre question."),
                        [], None, "")

    # ----- feedback -----------------------------------------------------------------------------
    def feedback_store(self) -> FeedbackStore:
        if self._store is None:  # opened at the first avis: a page that is only read never touches the file
            self._store = FeedbackStore.for_settings(self.settings)
        return self._store

    def rate(self, turns, message_index: int, liked, session: str = "local") -> FeedbackView:
        """👍/👎 on the chat message `message_index` (two messages per turn)."""
        turn_i = int(message_index) // 2
        if liked not in (True, False) or not (0 <= turn_i < len(turns or [])):
            return FeedbackView(Notice(""))
        turns = list(turns)
        turn = dict(turns[turn_i])
        rating = 1 if liked else -1
        result = turn["result"]
        try:
            store = self.feedback_store()
            if turn.get("feedback_id"):
                store.update(turn["feedback_id"], rating=rating)
            else:
                turn["feedback_id"] = store.add(
                    rating=rating, question=turn["question"], answer=result["answer"],
                    citations=result["citations"] or result.get("closest", []), history=history(turns[:turn_i]),
                    refused=result["refused"], standalone_question=turn.get("standalone", ""),
                    settings=self.settings.public(), model=turn.get("backend", ""), session=session)
        except (FeedbackError, AssistantError) as exc:
            return FeedbackView(Notice(str(exc), "error"))
        turns[turn_i] = turn
        label = "utile" if rating == 1 else "pas utile"
        return FeedbackView(Notice(f"Merci : votre avis (« {label} ») sur la réponse {turn_i + 1} est enregistré. "
                                   "Vous pouvez ajouter un commentaire ci-dessous.", "ok"), turns, turn_i)

    def comment(self, text, turns, rated) -> FeedbackView:
        if rated is None or not (0 <= rated < len(turns or [])) or not turns[rated].get("feedback_id"):
            return FeedbackView(Notice("Notez d'abord une réponse (pouce levé ou baissé), puis ajoutez un commentaire.",
                                       "error"))
        if not (text or "").strip():
            return FeedbackView(Notice("Le commentaire est vide.", "error"))
        try:
            self.feedback_store().update(turns[rated]["feedback_id"], comment=text.strip())
        except AssistantError as exc:
            return FeedbackView(Notice(str(exc) + " Votre commentaire est conservé.", "error"))
        return FeedbackView(Notice(f"Commentaire enregistré pour la réponse {rated + 1}. Merci !", "ok"),
                            clear_comment=True)


def _describe(filters: Filter) -> str:
    parts = []
    if filters.documents:
        n = len(filters.documents)
        parts.append(f"{n} document{'s' if n > 1 else ''} choisi{'s' if n > 1 else ''}")
    if filters.since:
        parts.append(f"depuis {filters.since}")
    if filters.until:
        parts.append(f"jusqu'au {filters.until}")
    return "filtres : " + ", ".join(parts)
