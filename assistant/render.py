"""Render: answers, sources, cards and documents as HTML/Markdown for the web chat.

Everything that comes from a user or a document is escaped here (`esc`), so a question
or a document containing <script> or an onerror attribute is shown as text, never run.
Citation links point at `#src-<turn>-<n>`; the page script opens that passage.
"""

from __future__ import annotations

import html
import re
from datetime import datetime
from urllib.parse import urlencode

from .verify import REFUSAL

_CITE = re.compile(r"\[(\d{1,2})\]")
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+!|~>-])")


def esc(text) -> str:
    return html.escape(str(text or ""), quote=True)


def md_text(text: str) -> str:
    """User or model text inside a Markdown message: no markup, no HTML, line breaks kept."""
    return _MD_SPECIAL.sub(r"\\\1", html.escape(str(text or ""), quote=False))


def src_id(turn: int, n: int) -> str:
    return f"src-{turn}-{n}"


def document_url(source: dict) -> str:
    query = urlencode({"doc": source.get("doc_id", ""), "start": source.get("start_line", 1),
                       "end": source.get("end_line", source.get("start_line", 1))})
    return f"/document?{query}#L{max(1, int(source.get('start_line', 1)) - 3)}"


def location(source: dict, dash: str = "–") -> str:
    """Where a passage is: sheet and rows, OCR'd page or slide when known, else lines (and page)."""
    if source.get("where"):
        return source["where"]
    return f"lignes {source['start_line']}{dash}{source['end_line']}" + (
        f", page {source['page']}" if "page" in source else "")


_UNNAMED = re.compile(r"\s*[,;(]?\s*\bnon nommée?s?\)?\s*$", re.IGNORECASE)


def publisher(value) -> str:
    """A publisher as shown to staff: the manifest's « …, non nommé » (no named author) is cataloguing, not a name."""
    return _UNNAMED.sub("", str(value or "")).strip()


def _by(source: dict) -> str:
    """Publisher and date as plain text (the copied answer, the export)."""
    return ", ".join(b for b in (publisher(source.get("publisher", "")), str(source.get("date", "") or "")) if b)


def source_line(source: dict, dash: str = "-") -> str:
    """The one way a source is named in text: « title — publisher, date — file, lines a-b »."""
    head = " — ".join(b for b in (str(source.get("title", "") or ""), _by(source)) if b)
    return f"{head} — {source.get('doc_id', '')}, {location(source, dash)}"


# ----- chat messages (Markdown, rendered by the Chatbot) ---------------------------------
def streaming_message(raw: str) -> str:
    return md_text(raw) + " ▌"


def motive(reason: str) -> str:
    """Why an answer is a refusal, as the chat, the copied answer and the CLI show it."""
    return f"Pourquoi : {reason.rstrip('.')}."


def outcome_status(result: dict) -> tuple[str, str]:
    """The status line under the chat for an answer's outcome, and its kind (colour)."""
    outcome = result.get("outcome") or ("refuse" if result.get("refused") else "answer")
    if outcome == "answer":
        return (f"{result.get('headline', 'Réponse trouvée dans les documents')} : {len(result.get('citations', []))} "
                "source(s). Chaque phrase figure mot pour mot dans le passage cité ; cliquez sur [n] pour le voir.", "ok")
    if outcome == "check":
        return ("Pas de réponse directe : la phrase la plus proche est surlignée, à vérifier dans son passage.", "warn")
    return ("Pas de réponse dans les documents : voyez les passages les plus proches.", "warn")


