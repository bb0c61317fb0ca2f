"""Web chat for département staff (Gradio), on the library in assistant/.

    .venv/bin/python app.py        # http://127.0.0.1:7860 by default (ASSISTANT_HOST / ASSISTANT_PORT)

UI wiring only: answers come from assistant.answer.stream, documents from
assistant.documents, feedback from assistant.feedback, the « Découvrir » view from
assistant.discover, and every piece of HTML from assistant.render (which escapes).
"""

from __future__ import annotations

from assistant import offline

offline.apply()  # before gradio is imported: analytics and hub look-ups off

import hmac  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import queue  # noqa: E402
import re  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from collections import deque  # noqa: E402
from pathlib import Path  # noqa: E402

import gradio as gr  # noqa: E402
from fastapi import FastAPI, Request  # noqa: E402
from fastapi.responses import HTMLResponse, RedirectResponse  # noqa: E402

from assistant import answer_log, documents, render  # noqa: E402
from assistant.answer import stream  # noqa: E402
from assistant.discover import document_cards, glossary, load_starters  # noqa: E402
from assistant.errors import AssistantError  # noqa: E402
from assistant.feedback import FeedbackError, FeedbackStore  # noqa: E402
from assistant.llm import generation_lock, get_chat_model, identity  # noqa: E402
from assistant.privacy import RedactingFilter  # noqa: E402
from assistant.retrieve import clean_question, get_retriever  # noqa: E402
from assistant.settings import Settings, get_settings  # noqa: E402

log = logging.getLogger("assistant.app")

PRIVACY_NOTICE = ("N'indiquez aucune donnée personnelle sur les usagers (nom, numéro de sécurité sociale, "
                  "adresse, téléphone, situation familiale…) : posez des questions générales sur les dispositifs. "
                  "Les avis que vous laissez sont enregistrés, données personnelles masquées.")
PLACEHOLDER = "Posez votre question sur les politiques de solidarité (RSA, enfance, autonomie, handicap…)"
STREAM_EVERY = 0.15  # seconds between two partial updates of a streaming answer

HEAD = """<script>
(function () {
  // Citation links [n] point at #src-<turn>-<n>: open that passage (and its folded parents).
  function openSource(id) {
    var el = document.getElementById(id);
    if (!el) return false;
    for (var p = el; p; p = p.parentElement) { if (p.tagName === 'DETAILS') p.open = true; }
    el.scrollIntoView({block: 'start'});
    el.classList.add('flash');
    setTimeout(function () { el.classList.remove('flash'); }, 1600);
    return true;
  }
  document.addEventListener('click', function (ev) {
    var a = ev.target && ev.target.closest ? ev.target.closest('a[href^="#src-"]') : null;
    if (!a) return;
    ev.preventDefault();
    ev.stopPropagation();
    openSource(a.getAttribute('href').slice(1));
  }, true);

  // The question box: Enter sends (as the « Envoyer » button, so a disabled button sends nothing),
  // Shift+Enter goes to the line. Gradio's own multi-line textbox does the reverse: it never sees these keys.
  function inQuestion(ev) {
    var t = ev.target;
    return t && t.tagName === 'TEXTAREA' && t.closest && t.closest('#question');
  }
  function onKey(ev) {
    if (ev.key !== 'Enter' || ev.isComposing || !inQuestion(ev)) return;
    ev.stopPropagation();
    if (ev.shiftKey) return;  // the browser's own new line
    ev.preventDefault();
    if (ev.type !== 'keydown') return;
    var send = document.querySelector('#send');
    if (send && !send.disabled) send.click();
  }
  ['keydown', 'keypress', 'keyup'].forEach(function (type) { document.addEventListener(type, onKey, true); });

  // Labels Gradio writes in English whatever the language (or in a French that says « télécharger »,
  // to download, for an upload): rewritten in place, including the ones it adds later.
  var LABELS = __UI_FR__;
  var ATTRS = ['aria-label', 'title', 'placeholder', 'alt'];
  function fix(value) {
    if (!value) return value;
    if (Object.prototype.hasOwnProperty.call(LABELS.exact, value.trim())) return LABELS.exact[value.trim()];
    var out = value;
    LABELS.replace.forEach(function (r) { out = out.split(r[0]).join(r[1]); });
    return out;
  }
  function fixNode(node) {
    if (node.nodeType === 3) {
      var v = fix(node.nodeValue);
      if (v !== node.nodeValue) node.nodeValue = v;
      return;
    }
    if (node.nodeType !== 1) return;
    ATTRS.forEach(function (a) {
      var v = node.getAttribute(a);
      if (v) { var f = fix(v); if (f !== v) node.setAttribute(a, f); }
    });
    for (var c = node.firstChild; c; c = c.nextSibling) fixNode(c);
  }
  new MutationObserver(function (records) {
    records.forEach(function (r) {
      if (r.type === 'attributes' || r.type === 'characterData') fixNode(r.target);
      else r.addedNodes.forEach(fixNode);
    });
  }).observe(document.documentElement, {subtree: true, childList: true, characterData: true,
                                         attributes: true, attributeFilter: ATTRS});
  if (document.body) fixNode(document.body);
  else document.addEventListener('DOMContentLoaded', function () { fixNode(document.body); });
})();
</script>"""

