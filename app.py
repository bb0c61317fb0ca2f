"""Web chat for département staff (Gradio), on the library in assistant/.

    .venv/bin/python app.py        # http://127.0.0.1:7860 by default (ASSISTANT_HOST / ASSISTANT_PORT)

Layout and wiring only: the chat's behaviour is assistant.chat.ChatController (answers from
assistant.answer.stream), documents come from
assistant.documents, feedback from assistant.feedback, the « Découvrir » view from
assistant.discover, and every piece of HTML from assistant.render (which escapes).
"""

from __future__ import annotations

from assistant import offline

offline.apply()  # before gradio is imported: analytics and hub look-ups off

import hmac  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from datetime import datetime  # noqa: E402
from pathlib import Path  # noqa: E402
from types import SimpleNamespace  # noqa: E402

import gradio as gr  # noqa: E402
from fastapi import FastAPI, Request  # noqa: E402
from fastapi.responses import HTMLResponse, RedirectResponse  # noqa: E402

from assistant import documents, render  # noqa: E402
from assistant.chat import ChatController, ChatView  # noqa: E402
from assistant.discover import document_cards, glossary, load_starters  # noqa: E402
from assistant.errors import AssistantError  # noqa: E402
from assistant.llm import get_chat_model, identity  # noqa: E402
from assistant.privacy import RedactingFilter  # noqa: E402
from assistant.retrieve import get_retriever  # noqa: E402
from assistant.settings import Settings, get_settings  # noqa: E402

log = logging.getLogger("assistant.app")

PRIVACY_NOTICE = ("N'indiquez aucune donnée personnelle sur les usagers (nom, numéro de sécurité sociale, "
                  "adresse, téléphone, situation familiale…) : posez des questions générales sur les dispositifs. "
                  "Les avis que vous laissez sont enregistrés, données personnelles masquées.")
JOB_POLL = 0.3  # seconds between two looks of an upload's page at its indexing job
PLACEHOLDER = "Posez votre question sur les politiques de solidarité (RSA, enfance, autonomie, handicap…)"