def answer_message(turn: int, result: dict) -> str:
    """The verified answer with clickable [n]; passages to check with the closest sentence; or the refusal."""
    if result.get("refused"):
        closest = result.get("closest") or []
        if result.get("outcome") == "check":
            # not « check »: Gradio's Markdown hides that class (its code-copy tick)
            lines = ['<div class="refusal to-check"><strong>Pas de réponse directe : voici les passages les plus '
                     'proches.</strong>']
            checked = result.get("highlight") or []
            if checked:  # the sentences an answer would have shown, not stated as one
                lines.append("<br>" + ("Phrase la plus proche" if len(checked) == 1 else "Phrases les plus proches")
                             + ", à vérifier :")
            for h in checked:
                lines.append(f'<br>« <mark>{esc(h["sentence"])}</mark> » <a href="#{src_id(turn, h["n"])}">[{h["n"]}]</a>')
        else:
            lines = [f'<div class="refusal"><strong>Pas de réponse dans les documents.</strong> {esc(REFUSAL)}']
        if result.get("refusal_reason"):  # why: a year absent, personal data, words in no document…
            lines.append(f'<br><span class="refusal-reason">{esc(motive(result["refusal_reason"]))}</span>')
        if closest:
            lines.append("<br>Passages les plus proches, à consulter :<ul>")
            for i, p in enumerate(closest, 1):
                s = p["source"]
                lines.append(f'<li><a href="#{src_id(turn, i)}">[{i}]</a> {esc(source_line(s, "–"))}</li>')
            lines.append("</ul>")
        lines.append("</div>")
        return "".join(lines)
    cited = {c["n"] for c in result.get("citations", [])}
    parts = []
    pos, text = 0, result.get("answer", "")
    for m in _CITE.finditer(text):
        parts.append(md_text(text[pos:m.start()]))
        n = int(m.group(1))
        parts.append(f'<a href="#{src_id(turn, n)}" title="Voir le passage {n}">[{n}]</a>' if n in cited else md_text(m.group(0)))
        pos = m.end()
    parts.append(md_text(text[pos:]))
    body = "".join(parts)
    if result.get("notice"):
        body += f"\n\n<em>{md_text(result['notice'])}</em>"
    if result.get("citations"):
        body += "\n\n<strong>Sources :</strong><br>" + "<br>".join(
            f'<a href="#{src_id(turn, c["n"])}">[{c["n"]}]</a> {esc(source_line(c["source"], "–"))}'
            for c in result["citations"])
    return body


def answer_plain(result: dict) -> str:
    """The answer as plain text with its sources, for the clipboard."""
    lines = [result.get("answer", "")]
    if result.get("refused") and result.get("refusal_reason"):
        lines += [motive(result["refusal_reason"])]
    if result.get("notice"):
        lines += ["", result["notice"]]
    shown = result.get("citations") if not result.get("refused") else [
        {"n": i, "source": p["source"]} for i, p in enumerate(result.get("closest") or [], 1)]
    if shown:
        lines += ["", "Sources :" if not result.get("refused") else "Passages les plus proches :"]
        lines += [f"[{c['n']}] {source_line(c['source'])}" for c in shown]
    return "\n".join(lines)


def error_message(message: str) -> str:
    return f'<div class="refusal"><strong>Erreur :</strong> {esc(message)}</div>'


# ----- sources panel (HTML) --------------------------------------------------------------
def _supporting_spans(text: str, sentences: list[str]) -> list[tuple[int, int]]:
    """Where each answer sentence stands in the passage: verbatim when the model copied it,
    else the passage sentence sharing the most content words with it (the model paraphrased)."""
    from .verify import content_terms, numbers, split_sentences

    candidates, cursor = [], 0
    for sentence in split_sentences(text):
        pos = text.find(sentence, cursor)
        if pos >= 0:
            candidates.append((pos, pos + len(sentence), content_terms(sentence), numbers(sentence)))
            cursor = pos + len(sentence)
    spans = []
    for s in sentences:
        core = _CITE.sub("", s).strip().rstrip(".").strip()
        if len(core) < 12:
            continue
        pos = text.find(core)
        if pos >= 0:
            spans.append((pos, pos + len(core)))
            continue
        wanted, nums = content_terms(core), numbers(core)
        best, best_score = None, 0.0
        for start, end, terms, found in candidates:
            shared = len(wanted & terms) + 2 * len(nums & found)
            score = shared / max(1, len(wanted) + 2 * len(nums))
            if shared >= 2 and score > best_score:
                best, best_score = (start, end), score
        if best and best_score >= 0.3:
            spans.append(best)
    return sorted(set(spans))