# Gradio's English (or misleading French) labels -> the page's French; applied by HEAD's script.
UI_FR = {
    "exact": {
        "Liked": "J'aime (avis donné)",
        "Disliked": "Je n'aime pas (avis donné)",
        "Click to upload or drop files": "Cliquez pour choisir un fichier ou déposez-le ici",
        "Drop File Here": "Déposez le fichier ici",
        "Loading...": "Chargement…",
        "Clear": "Effacer",
        "Copy": "Copier",
        "Copied": "Copié",
        "Retry": "Réessayer",
        "Undo": "Annuler",
        "Share": "Partager",
        "Submit": "Envoyer",
        "Upload": "Importer",
        "Download": "Télécharger",
    },
    "replace": [
        ["Cliquez pour télécharger un fichier", "Cliquez pour choisir un fichier"],
        ["Cliquez pour télécharger", "Cliquez pour choisir un fichier"],
        ["pour le télécharger", "pour l'importer"],
        ["ici pour télécharger", "ici pour l'importer"],
    ],
}

# Clipboard API where the page is a secure context (loopback, https), the old way elsewhere.
COPY_JS = """(text) => {
  if (navigator.clipboard && window.isSecureContext) { navigator.clipboard.writeText(text); return; }
  const area = document.createElement('textarea');
  area.value = text; document.body.appendChild(area); area.select();
  document.execCommand('copy'); area.remove();
}"""

CSS = """
.hint { color: #475569; font-size: .85rem; margin-top: -.4rem; }
.privacy { background: #fff7ed; border: 1px solid #fdba74; border-radius: 6px; padding: .5rem .8rem; font-size: .92rem; }
.status { padding: .35rem .6rem; border-radius: 6px; font-size: .92rem; }
.status.info { background: #eff6ff; color: #1e3a8a; }
.status.error { background: #fef2f2; color: #991b1b; border: 1px solid #fecaca; }
.status.ok { background: #f0fdf4; color: #166534; }
.status.warn { background: #fffbeb; color: #92400e; }
.refusal.check { background: #f0f9ff; border-left-color: #0284c7; }
.refusal { background: #fffbeb; border-left: 4px solid #d97706; padding: .5rem .7rem; border-radius: 4px; }
#sources { max-height: 72vh; overflow-y: auto; }
#sources .turn-q { font-weight: 600; margin: .3rem 0; }
#sources .pending { color: #1e3a8a; font-style: italic; margin-bottom: .3rem; }
#sources details.source { border: 1px solid #e2e8f0; border-radius: 6px; margin: .35rem 0; padding: .3rem .6rem; }
#sources details.source[open] { background: #f8fafc; }
#sources details.source.flash { outline: 3px solid #2563eb; }
#sources summary { cursor: pointer; }
#sources .num { font-weight: 700; color: #1d4ed8; }
#sources .badge { background: #dbeafe; color: #1e40af; font-size: .75rem; padding: 0 .35rem; border-radius: 4px; }
#sources .meta, .cards .meta, .glossary .meta { color: #475569; font-size: .85rem; }
#sources blockquote { margin: .4rem 0; padding-left: .6rem; border-left: 3px solid #cbd5e1; white-space: pre-wrap; }
#sources mark { background: #fde68a; }
#sources details.turn { margin-top: .6rem; color: #334155; }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(300px, 1fr)); gap: .8rem; }
.card { border: 1px solid #e2e8f0; border-radius: 8px; padding: .7rem .9rem; }
.card h3 { font-size: 1rem; margin: 0 0 .3rem; }
.card .themes span { display: inline-block; background: #ecfdf5; color: #065f46; border-radius: 4px; padding: 0 .4rem; margin: .15rem .2rem 0 0; font-size: .8rem; }
.card .notes { font-size: .82rem; color: #92400e; margin-top: .3rem; }
.glossary { max-height: 60vh; overflow-y: auto; border: 1px solid #e2e8f0; border-radius: 6px; padding: .4rem .8rem; }
.glossary details { padding: .2rem 0; border-bottom: 1px solid #f1f5f9; }
.glossary summary { cursor: pointer; }
#starters button.starter { text-align: left; justify-content: flex-start; }
table.documents { width: 100%; border-collapse: collapse; font-size: .9rem; }
table.documents th, table.documents td { border-bottom: 1px solid #e2e8f0; padding: .35rem .5rem; text-align: left; vertical-align: top; }
table.documents td.num { text-align: right; }
.glossary blockquote { margin: .2rem 0; padding-left: .5rem; border-left: 3px solid #cbd5e1; font-size: .9rem; }
"""