HEAD = """<script>
(function () {
  // Gradio words its own interface in the browser's language: this page is French whatever the browser.
  try {
    Object.defineProperty(Navigator.prototype, 'language', {get: function () { return 'fr-FR'; }, configurable: true});
    Object.defineProperty(Navigator.prototype, 'languages', {get: function () { return ['fr-FR', 'fr']; },
                                                             configurable: true});
  } catch (e) { /* an older browser: the rewriting below still applies */ }
  document.documentElement.lang = 'fr';  // read aloud in French by screen readers

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
  var UNITS = {'': 'o', K: 'Ko', M: 'Mo', G: 'Go'};
  function fix(value) {
    if (!value) return value;
    if (Object.prototype.hasOwnProperty.call(LABELS.exact, value.trim())) return LABELS.exact[value.trim()];
    var out = value;
    LABELS.replace.forEach(function (r) { out = out.split(r[0]).join(r[1]); });
    LABELS.patterns.forEach(function (r) { out = out.replace(new RegExp(r[0]), r[1]); });
    // a file's size: « 100.0 KB » is « 100,0 Ko »
    return out.replace(/^(\\d+)\\.(\\d+) ([KMG]?)B(\\s|$)/, function (m, a, b, u, end) {
      return a + ',' + b + ' ' + UNITS[u] + end;
    });
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
      if (!v) return;
      var f = fix(v);
      // A chat message's label is its Markdown source, HTML tags included: its text instead (an inert
      // template element parses it: nothing in it runs or loads).
      LABELS.messages.forEach(function (m) {
        if (f.indexOf(m[0]) !== 0) return;
        var t = document.createElement('template');
        t.innerHTML = f.slice(m[0].length);
        f = m[1] + t.content.textContent.replace(/\\\\(.)/g, '$1').replace(/\\s+/g, ' ').trim().slice(0, 1000);
      });
      if (f !== v) node.setAttribute(a, f);
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
        "Like": "J'aime",
        "Dislike": "Je n'aime pas",
        "Remove": "Retirer",
        "More tabs": "Autres onglets",
        "chatbot conversation": "Conversation avec l'assistant",
        "File upload": "Dépôt de fichier",
        "Click to Upload": "Cliquez pour choisir un fichier",
        "- or -": "- ou -",
        "Uploading...": "Envoi du fichier…",
        "Loading": "Chargement",
    },
    # [regular expression, replacement] of a whole text or label
    "patterns": [["^Remove \\d+$", "Retirer"],  # a chosen document's cross in a multi-select
                 ["^Uploading (\\d+)\\s+files?\\.\\.\\.$", "Envoi de $1 fichier(s)…"]],
    # the label Gradio gives each chat message, its Markdown source after the prefix
    "messages": [["user's message: ", "Votre question : "], ["bot's message: ", "Réponse de l'assistant : "]],
    "replace": [
        ["Cliquez pour télécharger un fichier", "Cliquez pour choisir un fichier"],
        ["Cliquez pour télécharger", "Cliquez pour choisir un fichier"],
        ["pour le télécharger", "pour l'importer"],
        ["ici pour télécharger", "ici pour l'importer"],
        ["processing |", "traitement |"],  # the progress tracker, even when hidden (opacity 0)
        ["queue:", "en attente :"],
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
.refusal.to-check { background: #f0f9ff; border-left-color: #0284c7; }
/* No 👍/👎 under the answer being searched for or written (« Envoyer » is disabled until it is shown). */
body:has(#send:disabled) #chatbot .message-wrap > .message-buttons:last-child { display: none !important; }
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


def _session(request: gr.Request | None) -> str:
    return getattr(request, "session_hash", None) or "local"


# ----- the chat: ChatController's views onto the page's components ------------------------------
def _ask_outputs(view: ChatView) -> tuple:
    """(chatbot, textbox, send, new, panel, status, turns, export, copy text, copy) for one view."""
    skip = gr.skip()

    def given(value):
        return skip if value is None else value

    lock = skip if view.locked is None else gr.update(interactive=not view.locked)
    export = skip if view.export is None else gr.update(value=str(view.export), interactive=True)
    copy = skip if view.copy_text is None else gr.update(interactive=True)
    notice = skip if view.notice is None else view.notice.html()
    return (given(view.messages), given(view.question), lock, lock, given(view.sources), notice,
            given(view.turns), export, given(view.copy_text), copy)


class ChatHandlers:
    """Gradio's event functions for the chat tab, each a thin call into the controller."""

    def __init__(self, chat: ChatController):
        self.chat = chat

    def on_send(self, message, messages, turns, docs, since, until, request: gr.Request):
        for view in self.chat.ask(message, messages, turns, _session(request), docs, since, until):
            yield _ask_outputs(view)

    def on_new(self):
        view = self.chat.new_conversation()
        return (view.messages, view.question, view.turns, view.sources, view.notice.html(),
                gr.update(value=None, interactive=False), gr.update(visible=False), None, view.copy_text,
                gr.update(interactive=False))

    def on_like(self, turns, data: gr.LikeData, request: gr.Request):
        index = data.index[0] if isinstance(data.index, (list, tuple)) else data.index
        view = self.chat.rate(turns, index, data.liked, _session(request))
        if view.turns is None:
            return view.notice.html(), gr.skip(), gr.skip(), gr.skip()
        return view.notice.html(), view.turns, gr.update(visible=True), view.rated

    def on_comment(self, comment, turns, rated):
        view = self.chat.comment(comment, turns, rated)
        return view.notice.html(), "" if view.clear_comment else gr.skip()