def _highlight(text: str, sentences: list[str]) -> str:
    """The passage, escaped, with each supporting sentence in <mark>."""
    out, cursor = [], 0
    for start, end in _supporting_spans(text, sentences):
        if start < cursor:
            continue
        out.append(esc(text[cursor:start]))
        out.append(f"<mark>{esc(text[start:end])}</mark>")
        cursor = end
    out.append(esc(text[cursor:]))
    return "".join(out)


def _passage_block(turn: int, n: int, passage: dict, citation: dict | None, open_: bool) -> str:
    s = passage["source"]
    where = location(s)
    badge = '<span class="badge">cité</span>' if citation else ""
    body = _highlight(passage["text"], citation["sentences"] if citation else [])
    also = "".join(f"<li>{esc(source_line(o, '–'))}</li>" for o in passage.get("also_in", []))
    return (
        f'<details class="source" id="{src_id(turn, n)}"{" open" if open_ else ""}>'
        f'<summary><span class="num">[{n}]</span> {esc(s["title"])} {badge}</summary>'
        f'<div class="meta">{esc(_by(s))}'
        + (f'<br>Section : {esc(s["section"])}' if s.get("section") else "")
        + f'<br>{esc(s["doc_id"])}, {where}</div>'
        f'<blockquote class="passage">{body}</blockquote>'
        + (f'<div class="also">Aussi dans :<ul>{also}</ul></div>' if also else "")
        + f'<a class="open-doc" href="{esc(document_url(s))}" target="_blank" rel="noopener">'
          f"Ouvrir le document à cet endroit</a></details>"
    )


def turn_sources(turn: int, question: str, passages: list[dict], result: dict | None, status: str = "",
                 searching: bool = False) -> str:
    """The passages of one turn; cited ones open, with their supporting sentences marked. While `searching`,
    an empty list is not yet « Aucun passage trouvé »."""
    citations = {c["n"]: c for c in (result or {}).get("citations", [])}
    refused = bool(result and result.get("refused"))
    head = f'<div class="turn-q">Question : {esc(question)}</div>'
    if status:
        head += f'<div class="pending">{esc(status)}</div>'
    if refused and result.get("outcome") == "check":  # as the chat says it: not « no answer »
        head += ('<div class="refusal to-check">Pas de réponse directe : voici les passages les plus proches, '
                 "à vérifier.</div>")
    elif refused:
        head += ('<div class="refusal">Aucune réponse n\'a été trouvée dans les documents. '
                 "Voici les passages les plus proches :</div>")
    if not passages:
        return head + ("" if searching else '<p class="empty">Aucun passage trouvé.</p>')
    blocks = []
    for i, p in enumerate(passages, 1):
        open_ = i in citations or (refused and i <= len(result.get("closest") or []))  # what the refusal names
        blocks.append(_passage_block(turn, i, p, citations.get(i), open_))
    return head + "".join(blocks)


def sources_panel(turns: list[dict], pending: dict | None = None) -> str:
    """Newest turn first and open; earlier turns folded (their citation links still work)."""
    if not turns and not pending:
        return ('<div class="sources-empty">Les passages trouvés dans les documents s\'afficheront ici '
                "dès la recherche terminée, avant la fin de la réponse. Cliquez sur un numéro [n] "
                "pour voir le passage qui appuie la phrase.</div>")
    out = []
    items = list(enumerate(turns))
    if pending is not None:
        items.append((len(turns), pending))
    for index, (i, t) in enumerate(reversed(items)):
        inner = turn_sources(i, t["question"], t.get("passages", []), t.get("result"), t.get("status", ""),
                             t.get("searching", False))
        if index == 0:
            out.append(f'<section class="turn current" id="turn-{i}">{inner}</section>')
        else:
            out.append(f'<details class="turn" id="turn-{i}"><summary>Sources de la question {i + 1} : '
                       f'{esc(t["question"][:80])}</summary>{inner}</details>')
    return "".join(out)


# ----- status line -----------------------------------------------------------------------
def passage_count(n: int) -> str:
    """« 1 passage », « 15 passages »."""
    return f"{n} passage{'s' if n > 1 else ''}"


def status(message: str, kind: str = "info") -> str:
    return f'<div class="status {kind}" role="status">{esc(message)}</div>' if message else ""