# ----- plumbing ----------------------------------------------------------------------------
def setup_logging(settings: Settings) -> None:
    """Logs go to data/app.log with personal data masked (and to stderr)."""
    root = logging.getLogger()
    root.setLevel(logging.INFO)
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    try:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(settings.data_dir / "app.log", encoding="utf-8"))
    except OSError as exc:
        print(f"Attention : journal {settings.data_dir / 'app.log'} impossible à ouvrir ({exc}).", file=sys.stderr)
    for h in handlers:
        h.setFormatter(fmt)
        h.addFilter(RedactingFilter())
        root.addHandler(h)
    for noisy in ("httpx", "httpcore", "chromadb", "uvicorn.access", "gradio"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def parse_auth(raw: str) -> list[tuple[str, str]] | None:
    pairs = []
    for item in (raw or "").split(","):
        if ":" in item:
            user, password = item.split(":", 1)
            if user.strip() and password:
                pairs.append((user.strip(), password))
    return pairs or None


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


def _history(turns: list[dict]) -> list[dict]:
    out = []
    for t in turns:
        out += [{"role": "user", "content": t["question"]},
                {"role": "assistant", "content": (t.get("result") or {}).get("answer", "")}]
    return out


def _session(request: gr.Request | None) -> str:
    return getattr(request, "session_hash", None) or "local"


# ----- the app -------------------------------------------------------------------------------
def build(settings: Settings) -> tuple[FastAPI, gr.Blocks]:
    limiter = RateLimiter(settings.rate_limit_per_minute)
    busy: set[str] = set()
    busy_lock = threading.Lock()
    export_dir = Path(tempfile.gettempdir()) / "assistant-solidarites-exports"
    themes, glossary_conf = load_starters()
    store_holder: dict = {}

    def feedback_store() -> FeedbackStore:
        if "store" not in store_holder:
            store_holder["store"] = FeedbackStore.for_settings(settings)
        return store_holder["store"]

    def discover_html() -> tuple[str, str]:
        try:
            retriever = get_retriever(settings)
            cards = document_cards(retriever, documents.list_documents(settings), themes)
            return render.cards_html(cards), render.glossary_html(glossary(retriever, glossary_conf.get("hide", [])))
        except AssistantError as exc:
            message = render.status(f"Index indisponible : {exc}", "error")
            return message, message

    def documents_state() -> tuple[str, list[tuple[str, str]]]:
        """The documents table (HTML) and the documents a deletion can choose from (label, id)."""
        docs = documents.list_documents(settings)
        return render.documents_table(docs), [(render.document_choice(d), d["doc_id"]) for d in docs]

    def find_document(doc_id: str) -> dict | None:
        return next((d for d in documents.list_documents(settings) if d["doc_id"] == doc_id), None)

    def is_admin(token: str) -> bool:
        return bool(settings.admin_token) and hmac.compare_digest(
            (token or "").encode("utf-8"), settings.admin_token.encode("utf-8"))

    def admin_refusal(token: str) -> str:
        if not settings.admin_token:
            return ("L'administration est désactivée : aucun mot de passe administrateur n'est configuré "
                    "(variable ASSISTANT_ADMIN_TOKEN).")
        if not token:
            return "Réservé à l'administrateur : saisissez le mot de passe administrateur."
        return "Mot de passe administrateur incorrect : opération refusée."

    # ----- chat ---------------------------------------------------------------------------
    def on_send(message, chat, turns, request: gr.Request):
        """Generator: outputs (chatbot, textbox, send, new, panel, status, turns, export, copy text, copy)."""
        skip = gr.skip()
        chat, turns = list(chat or []), list(turns or [])
        session = _session(request)

        def out(chat_=skip, msg=skip, locked=None, panel=skip, status=skip, turns_=skip, export=skip, copy_text=skip):
            lock = skip if locked is None else gr.update(interactive=not locked)
            copy = skip if copy_text is skip else gr.update(interactive=True)
            return chat_, msg, lock, lock, panel, status, turns_, export, copy_text, copy

        message = message if isinstance(message, str) else ""
        try:
            question = clean_question(message, settings.max_question_chars)
        except AssistantError as exc:
            yield out(status=render.status(str(exc), "error"))
            return
        with busy_lock:
            if session in busy:
                yield out(status=render.status("Une réponse est en cours de rédaction : attendez qu'elle se termine. "
                                               "Votre question est conservée dans la zone de saisie.", "error"))
                return
            busy.add(session)
        owned = [True]

        def release():  # once: a later question of this session may hold the flag by the time this ends
            if owned:
                owned.clear()
                with busy_lock:
                    busy.discard(session)

        try:
            wait = limiter.wait_seconds(session)
            if wait:
                yield out(status=render.status(
                    f"Trop de questions en peu de temps (maximum {settings.rate_limit_per_minute} par minute). "
                    f"Attendez environ {wait} s ; votre question est conservée dans la zone de saisie.", "error"))
                return
            log.info("question (%d caractères) : %s", len(question), question[:300])
            turn_index = len(turns)
            chat += [{"role": "user", "content": render.md_text(question)},
                     {"role": "assistant", "content": "Recherche des passages…"}]
            pending = {"question": question, "passages": [], "status": "Recherche des passages dans les documents…"}
            yield out(chat, "", True, render.sources_panel(turns, pending), render.status("Recherche en cours…"))

            result, raw, last = None, "", 0.0
            events = stream(question, _history(turns), settings)
            try:
                for event in events:
                    if event["type"] == "sources":
                        pending["passages"] = event["passages"]
                        waiting = generation_lock.locked()
                        pending["status"] = ("Le modèle termine la réponse à une autre question ; la vôtre suit…"
                                             if waiting else "Rédaction de la réponse…")
                        chat[-1] = {"role": "assistant", "content": "Rédaction de la réponse…"}
                        yield out(chat, panel=render.sources_panel(turns, pending),
                                  status=render.status(f"{len(event['passages'])} passages trouvés en "
                                                       f"{event['retrieve_ms']:.0f} ms. " + pending["status"]))
                    elif event["type"] == "token":
                        raw += event["text"]
                        if time.monotonic() - last >= STREAM_EVERY:
                            last = time.monotonic()
                            chat[-1] = {"role": "assistant", "content": render.streaming_message(raw)}
                            yield out(chat)
                    elif event["type"] == "answer":
                        result = event["answer"]
            finally:
                events.close()  # releases the model if the page went away mid-answer
            answer = result.as_dict()
            turn = {"question": question, "passages": pending["passages"], "result": answer,
                    "standalone": result.standalone_question, "backend": result.backend}
            answer_log.record(settings, result, source="web", history=_history(turns), session=session)
            turns.append(turn)
            chat[-1] = {"role": "assistant", "content": render.answer_message(turn_index, answer)}
            export = _write_export(session, turns)
            note, kind = render.outcome_status(answer)
            # Free the session before the last update re-enables « Envoyer », and leave the question box alone
            # (cleared when the question was sent): Gradio may apply the last update twice (generating, then
            # completed), which would wipe a question typed in between.
            release()
            yield out(chat, skip, False, render.sources_panel(turns), render.status(note, kind), turns,
                      gr.update(value=str(export), interactive=True), render.answer_plain(answer))
        except AssistantError as exc:
            chat[-1:] = [{"role": "assistant", "content": render.error_message(str(exc))}] if chat else []
            yield out(chat, message, False, skip, render.status(str(exc) + " Votre question est conservée.", "error"))
        except Exception:
            log.exception("answer failed")
            text = "Une erreur inattendue est survenue. Votre question est conservée : réessayez dans un instant."
            if chat and chat[-1]["role"] == "assistant":
                chat[-1] = {"role": "assistant", "content": render.error_message(text)}
            yield out(chat, message, False, skip, render.status(text, "error"))
        finally:
            release()

    def _write_export(session: str, turns: list[dict]) -> Path:
        folder = export_dir / re.sub(r"[^A-Za-z0-9]", "", session)[:40]
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "conversation-assistant-solidarites.md"
        path.write_text(render.conversation_markdown(turns), encoding="utf-8")
        return path

    def on_new():
        return ([], "", [], render.sources_panel([]), render.status("Nouvelle conversation : posez votre question."),
                gr.update(value=None, interactive=False), gr.update(visible=False), None, "",
                gr.update(interactive=False))

    # ----- feedback -------------------------------------------------------------------------
    def on_like(turns, data: gr.LikeData, request: gr.Request):
        index = data.index[0] if isinstance(data.index, (list, tuple)) else data.index
        turn_i = int(index) // 2
        if data.liked not in (True, False) or not (0 <= turn_i < len(turns or [])):
            return render.status(""), gr.skip(), gr.skip(), gr.skip()
        turns = list(turns)
        turn = dict(turns[turn_i])
        rating = 1 if data.liked else -1
        result = turn["result"]
        try:
            store = feedback_store()
            if turn.get("feedback_id"):
                store.update(turn["feedback_id"], rating=rating)
            else:
                turn["feedback_id"] = store.add(
                    rating=rating, question=turn["question"], answer=result["answer"],
                    citations=result["citations"] or result.get("closest", []), history=_history(turns[:turn_i]),
                    refused=result["refused"], standalone_question=turn.get("standalone", ""),
                    settings=settings.public(), model=turn.get("backend", ""), session=_session(request))
        except (FeedbackError, AssistantError) as exc:
            return render.status(str(exc), "error"), gr.skip(), gr.skip(), gr.skip()
        turns[turn_i] = turn
        label = "utile" if rating == 1 else "pas utile"
        return (render.status(f"Merci : votre avis (« {label} ») sur la réponse {turn_i + 1} est enregistré. "
                              "Vous pouvez ajouter un commentaire ci-dessous.", "ok"),
                turns, gr.update(visible=True), turn_i)

    def on_comment(comment, turns, rated):
        if rated is None or not (0 <= rated < len(turns or [])) or not turns[rated].get("feedback_id"):
            return render.status("Notez d'abord une réponse (pouce levé ou baissé), puis ajoutez un commentaire.",
                                 "error"), gr.skip()
        if not (comment or "").strip():
            return render.status("Le commentaire est vide.", "error"), gr.skip()
        try:
            feedback_store().update(turns[rated]["feedback_id"], comment=comment.strip())
        except AssistantError as exc:
            return render.status(str(exc) + " Votre commentaire est conservé.", "error"), gr.skip()
        return render.status(f"Commentaire enregistré pour la réponse {rated + 1}. Merci !", "ok"), ""

    # ----- documents (admin) ------------------------------------------------------------------
    def on_upload(token, file, title, publisher, date, many=None):
        """Generator: outputs (admin status, documents table, delete choices, cards, glossary)."""
        skip = gr.skip()
        file = many or file  # the several-files box first when both are filled
        if not is_admin(token):
            yield render.status(admin_refusal(token), "error"), skip, skip, skip, skip
            return
        if not file:
            yield render.status("Choisissez d'abord un fichier à ajouter.", "error"), skip, skip, skip, skip
            return
        # Several files, or a .zip of a folder, go through add_documents in one indexing run.
        paths = [Path(f if isinstance(f, str) else getattr(f, "name", f)) for f in (file if isinstance(file, list) else [file]) if f]
        single = len(paths) == 1 and paths[0].suffix.lower() != documents.ZIP_SUFFIX
        path = paths[0]
        name = path.name if single else (path.name if len(paths) == 1 else f"{len(paths)} fichiers")
        events: queue.Queue = queue.Queue()
        outcome: dict = {}

        def progress(event, **info):
            events.put((event, info))

        def work():
            try:
                if single:
                    outcome["result"] = documents.add_document(
                        settings, path, name, {"title": title, "publisher": publisher, "date": date}, progress)
                else:
                    outcome["result"] = documents.add_documents(settings, [(p, p.name) for p in paths], progress)
            except AssistantError as exc:
                outcome["error"] = str(exc)
            except Exception as exc:  # never a traceback in the page
                log.exception("upload failed")
                outcome["error"] = f"« {name} » : échec inattendu de l'indexation ({type(exc).__name__})."
            finally:
                events.put(("finished", {}))

        yield render.status(f"Vérification de « {name} »…"), skip, skip, skip, skip
        threading.Thread(target=work, daemon=True).start()
        embedded = 0
        while True:
            event, info = events.get()
            if event == "finished":
                break
            if event == "embedded":
                embedded += info.get("count", 0)
                yield render.status(f"Indexation de « {name} » : {embedded} passages calculés…"), skip, skip, skip, skip
            elif event == "start":
                yield render.status(f"Indexation de « {name} » : lecture et découpage du document…"), skip, skip, skip, skip
        if "error" in outcome:
            log.info("upload refused: %s", outcome["error"])
            yield render.status(outcome["error"], "error"), skip, skip, skip, skip
            return
        result = outcome["result"]
        log.info("upload: %s", result.message)
        try:
            get_retriever(settings, refresh=True)
        except AssistantError as exc:
            log.warning("retriever refresh failed: %s", exc)
        cards, gloss = discover_html()
        table, ids = documents_state()
        if single:
            shown = render.status(result.message, "ok" if result.added else "info")
        else:  # one line per kind of outcome
            kind = "ok" if result.added or result.updated else ("error" if result.refused else "info")
            shown = render.status(result.message, kind).replace('<div class="status', '<div style="white-space: pre-line" class="status', 1)
        yield shown, table, gr.update(choices=ids, value=None), cards, gloss

    def on_choose_delete(doc_id):
        """The confirmation box of a deletion: names the chosen document and its passage count, unticked."""
        try:
            doc = find_document(doc_id) if doc_id else None
        except AssistantError:
            doc = None
        if doc is None:
            return gr.update(visible=False, value=False)
        return gr.update(visible=True, value=False, label=render.delete_confirmation(doc))

    def on_delete(token, doc_id, confirmed):
        """Outputs (admin status, documents table, delete choices, cards, glossary, confirmation box)."""
        skip = gr.skip()
        if not is_admin(token):
            return render.status(admin_refusal(token), "error"), skip, skip, skip, skip, skip
        if not doc_id:
            return render.status("Choisissez le document à supprimer.", "error"), skip, skip, skip, skip, skip
        try:
            doc = find_document(doc_id)
        except AssistantError as exc:
            return render.status(str(exc), "error"), skip, skip, skip, skip, skip
        if doc is None:
            return render.status(f"Document introuvable : {doc_id}.", "error"), skip, skip, skip, skip, skip
        if not confirmed:
            return (render.status(f"Suppression de « {doc['title']} » ({doc['doc_id']}, {doc['chunks']} passages) "
                                  "non faite : cochez la case de confirmation, puis cliquez de nouveau sur "
                                  "« Supprimer ».", "error"), skip, skip, skip, skip, skip)
        try:
            message = documents.delete_document(settings, doc_id)
            get_retriever(settings, refresh=True)
        except AssistantError as exc:
            return render.status(str(exc), "error"), skip, skip, skip, skip, skip
        log.info("delete: %s", message)
        cards, gloss = discover_html()
        table, ids = documents_state()
        return (render.status(message, "ok"), table, gr.update(choices=ids, value=None), cards, gloss,
                gr.update(visible=False, value=False))

    def on_choose_fix(doc_id):
        """The correction fields, filled with the document's current title, publisher and date."""
        try:
            doc = find_document(doc_id) if doc_id else None
        except AssistantError:
            doc = None
        if doc is None:
            return "", "", ""
        # The defaults are not values to correct: an empty field means « what the file says ».
        return (doc["title"], "" if doc["publisher"] == "non précisé" else doc["publisher"],
                "" if doc["date"] == "non datée" else doc["date"])

    def on_fix(token, doc_id, title, publisher, date):
        """Outputs (admin status, documents table, delete choices, cards, glossary, correction choices)."""
        skip = gr.skip()
        if not is_admin(token):
            return render.status(admin_refusal(token), "error"), skip, skip, skip, skip, skip
        if not doc_id:
            return render.status("Choisissez le document à corriger.", "error"), skip, skip, skip, skip, skip
        try:
            message = documents.update_metadata(settings, doc_id, title=title, date=date, publisher=publisher)
            get_retriever(settings, refresh=True)
        except AssistantError as exc:
            return render.status(str(exc), "error"), skip, skip, skip, skip, skip
        except Exception as exc:  # never a traceback in the page
            log.exception("metadata correction failed")
            return (render.status(f"« {doc_id} » : échec inattendu de la correction ({type(exc).__name__}) ; "
                                  "le manifeste est inchangé.", "error"), skip, skip, skip, skip, skip)
        log.info("metadata: %s", message)
        cards, gloss = discover_html()
        table, ids = documents_state()
        return (render.status(message, "ok"), table, gr.update(choices=ids, value=None), cards, gloss,
                gr.update(choices=ids, value=doc_id))

    def fix_choices():
        try:
            return gr.update(choices=documents_state()[1])
        except AssistantError:
            return gr.skip()

    def on_export_feedback(token):
        if not is_admin(token):
            return render.status(admin_refusal(token), "error"), gr.update(value=None, visible=False)
        try:
            store = feedback_store()
            path = export_dir / "avis-evaluation.jsonl"
            export_dir.mkdir(parents=True, exist_ok=True)
            with open(path, "w", encoding="utf-8") as fh:
                n = store.export_jsonl(fh, settings.corpus_dir)
        except AssistantError as exc:
            return render.status(str(exc), "error"), gr.update(value=None, visible=False)
        return (render.status(f"{n} avis exportés au format du jeu d'évaluation (JSONL).", "ok"),
                gr.update(value=str(path), visible=True))

    def on_refresh():
        table, ids = documents_state()
        return table, gr.update(choices=ids)

    # ----- layout ----------------------------------------------------------------------------
    cards0, glossary0 = discover_html()
    try:
        table0, ids0 = documents_state()
    except AssistantError as exc:
        table0, ids0 = render.status(str(exc), "error"), []

    with gr.Blocks(title="Assistant solidarités", analytics_enabled=False) as blocks:
        gr.Markdown("# Assistant solidarités\nRéponses tirées des documents du corpus, chaque phrase appuyée "
                    "par une source que vous pouvez ouvrir.")
        gr.HTML(f'<div class="privacy" id="privacy-notice">⚠️ {render.esc(PRIVACY_NOTICE)}</div>')
        turns = gr.State([])
        rated = gr.State(None)
        with gr.Tabs() as tabs:
            with gr.Tab("Poser une question", id="chat"):
                with gr.Row():
                    with gr.Column(scale=3):
                        chatbot = gr.Chatbot(
                            label="Conversation", elem_id="chatbot", height=520, buttons=[],
                            feedback_options=("Like", "Dislike"), layout="bubble",
                            placeholder="**Posez une question** sur les politiques de solidarité des Départements. "
                                        "Nouveau ou nouvelle ? Commencez par l'onglet « Découvrir ».")
                        msg = gr.Textbox(label="Votre question", placeholder=PLACEHOLDER, lines=2, max_lines=8,
                                         elem_id="question", autofocus=True)
                        gr.HTML('<div class="hint" id="question-hint">Entrée pour envoyer, '
                                'Maj+Entrée pour aller à la ligne.</div>')
                        with gr.Row():
                            send = gr.Button("Envoyer", variant="primary", elem_id="send")
                            new = gr.Button("Nouvelle conversation", elem_id="new-conversation")
                            copy = gr.Button("Copier la réponse", interactive=False, elem_id="copy-answer")
                            export = gr.DownloadButton("Exporter la conversation (Markdown)", value=None,
                                                       interactive=False, elem_id="export")
                        copy_text = gr.Textbox(visible="hidden", elem_id="copy-text")
                        status = gr.HTML(render.status(""), elem_id="status")
                        with gr.Group(visible=False) as comment_box:
                            comment = gr.Textbox(label="Commentaire sur la réponse notée (facultatif)",
                                                 placeholder="Ce qui manque, ce qui est faux… sans donnée personnelle.",
                                                 lines=2, elem_id="comment")
                            comment_send = gr.Button("Envoyer le commentaire", elem_id="comment-send")
                    with gr.Column(scale=2):
                        gr.Markdown("### Sources")
                        panel = gr.HTML(render.sources_panel([]), elem_id="sources", js_on_load=None)
            with gr.Tab("Découvrir", id="discover"):
                gr.Markdown("## Questions pour commencer\nUn clic pose la question dans l'onglet « Poser une question ».")
                starter_buttons = []
                with gr.Row(elem_id="starters"):
                    for theme in themes:
                        with gr.Column(min_width=260):
                            gr.Markdown(f"**{render.md_text(theme.name)}**")
                            for item in theme.questions:
                                starter_buttons.append((gr.Button(item["q"], size="sm", elem_classes=["starter"]),
                                                        item["q"]))
                gr.Markdown("## Les documents du corpus")
                cards = gr.HTML(cards0, elem_id="cards", js_on_load=None)
                gr.Markdown("## Sigles et acronymes")
                gloss = gr.HTML(glossary0, elem_id="glossary", js_on_load=None)
            with gr.Tab("Documents", id="documents"):
                gr.Markdown("## Documents indexés")
                table = gr.HTML(table0, elem_id="documents-table", js_on_load=None)
                refresh = gr.Button("Actualiser la liste", size="sm")
                with gr.Accordion("Administration (réservé à l'administrateur)", open=False, elem_id="admin"):
                    token = gr.Textbox(label="Mot de passe administrateur", type="password", elem_id="admin-token")
                    gr.Markdown(f"Formats acceptés : {', '.join(documents.UPLOAD_SUFFIXES)}, ou un dossier compressé en "
                                f".zip — {settings.upload_max_mb} Mo au plus par fichier ; plusieurs fichiers peuvent être "
                                "déposés ensemble dans la seconde zone. Un fichier de même nom remplace l'ancienne "
                                "version ; un fichier identique à un document présent n'est pas ajouté deux fois.")
                    upload = gr.File(label="Document à ajouter (ou un dossier en .zip)", type="filepath", elem_id="upload")
                    upload_many = gr.File(label="Ou plusieurs documents à la fois", type="filepath",
                                          file_count="multiple", elem_id="upload-many")
                    with gr.Row():
                        up_title = gr.Textbox(label="Titre (facultatif, un seul fichier)")
                        up_publisher = gr.Textbox(label="Éditeur (facultatif, un seul fichier)")
                        up_date = gr.Textbox(label="Date (facultatif, un seul fichier, AAAA-MM-JJ)")
                    add = gr.Button("Ajouter et indexer", variant="primary", elem_id="add-document")
                    with gr.Row():
                        # No document chosen at first: a deletion is always an explicit choice.
                        to_delete = gr.Dropdown(choices=ids0, value=None, label="Document à supprimer",
                                                elem_id="delete-choice")
                        delete = gr.Button("Supprimer", variant="stop", elem_id="delete-document")
                    confirm_delete = gr.Checkbox(value=False, visible=False, label="Je confirme la suppression",
                                                 elem_id="delete-confirm")
                    gr.Markdown("**Corriger les métadonnées** — écrites dans corpus/manifest.toml ; un champ vide "
                                "reprend ce que dit le fichier (propriétés, premier titre, nom du fichier).")
                    to_fix = gr.Dropdown(choices=ids0, value=None, label="Document à corriger", elem_id="fix-choice")
                    with gr.Row():
                        fix_title = gr.Textbox(label="Titre", elem_id="fix-title")
                        fix_publisher = gr.Textbox(label="Éditeur", elem_id="fix-publisher")
                        fix_date = gr.Textbox(label="Date (AAAA, AAAA-MM ou AAAA-MM-JJ)", elem_id="fix-date")
                    fix = gr.Button("Enregistrer les métadonnées", elem_id="fix-metadata")
                    admin_status = gr.HTML(render.status(""), elem_id="admin-status")
                    export_fb = gr.Button("Exporter les avis (JSONL, format du jeu d'évaluation)", elem_id="export-feedback")
                    feedback_file = gr.File(label="Avis exportés", visible=False, elem_id="feedback-file")

        # ----- events -----------------------------------------------------------------------
        ask_inputs = [msg, chatbot, turns]
        ask_outputs = [chatbot, msg, send, new, panel, status, turns, export, copy_text, copy]
        options = dict(show_progress="hidden", concurrency_limit=None)
        send.click(on_send, ask_inputs, ask_outputs, **options)
        msg.submit(on_send, ask_inputs, ask_outputs, **options)
        reset_outputs = [chatbot, msg, turns, panel, status, export, comment_box, rated, copy_text, copy]
        copy.click(None, [copy_text], None, js=COPY_JS).then(
            lambda: render.status("Réponse copiée dans le presse-papiers (avec ses sources).", "ok"), None, status,
            show_progress="hidden")
        new.click(on_new, None, reset_outputs, show_progress="hidden")
        chatbot.clear(on_new, None, reset_outputs, show_progress="hidden")  # the chat's own bin icon
        chatbot.like(on_like, [turns], [status, turns, comment_box, rated], show_progress="hidden")
        comment_send.click(on_comment, [comment, turns, rated], [status, comment], show_progress="hidden")
        for button, question in starter_buttons:
            button.click(lambda q=question: (q, gr.Tabs(selected="chat")), None, [msg, tabs],
                         show_progress="hidden").then(on_send, ask_inputs, ask_outputs, **options)
        admin_outputs = [admin_status, table, to_delete, cards, gloss]
        add.click(on_upload, [token, upload, up_title, up_publisher, up_date, upload_many], admin_outputs,
                  concurrency_limit=1).then(
            fix_choices, None, [to_fix], show_progress="hidden")
        to_delete.change(on_choose_delete, [to_delete], [confirm_delete], show_progress="hidden")
        delete.click(on_delete, [token, to_delete, confirm_delete], admin_outputs + [confirm_delete],
                     concurrency_limit=1).then(fix_choices, None, [to_fix], show_progress="hidden")
        to_fix.change(on_choose_fix, [to_fix], [fix_title, fix_publisher, fix_date], show_progress="hidden")
        fix.click(on_fix, [token, to_fix, fix_title, fix_publisher, fix_date], admin_outputs + [to_fix],
                  concurrency_limit=1)
        export_fb.click(on_export_feedback, [token], [admin_status, feedback_file])
        refresh.click(on_refresh, None, [table, to_delete])

    # ----- the server: the document view beside the Gradio app ---------------------------------
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    gradio_holder: dict = {}

    def logged_in(request: Request) -> bool:
        gapp = gradio_holder.get("app")
        if not settings.auth or gapp is None:
            return True
        token = (request.cookies.get(f"access-token-{gapp.cookie_id}")
                 or request.cookies.get(f"access-token-unsecure-{gapp.cookie_id}"))
        return gapp.tokens.get(token) is not None

    @app.get("/document", response_class=HTMLResponse)
    def document_view(request: Request, doc: str = "", start: int = 0, end: int = 0):
        if not logged_in(request):
            return RedirectResponse("/", status_code=303)
        headers = {"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
                   "X-Content-Type-Options": "nosniff"}
        try:
            text = documents.document_text(settings, doc)
            meta = next(d for d in documents.list_documents(settings) if d["doc_id"] == doc)
        except (AssistantError, StopIteration) as exc:
            return HTMLResponse(render.error_page(str(exc) or "Document introuvable."), status_code=404, headers=headers)
        return HTMLResponse(render.document_page(meta, text, start, end), headers=headers)

    gr.mount_gradio_app(
        app, blocks, path="/", server_name=settings.app_host, server_port=settings.app_port,
        auth=parse_auth(settings.auth),
        auth_message="Assistant solidarités : connectez-vous avec l'identifiant fourni par votre service.",
        footer_links=[], run_history=False, show_error=True, max_file_size=f"{settings.upload_max_mb}mb",
        theme=gr.themes.Default(font=["system-ui", "sans-serif"], font_mono=["ui-monospace", "monospace"]), css=CSS, head=HEAD.replace("__UI_FR__", json.dumps(UI_FR, ensure_ascii=False)), ssr_mode=False, mcp_server=False, pwa=False,
    )
    for route in app.routes:
        if getattr(route, "path", None) in ("", "/") and hasattr(route, "app"):
            gradio_holder["app"] = route.app
    return app, blocks


def warm_up(settings: Settings) -> None:
    """Load the index and the model before the first question (in the background)."""
    try:
        retriever = get_retriever(settings)
        # Searching the starter questions pays the one-off costs (caches, first embeddings) now.
        themes, _ = load_starters()
        for question in [q["q"] for t in themes for q in t.questions]:
            retriever.search(question)
        if settings.llm_backend != "extractive":
            get_chat_model(settings)
        log.info("prêt : index chargé, modèle %s", identity(settings))
    except AssistantError as exc:
        log.warning("préchargement incomplet : %s", exc)


def main() -> None:
    import uvicorn

    try:
        settings = get_settings()
    except ValueError as exc:
        print(f"Erreur : {exc}", file=sys.stderr)
        sys.exit(1)
    setup_logging(settings)
    from assistant.answer import get_scorer
    from assistant.scorer import ScorerError

    try:  # the decision model is required: never serve answers without it
        get_scorer(settings)
    except ScorerError as exc:
        print(f"Erreur : {exc}", file=sys.stderr)
        sys.exit(1)
    app, _ = build(settings)
    threading.Thread(target=warm_up, args=(settings,), daemon=True).start()
    host = settings.app_host
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    print(f"Assistant solidarités : ouvrez http://{shown}:{settings.app_port} dans votre navigateur "
          "(Ctrl-C pour arrêter).", flush=True)
    if host not in ("127.0.0.1", "localhost", "::1"):
        print(f"Attention : l'application écoute sur {host}, elle est joignable depuis le réseau"
              + ("" if settings.auth else " sans identification (réglez ASSISTANT_AUTH)") + ".", flush=True)
    if not settings.admin_token:
        print("Administration des documents désactivée (ASSISTANT_ADMIN_TOKEN non défini).", flush=True)
    uvicorn.run(app, host=host, port=settings.app_port, log_level="warning")


if __name__ == "__main__":
    main()