# ----- documents (admin) ----------------------------------------------------------------------------
class AdminHandlers:
    """The Documents tab and the views it shares with the others (Découvrir, the chat's filter); every
    change needs the admin password. Every view is read from the index registry, at page load and after
    each change, and lists only what the chat's retriever searches."""

    def __init__(self, settings: Settings, chat: ChatController, themes, glossary_conf):
        self.settings, self.chat = settings, chat
        self.themes, self.glossary_conf = themes, glossary_conf
        self.jobs = documents.IndexJobs(settings, after=self.reload_retriever)
        self._retriever_lock = threading.Lock()
        self._discover_cache: tuple = (None, None, None)  # (retriever, documents listed, (cards, glossary))

    # ----- what the index holds ----------------------------------------------------------------
    def reload_retriever(self):
        with self._retriever_lock:
            return get_retriever(self.settings, refresh=True)

    def serving(self):
        """The chat's retriever, reopened first when the index registry holds other documents than it
        serves (a job that ended, an ingest by another process). Not while a job runs: it reopens the
        retriever itself once its files are searchable."""
        with self._retriever_lock:
            retriever = get_retriever(self.settings)
            if self.jobs.running() is None and documents.index_state(self.settings) != documents.records_state(
                    retriever.generation, retriever.documents):
                log.info("the index changed: reopening the retriever")
                retriever = get_retriever(self.settings, refresh=True)
            return retriever

    def listed(self) -> tuple:
        """(retriever, its documents as list_documents gives them)."""
        retriever = self.serving()
        return retriever, documents.list_documents(self.settings, retriever.documents)

    def find_document(self, doc_id: str) -> dict | None:
        return next((d for d in self.listed()[1] if d["doc_id"] == doc_id), None)

    def chosen_document(self, doc_id) -> dict | None:
        """The document a list names, or None: nothing chosen, or the index unreadable for now (a
        choice only fills a form; the action itself says what went wrong)."""
        try:
            return self.find_document(doc_id) if doc_id else None
        except AssistantError:
            return None

    def discover_html(self, retriever, docs: list[dict]) -> tuple[str, str]:
        cached_retriever, cached_docs, html = self._discover_cache
        if cached_retriever is retriever and cached_docs == docs:  # a page load reads, rarely recomputes
            return html
        cards = document_cards(retriever, docs, self.themes)
        html = (render.cards_html(cards),
                render.glossary_html(glossary(retriever, self.glossary_conf.get("hide", []))))
        self._discover_cache = (retriever, docs, html)
        return html

    def views(self, fix_value: str | None = None) -> tuple:
        """Updates of (documents table, deletion list, correction list, cards, glossary, chat filter).
        The deletion list never keeps a choice: a deletion is always chosen anew."""
        try:
            retriever, docs = self.listed()
        except AssistantError as exc:
            message = render.status(f"Index indisponible : {exc}", "error")
            return message, gr.update(choices=[], value=None), gr.update(choices=[], value=None), message, message, \
                gr.update(choices=[])
        try:
            cards, gloss = self.discover_html(retriever, docs)
        except Exception:  # the Découvrir view failing leaves the others shown
            log.exception("Découvrir view failed")
            cards = gloss = render.status("Cette vue n'a pas pu être construite ; les autres sont à jour.", "error")
        ids = [(render.document_choice(d), d["doc_id"]) for d in docs]
        fix = fix_value if fix_value in {d["doc_id"] for d in docs} else None
        return (render.documents_table(docs), gr.update(choices=ids, value=None), gr.update(choices=ids, value=fix),
                cards, gloss, gr.update(choices=self.chat.document_choices(docs)))

    # ----- access ------------------------------------------------------------------------------------
    def is_admin(self, token: str) -> bool:
        return bool(self.settings.admin_token) and hmac.compare_digest(
            (token or "").encode("utf-8"), self.settings.admin_token.encode("utf-8"))

    def refusal(self, token: str) -> str | None:
        """Why `token` may not administer, or None when it may."""
        if self.is_admin(token):
            return None
        if not self.settings.admin_token:
            return ("L'administration est désactivée : aucun mot de passe administrateur n'est configuré "
                    "(variable ASSISTANT_ADMIN_TOKEN).")
        if not token:
            return "Réservé à l'administrateur : saisissez le mot de passe administrateur."
        return "Mot de passe administrateur incorrect : opération refusée."

    # ----- page load and the indexing job ---------------------------------------------------------
    def on_load(self):
        """Outputs (the six views, admin status, job timer): what the index holds now, and the indexing
        job's state (a page reloaded during a job follows it)."""
        job = self.jobs.current()
        shown = ""
        if job and job.running:
            shown = _job_running(job)
        elif job:
            ended = datetime.fromtimestamp(job.finished).strftime("%H:%M")
            shown = _multiline(render.status(f"Dernière indexation, terminée à {ended} : {job.message}", job.kind))
        return (*self.views(), shown, gr.Timer(active=bool(job and job.running)))

    def on_upload(self, token, file, title, publisher, date, many=None):
        """Generator: starts the indexing job, then follows it; outputs (admin status, the six views, job
        timer). The job runs on the server: closing the page stops only this following (a page loaded
        while the job runs follows it with the timer, on_job_tick)."""
        skip = (gr.skip(),) * 7
        file = many or file  # the several-files box first when both are filled
        refused = (self.refusal(token) or (None if file else "Choisissez d'abord un fichier à ajouter.")
                   or self.jobs.busy_message())
        if refused:
            yield render.status(refused, "error"), *skip
            return
        files = file if isinstance(file, list) else [file]
        paths = [Path(f if isinstance(f, str) else getattr(f, "name", f)) for f in files if f]
        try:
            job = self.jobs.start([(p, p.name) for p in paths],
                                  {"title": title, "publisher": publisher, "date": date})
        except AssistantError as exc:
            log.info("upload refused: %s", exc)
            yield render.status(str(exc), "error"), *skip
            return
        log.info("upload: index job %s started (%s)", job.number, job.name)
        shown = None
        while job.running:
            if job.progress != shown:
                shown = job.progress
                yield _job_running(job), *skip
            time.sleep(JOB_POLL)
            job = self.jobs.current()
        yield self.on_job_tick()

    def on_job_tick(self):
        """Outputs (admin status, the six views, job timer): the job's progress, then its end with
        every view read again."""
        job = self.jobs.current()
        if job is None:
            return ("", *([gr.skip()] * 6), gr.Timer(active=False))
        if job.running:
            return (_job_running(job), *([gr.skip()] * 6), gr.skip())
        return (_multiline(render.status(job.message, job.kind)), *self.views(), gr.Timer(active=False))

    # ----- deleting, correcting -------------------------------------------------------------------------
    def on_choose_delete(self, doc_id):
        """The confirmation box of a deletion: names the chosen document and its passage count, unticked."""
        doc = self.chosen_document(doc_id)
        if doc is None:
            return gr.update(visible=False, value=False)
        return gr.update(visible=True, value=False, label=render.delete_confirmation(doc))

    def on_delete(self, token, doc_id, confirmed):
        """Outputs (admin status, the six views, confirmation box)."""
        skip = (gr.skip(),) * 7
        refused = (self.refusal(token) or (None if doc_id else "Choisissez le document à supprimer.")
                   or self.jobs.busy_message())
        if refused:
            return render.status(refused, "error"), *skip
        try:
            doc = self.find_document(doc_id)
        except AssistantError as exc:
            return render.status(str(exc), "error"), *skip
        if doc is None:
            return render.status(f"Document introuvable : {doc_id}.", "error"), *skip
        if not confirmed:
            return (render.status(f"Suppression de « {doc['title']} » ({doc['doc_id']}, "
                                  f"{render.passage_count(doc['chunks'])}) non faite : cochez la case de "
                                  "confirmation, puis cliquez de nouveau sur « Supprimer ».", "error"), *skip)
        try:
            message = documents.delete_document(self.settings, doc_id)
            self.reload_retriever()
        except AssistantError as exc:
            return render.status(str(exc), "error"), *skip
        log.info("delete: %s", message)
        return render.status(message, "ok"), *self.views(), gr.update(visible=False, value=False)

    def on_choose_fix(self, doc_id):
        """The correction fields, filled with the document's current title, publisher and date."""
        doc = self.chosen_document(doc_id)
        if doc is None:
            return "", "", ""
        # The defaults are not values to correct: an empty field means « what the file says ».
        return (doc["title"], "" if doc["publisher"] == "non précisé" else doc["publisher"],
                "" if doc["date"] == "non datée" else doc["date"])

    def on_fix(self, token, doc_id, title, publisher, date):
        """Outputs (admin status, the six views)."""
        skip = (gr.skip(),) * 6
        refused = (self.refusal(token) or (None if doc_id else "Choisissez le document à corriger.")
                   or self.jobs.busy_message())
        if refused:
            return render.status(refused, "error"), *skip
        try:
            message = documents.update_metadata(self.settings, doc_id, title=title, date=date, publisher=publisher)
            self.reload_retriever()
        except AssistantError as exc:
            return render.status(str(exc), "error"), *skip
        except Exception as exc:  # never a traceback in the page
            log.exception("metadata correction failed")
            return (render.status(f"« {doc_id} » : échec inattendu de la correction ({type(exc).__name__}) ; "
                                  "le manifeste est inchangé.", "error"), *skip)
        log.info("metadata: %s", message)
        return render.status(message, "ok"), *self.views(fix_value=doc_id)

    def on_export_feedback(self, token):
        refused = self.refusal(token)
        if refused:
            return render.status(refused, "error"), gr.update(value=None, visible=False)
        try:
            store = self.chat.feedback_store()
            path = self.chat.export_dir / "avis-evaluation.jsonl"
            self.chat.export_dir.mkdir(parents=True, exist_ok=True)
            with open(path, "w", encoding="utf-8") as fh:
                n = store.export_jsonl(fh, self.settings.corpus_dir)
        except AssistantError as exc:
            return render.status(str(exc), "error"), gr.update(value=None, visible=False)
        return (render.status(f"{n} avis exportés au format du jeu d'évaluation (JSONL).", "ok"),
                gr.update(value=str(path), visible=True))