# ----- export ------------------------------------------------------------------------------
_SPLIT_WORD = re.compile(r"(?<=\w-)[ \t]*\n[ \t]*(?=\w)")


def _quote(text: str) -> list[str]:
    """A passage as a Markdown quote, whole: never shortened, and a word the layout split over two lines
    (« accompa-\\ngnement », « Saint-\\nDenis ») kept on one line, so no reader shows it cut in two."""
    return ["> " + line.strip() for line in _SPLIT_WORD.sub("", text or "").splitlines() if line.strip()]


def conversation_markdown(turns: list[dict]) -> str:
    lines = ["# Conversation avec l'assistant solidarités", "",
             f"Exportée le {datetime.now().strftime('%d/%m/%Y à %H:%M')}.", ""]
    for i, t in enumerate(turns, 1):
        r = t.get("result") or {}
        lines += [f"## Question {i}", "", t["question"], "", "### Réponse", "", r.get("answer", ""), ""]
        if r.get("notice"):
            lines += [f"_{r['notice']}_", ""]
        shown = r.get("citations") if not r.get("refused") else [
            {"n": k, "text": p["text"], "source": p["source"], "sentences": []}
            for k, p in enumerate(r.get("closest") or [], 1)]
        if shown:
            lines += ["### Sources" if not r.get("refused") else "### Passages les plus proches", ""]
            for c in shown:
                s = c["source"]
                lines.append(f"[{c['n']}] {source_line(s)}")
                lines.append("")
                lines += _quote(c["text"])
                lines.append("")
    return "\n".join(lines)


# ----- Découvrir -----------------------------------------------------------------------------
def cards_html(cards) -> str:
    out = ['<div class="cards">']
    for c in cards:
        out.append(
            f'<article class="card"><h3>{esc(c.title)}</h3>'
            f'<div class="meta">{esc(publisher(c.publisher))} — {esc(c.date)}</div>'
            f'<div class="kind">{esc(c.kind)} · {passage_count(c.chunks)}</div>'
            + (f'<div class="themes">{"".join(f"<span>{esc(t)}</span>" for t in c.themes)}</div>' if c.themes else "")
            + (f'<div class="covers">Ce qu\'il couvre :<ul>{"".join(f"<li>{esc(h)}</li>" for h in c.headings)}</ul></div>'
               if c.headings else "")
            + (f'<div class="notes">{esc(c.notes)}</div>' if c.notes else "")
            + f'<a href="{esc(document_url({"doc_id": c.doc_id, "start_line": 1, "end_line": 1}))}" '
              f'target="_blank" rel="noopener">Lire le document</a></article>')
    out.append("</div>")
    return "".join(out)


def glossary_html(items) -> str:
    defined = sum(1 for i in items if i.expansion)
    usual = sum(1 for i in items if not i.expansion and i.usual)
    out = [f'<p class="glossary-intro">{len(items)} sigles relevés dans le corpus, dont {defined} développés '
           "par les documents eux-mêmes : cliquez sur un sigle pour lire le passage qui le définit."
           + (f" Pour {usual} autres, que les documents emploient sans les développer, une "
              "<em>définition usuelle</em> est donnée, rédigée hors du corpus et avec sa source." if usual else "")
           + "</p>", '<div class="glossary">']
    for i in items:
        if i.expansion:
            where = "Défini en note de bas de page dans" if i.found == "footnote" else "Défini dans"
            out.append(f'<details id="sigle-{esc(i.acronym)}"><summary><strong>{esc(i.acronym)}</strong> — '
                       f'{esc(i.expansion)}</summary><blockquote>{esc(i.passage)}</blockquote>'
                       f'<div class="meta">{where} : {esc(i.doc_title)}</div></details>')
        elif i.usual:
            u = i.usual
            docs = ", ".join(esc(d) for d in i.documents[:2])
            out.append(f'<details id="sigle-{esc(i.acronym)}" class="usual"><summary><strong>{esc(i.acronym)}</strong> — '
                       f'{esc(u.expansion)} <em class="usual-tag">(définition usuelle)</em></summary>'
                       f'<p>{esc(u.definition)}</p><div class="meta">Définition usuelle, hors corpus : les documents '
                       f'emploient ce sigle sans le développer. Source : <a href="{esc(u.url)}" target="_blank" '
                       f'rel="noopener">{esc(u.source)}</a>. Employé dans : {docs}</div></details>')
        else:
            docs = ", ".join(esc(d) for d in i.documents[:2])
            out.append(f'<details id="sigle-{esc(i.acronym)}" class="undefined"><summary><strong>{esc(i.acronym)}</strong> — '
                       f"<em>jamais développé dans le corpus</em></summary><div class=\"meta\">Le corpus emploie ce "
                       f"sigle sans en donner la forme développée. Employé dans : {docs}</div></details>")
    out.append("</div>")
    return "".join(out)