def _multiline(status_html: str) -> str:
    # A batch's outcome is one line per kind of outcome.
    return status_html.replace('<div class="status', '<div style="white-space: pre-line" class="status', 1)


def _job_running(job: documents.IndexJob) -> str:
    return render.status(f"{job.progress} L'indexation se poursuit sur le serveur même si vous fermez cette page.")


# ----- the page -----------------------------------------------------------------------------------
LOADING = render.status("Lecture de l'index…")  # until the page's load event reads the registry


def _filters(ui: SimpleNamespace) -> None:
    # Collapsed: most questions are about the whole corpus.
    with gr.Accordion("Filtres", open=False, elem_id="filters"):
        # Typed values are allowed: the library also takes words of a title, and a document deleted while
        # chosen reaches the library's French message instead of Gradio's own error.
        ui.filter_docs = gr.Dropdown(choices=[], value=[], multiselect=True, allow_custom_value=True,
                                     label="Documents",
                                     info="Aucun document choisi : la recherche porte sur tous.",
                                     elem_id="filter-docs")
        with gr.Row():
            ui.since = gr.Textbox(label="Depuis (AAAA, AAAA-MM ou AAAA-MM-JJ)", placeholder="ex. 2023",
                                  elem_id="filter-since")
            ui.until = gr.Textbox(label="Jusqu'au (AAAA, AAAA-MM ou AAAA-MM-JJ)", placeholder="ex. 2024-06",
                                  elem_id="filter-until")


def _chat_tab(ui: SimpleNamespace) -> None:
    with gr.Row():
        with gr.Column(scale=3):
            ui.chatbot = gr.Chatbot(
                label="Conversation", elem_id="chatbot", height=520, buttons=[],
                feedback_options=("Like", "Dislike"), layout="bubble",
                placeholder="**Posez une question** sur les politiques de solidarité des Départements. "
                            "Nouveau ou nouvelle ? Commencez par l'onglet « Découvrir ».")
            ui.msg = gr.Textbox(label="Votre question", placeholder=PLACEHOLDER, lines=2, max_lines=8,
                                elem_id="question", autofocus=True)
            gr.HTML('<div class="hint" id="question-hint">Entrée pour envoyer, '
                    'Maj+Entrée pour aller à la ligne.</div>')
            with gr.Row():
                ui.send = gr.Button("Envoyer", variant="primary", elem_id="send")
                ui.new = gr.Button("Nouvelle conversation", elem_id="new-conversation")
                ui.copy = gr.Button("Copier la réponse", interactive=False, elem_id="copy-answer")
                ui.export = gr.DownloadButton("Exporter la conversation (Markdown)", value=None,
                                              interactive=False, elem_id="export")
            ui.copy_text = gr.Textbox(visible="hidden", elem_id="copy-text")
            ui.status = gr.HTML(render.status(""), elem_id="status")
            # Right under the status that thanks for the avis, and scrolled into view when it opens.
            with gr.Group(visible=False, elem_id="comment-box") as ui.comment_box:
                ui.comment = gr.Textbox(label="Commentaire sur la réponse notée (facultatif)",
                                        placeholder="Ce qui manque, ce qui est faux… sans donnée personnelle.",
                                        lines=2, elem_id="comment")
                ui.comment_send = gr.Button("Envoyer le commentaire", elem_id="comment-send")
            _filters(ui)
        with gr.Column(scale=2):
            gr.Markdown("### Sources")
            ui.panel = gr.HTML(render.sources_panel([]), elem_id="sources", js_on_load=None)