def documents_table(docs: list[dict]) -> str:
    if not docs:
        return '<p class="empty">Aucun document indexé.</p>'
    rows = "".join(
        f"<tr><td>{esc(d['title'])}</td><td>{esc(publisher(d['publisher']))}</td><td>{esc(d['date'])}</td>"
        f"<td>{esc(d['kind'])}</td><td class=\"num\">{d['chunks']}</td><td><code>{esc(d['doc_id'])}</code></td>"
        f"<td>{esc(d['indexed_at'])}</td></tr>" for d in docs)
    return ('<table class="documents"><thead><tr><th>Titre</th><th>Éditeur</th><th>Date</th><th>Type</th>'
            f"<th>Passages</th><th>Fichier</th><th>Indexé le</th></tr></thead><tbody>{rows}</tbody></table>")


def document_choice(doc: dict) -> str:
    """A document in the deletion list: title, file and passage count."""
    return f"{doc['title']} ({doc['doc_id']}) — {passage_count(doc['chunks'])}"


def delete_confirmation(doc: dict) -> str:
    """The label of the box to tick before a deletion."""
    its = "de son passage" if doc["chunks"] == 1 else f"de ses {doc['chunks']} passages"
    return f"Je confirme la suppression de « {doc['title']} » ({doc['doc_id']}) et {its} de l'index."


# ----- the document view ------------------------------------------------------------------------
def document_page(doc: dict, text: str, start: int, end: int) -> str:
    lines = text.splitlines() or [""]
    rows = []
    for n, line in enumerate(lines, 1):
        cls = ' class="hl"' if start <= n <= end else ""
        rows.append(f'<div id="L{n}"{cls}><span class="ln">{n}</span>{esc(line) or "&nbsp;"}</div>')
    where = f"Passage cité : lignes {start}–{end}." if start and end else ""
    return f"""<!doctype html>
<html lang="fr"><head><meta charset="utf-8"><title>{esc(doc['title'])}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body {{ font-family: system-ui, sans-serif; margin: 0; color: #1f2937; }}
header {{ position: sticky; top: 0; background: #f8fafc; border-bottom: 1px solid #cbd5e1; padding: .8rem 1.2rem; }}
header h1 {{ font-size: 1.15rem; margin: 0 0 .3rem; }}
.meta {{ color: #475569; font-size: .9rem; }}
main {{ font-family: ui-monospace, monospace; font-size: .9rem; padding: 1rem 0; white-space: pre-wrap; }}
main div {{ padding: 0 1.2rem 0 4.5rem; text-indent: -3.3rem; }}
.ln {{ display: inline-block; width: 3rem; margin-right: .3rem; color: #94a3b8; text-align: right; user-select: none; text-indent: 0; }}
.hl {{ background: #fef3c7; }}
:target {{ scroll-margin-top: 6rem; }}
</style></head>
<body><header><h1>{esc(doc['title'])}</h1>
<div class="meta">{esc(publisher(doc['publisher']))} — {esc(doc['date'])} — {esc(doc['kind'])} — fichier {esc(doc['doc_id'])}</div>
<div class="meta">{esc(where)}</div></header>
<main>{''.join(rows)}</main></body></html>"""


def error_page(message: str) -> str:
    return (f'<!doctype html><html lang="fr"><head><meta charset="utf-8"><title>Document indisponible</title></head>'
            f'<body style="font-family: system-ui, sans-serif; padding: 2rem"><h1>Document indisponible</h1>'
            f"<p>{esc(message)}</p></body></html>")