def _discover_tab(ui: SimpleNamespace, themes) -> None:
    gr.Markdown("## Questions pour commencer\nUn clic pose la question dans l'onglet « Poser une question ».")
    ui.starters = []
    with gr.Row(elem_id="starters"):
        for theme in themes:
            with gr.Column(min_width=260):
                gr.Markdown(f"**{render.md_text(theme.name)}**")
                for item in theme.questions:
                    ui.starters.append((gr.Button(item["q"], size="sm", elem_classes=["starter"]), item["q"]))
    gr.Markdown("## Les documents du corpus")
    ui.cards = gr.HTML(LOADING, elem_id="cards", js_on_load=None)
    gr.Markdown("## Sigles et acronymes")
    ui.gloss = gr.HTML(LOADING, elem_id="glossary", js_on_load=None)


def _documents_tab(ui: SimpleNamespace, settings: Settings) -> None:
    gr.Markdown("## Documents indexés")
    ui.table = gr.HTML(LOADING, elem_id="documents-table", js_on_load=None)
    ui.refresh = gr.Button("Actualiser la liste", size="sm", elem_id="refresh-documents")
    with gr.Accordion("Administration (réservé à l'administrateur)", open=False, elem_id="admin"):
        ui.token = gr.Textbox(label="Mot de passe administrateur", type="password", elem_id="admin-token")
        gr.Markdown(f"Formats acceptés : {', '.join(documents.UPLOAD_SUFFIXES)}, ou un dossier compressé en "
                    f".zip — {settings.upload_max_mb} Mo au plus par fichier ; plusieurs fichiers peuvent être "
                    "déposés ensemble dans la seconde zone. Un fichier de même nom remplace l'ancienne "
                    "version ; un fichier identique à un document présent n'est pas ajouté deux fois. "
                    "L'indexation se fait sur le serveur : elle se poursuit si vous fermez la page.")
        ui.upload = gr.File(label="Document à ajouter (ou un dossier en .zip)", type="filepath", elem_id="upload")
        ui.upload_many = gr.File(label="Ou plusieurs documents à la fois", type="filepath",
                                 file_count="multiple", elem_id="upload-many")
        with gr.Row():
            ui.up_title = gr.Textbox(label="Titre (facultatif, un seul fichier)")
            ui.up_publisher = gr.Textbox(label="Éditeur (facultatif, un seul fichier)")
            ui.up_date = gr.Textbox(label="Date (facultatif, un seul fichier, AAAA-MM-JJ)")
        ui.add = gr.Button("Ajouter et indexer", variant="primary", elem_id="add-document")
        ui.job_timer = gr.Timer(1.0, active=False)  # follows the indexing job while it runs
        with gr.Row():
            # No document chosen at first: a deletion is always an explicit choice.
            ui.to_delete = gr.Dropdown(choices=[], value=None, label="Document à supprimer", elem_id="delete-choice")
            ui.delete = gr.Button("Supprimer", variant="stop", elem_id="delete-document")
        ui.confirm_delete = gr.Checkbox(value=False, visible=False, label="Je confirme la suppression",
                                        elem_id="delete-confirm")
        gr.Markdown("**Corriger les métadonnées** — écrites dans corpus/manifest.toml ; un champ vide "
                    "reprend ce que dit le fichier (propriétés, premier titre, nom du fichier).")
        ui.to_fix = gr.Dropdown(choices=[], value=None, label="Document à corriger", elem_id="fix-choice")
        with gr.Row():
            ui.fix_title = gr.Textbox(label="Titre", elem_id="fix-title")
            ui.fix_publisher = gr.Textbox(label="Éditeur", elem_id="fix-publisher")
            ui.fix_date = gr.Textbox(label="Date (AAAA, AAAA-MM ou AAAA-MM-JJ)", elem_id="fix-date")
        ui.fix = gr.Button("Enregistrer les métadonnées", elem_id="fix-metadata")
        ui.admin_status = gr.HTML(render.status(""), elem_id="admin-status")
        ui.export_fb = gr.Button("Exporter les avis (JSONL, format du jeu d'évaluation)", elem_id="export-feedback")
        ui.feedback_file = gr.File(label="Avis exportés", visible=False, elem_id="feedback-file")


# After a 👍/👎 the comment box opens: bring it into view (on a phone it is below the fold).
SHOW_COMMENT_JS = """() => { setTimeout(() => {
  const box = document.querySelector('#comment'), end = document.querySelector('#comment-send');
  if (!box || !end || end.offsetParent === null) return;
  const top = box.getBoundingClientRect().top, bottom = end.getBoundingClientRect().bottom;
  if (top < 0 || bottom > window.innerHeight) box.scrollIntoView({block: 'center'});
}, 100); }"""


def _wire_chat(ui: SimpleNamespace, chat: ChatHandlers) -> None:
    ask_inputs = [ui.msg, ui.chatbot, ui.turns, ui.filter_docs, ui.since, ui.until]
    ask_outputs = [ui.chatbot, ui.msg, ui.send, ui.new, ui.panel, ui.status, ui.turns, ui.export, ui.copy_text, ui.copy]
    options = dict(show_progress="hidden", concurrency_limit=None)
    ui.send.click(chat.on_send, ask_inputs, ask_outputs, **options)
    ui.msg.submit(chat.on_send, ask_inputs, ask_outputs, **options)
    reset_outputs = [ui.chatbot, ui.msg, ui.turns, ui.panel, ui.status, ui.export, ui.comment_box, ui.rated,
                     ui.copy_text, ui.copy]
    ui.copy.click(None, [ui.copy_text], None, js=COPY_JS).then(
        lambda: render.status("Réponse copiée dans le presse-papiers (avec ses sources).", "ok"), None, ui.status,
        show_progress="hidden")
    ui.new.click(chat.on_new, None, reset_outputs, show_progress="hidden")
    ui.chatbot.clear(chat.on_new, None, reset_outputs, show_progress="hidden")  # the chat's own bin icon
    ui.chatbot.like(chat.on_like, [ui.turns], [ui.status, ui.turns, ui.comment_box, ui.rated],
                    show_progress="hidden").then(None, None, None, js=SHOW_COMMENT_JS)
    ui.comment_send.click(chat.on_comment, [ui.comment, ui.turns, ui.rated], [ui.status, ui.comment],
                          show_progress="hidden")
    for button, question in ui.starters:
        button.click(lambda q=question: (q, gr.Tabs(selected="chat")), None, [ui.msg, ui.tabs],
                     show_progress="hidden").then(chat.on_send, ask_inputs, ask_outputs, **options)


def _wire_admin(ui: SimpleNamespace, admin: AdminHandlers, blocks: gr.Blocks) -> None:
    views = [ui.table, ui.to_delete, ui.to_fix, ui.cards, ui.gloss, ui.filter_docs]
    blocks.load(admin.on_load, None, views + [ui.admin_status, ui.job_timer], show_progress="hidden")
    ui.add.click(admin.on_upload, [ui.token, ui.upload, ui.up_title, ui.up_publisher, ui.up_date, ui.upload_many],
                 [ui.admin_status] + views + [ui.job_timer], show_progress="hidden", concurrency_limit=None)
    ui.job_timer.tick(admin.on_job_tick, None, [ui.admin_status] + views + [ui.job_timer], show_progress="hidden",
                      concurrency_limit=None)
    ui.to_delete.change(admin.on_choose_delete, [ui.to_delete], [ui.confirm_delete], show_progress="hidden")
    ui.delete.click(admin.on_delete, [ui.token, ui.to_delete, ui.confirm_delete],
                    [ui.admin_status] + views + [ui.confirm_delete], concurrency_limit=1)
    ui.to_fix.change(admin.on_choose_fix, [ui.to_fix], [ui.fix_title, ui.fix_publisher, ui.fix_date],
                     show_progress="hidden")
    ui.fix.click(admin.on_fix, [ui.token, ui.to_fix, ui.fix_title, ui.fix_publisher, ui.fix_date],
                 [ui.admin_status] + views, concurrency_limit=1)
    ui.export_fb.click(admin.on_export_feedback, [ui.token], [ui.admin_status, ui.feedback_file])
    ui.refresh.click(admin.views, None, views, show_progress="hidden")


def _page(settings: Settings, admin: AdminHandlers) -> tuple[gr.Blocks, SimpleNamespace]:
    ui = SimpleNamespace()
    with gr.Blocks(title="Assistant solidarités", analytics_enabled=False) as blocks:
        gr.Markdown("# Assistant solidarités\nRéponses tirées des documents du corpus, chaque phrase appuyée "
                    "par une source que vous pouvez ouvrir.")
        gr.HTML(f'<div class="privacy" id="privacy-notice">⚠️ {render.esc(PRIVACY_NOTICE)}</div>')
        ui.turns = gr.State([])
        ui.rated = gr.State(None)
        with gr.Tabs() as ui.tabs:
            with gr.Tab("Poser une question", id="chat"):
                _chat_tab(ui)
            with gr.Tab("Découvrir", id="discover"):
                _discover_tab(ui, admin.themes)
            with gr.Tab("Documents", id="documents"):
                _documents_tab(ui, settings)
        _wire_chat(ui, ChatHandlers(admin.chat))
        _wire_admin(ui, admin, blocks)
    return blocks, ui


# ----- the server: the document view beside the Gradio app ---------------------------------------
def _server(settings: Settings, blocks: gr.Blocks) -> FastAPI:
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
        theme=gr.themes.Default(font=["system-ui", "sans-serif"], font_mono=["ui-monospace", "monospace"]), css=CSS,
        head=HEAD.replace("__UI_FR__", json.dumps(UI_FR, ensure_ascii=False)), ssr_mode=False, mcp_server=False,
        pwa=False,
    )
    for route in app.routes:
        if getattr(route, "path", None) in ("", "/") and hasattr(route, "app"):
            gradio_holder["app"] = route.app
    return app


def build(settings: Settings) -> tuple[FastAPI, gr.Blocks]:
    themes, glossary_conf = load_starters()
    admin = AdminHandlers(settings, ChatController(settings), themes, glossary_conf)
    blocks, _ = _page(settings, admin)
    return _server(settings, blocks), blocks


def warm_up(settings: Settings) -> None:
    """Load the index and the model before the first question (in the background)."""
    try:
        retriever = get_retriever(settings)
        # Searching the starter questions pays the one-off costs (caches, first embeddings) now.
        themes, _ = load_starters()
        for question in [q["q"] for t in themes for q in t.questions]:
            retriever.search(question)
        get_chat_model(settings)  # loads nothing for a backend that does not write
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
