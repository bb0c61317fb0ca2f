"""A mixed shared drive of 200 files imported in one command, timed, every file accounted for.

    .venv/bin/python -m bench.folder [--question "..."] [--no-answer] [--zip]

Generates, in a temporary folder, a tree of subfolders holding .txt, .md, .html, text .pdf,
scanned .pdf, .docx, .odt, .doc (written by LibreOffice), .xlsx, .ods and .csv files made
from the seed corpus's paragraphs and generated tables, plus byte-identical duplicates and
junk (Office lock files, temporary and hidden files, an unsupported format). Then runs
`ingest(settings, paths=[drive])` — what `assistant ingest DIR` does — and checks that every
file is either indexed or named in the report with its reason. Finally asks a question about
a spreadsheet row with the configured answer backend and prints the citation.
"""

from __future__ import annotations

import argparse
import random
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from assistant.settings import PROJECT_DIR, get_settings

from .common import write

MIX = {"txt": 30, "md": 18, "html": 18, "pdf": 18, "scan": 10, "docx": 18, "odt": 18, "doc": 10,
       "xlsx": 14, "ods": 10, "csv": 10}  # 174 documents; + duplicates and junk = 200
FOLDERS = ["Autonomie", "Autonomie/Tarifs", "Enfance/ASE", "Enfance/PMI", "Insertion/RSA", "Insertion/PDI",
           "Handicap", "Habitat", "Courriers/2024", "Deliberations/2023", "Deliberations/2024"]
QUESTION = "Quel est le tarif horaire de l'aide à domicile ?"


def paragraphs() -> list[str]:
    out = []
    for path in sorted((PROJECT_DIR / "corpus").glob("*.txt")):
        out += [p.strip().replace("\n", " ") for p in path.read_text(encoding="utf-8").split("\n\n")
                if len(p.strip()) > 150]
    return out


def make_drive(root: Path, rng: random.Random) -> dict:
    from tests.office_files import (latin1, make_docx, make_ods, make_odt, make_scanned_pdf, make_xlsx,
                                    need_tool)
    from fpdf import FPDF

    paras = paragraphs()
    made: list[Path] = []
    docx_for_doc: list[Path] = []
    n = 0
    for kind, count in MIX.items():
        for i in range(count):
            n += 1
            folder = root / rng.choice(FOLDERS)
            folder.mkdir(parents=True, exist_ok=True)
            title = f"Document {n} {kind}"
            body = rng.sample(paras, 3)
            stem = f"{kind}-{n:03d}"
            if kind == "txt":
                p = folder / f"{stem}.txt"
                p.write_text(title + "\n\n" + "\n\n".join(body) + "\n", encoding="utf-8")
            elif kind == "md":
                p = folder / f"{stem}.md"
                p.write_text(f"# {title}\n\n## Contexte\n\n" + "\n\n".join(body) + "\n", encoding="utf-8")
            elif kind == "html":
                p = folder / f"{stem}.html"
                p.write_text(f"<html><body><h1>{title}</h1>" + "".join(f"<p>{b}</p>" for b in body)
                             + "</body></html>", encoding="utf-8")
            elif kind == "pdf":
                p = folder / f"{stem}.pdf"
                pdf = FPDF()
                pdf.add_page()
                pdf.set_font("Helvetica", size=11)
                pdf.multi_cell(0, 6, latin1(title + "\n\n" + "\n\n".join(body)))
                pdf.output(str(p))
            elif kind == "scan":
                p = make_scanned_pdf(folder / f"{stem}.pdf", [title + "\n\n" + body[0]], dpi=200)
            elif kind in ("docx", "doc"):
                p = make_docx(folder / f"{stem}.docx", title, body)
                if kind == "doc":
                    docx_for_doc.append(p)
                    continue
            elif kind == "odt":
                p = make_odt(folder / f"{stem}.odt", title, body[:2],
                             table=[["Action", "Budget"], ["Prévention", f"{rng.randint(10, 900)} k€"],
                                    ["Accompagnement", f"{rng.randint(10, 900)} k€"]])
            elif kind in ("xlsx", "ods", "csv"):
                communes = [f"Commune {rng.randint(1, 400)}" for _ in range(rng.randint(8, 40))]
                rows = [["Commune", "Allocation versée (€)", "Bénéficiaires"]] + [
                    [c, f"{rng.randint(1000, 90000)}", str(rng.randint(3, 300))] for c in communes]
                if kind == "xlsx" and i == 0:  # the sheet the question is about
                    rows = [["Prestation", "Tarif horaire (€)", "Unité"], ["Aide à domicile", "23,50", "heure"],
                            ["Portage de repas", "8,20", "repas"], ["Téléassistance", "12,00", "mois"]]
                    folder = root / "Autonomie" / "Tarifs"
                    folder.mkdir(parents=True, exist_ok=True)
                if kind == "xlsx":
                    p = make_xlsx(folder / f"{stem}.xlsx", {"Tarifs" if i == 0 else "Allocations": rows})
                elif kind == "ods":
                    p = make_ods(folder / f"{stem}.ods", {"Allocations": rows})
                else:
                    p = folder / f"{stem}.csv"
                    p.write_text("\n".join(";".join(r) for r in rows) + "\n", encoding="utf-8")
            made.append(p)
    # Legacy .doc files: one LibreOffice run converts them all.
    soffice = need_tool("soffice", "libreoffice-writer-nogui")
    with tempfile.TemporaryDirectory() as out, tempfile.TemporaryDirectory() as profile:
        subprocess.run([soffice, f"-env:UserInstallation=file://{profile}", "--headless", "--convert-to", "doc",
                        "--outdir", out, *map(str, docx_for_doc)], check=True, capture_output=True, timeout=600)
        for src in docx_for_doc:
            target = src.with_suffix(".doc")
            shutil.move(str(Path(out) / target.name), target)
            src.unlink()
            made.append(target)
    # Duplicates (same bytes elsewhere) and junk.
    for i, src in enumerate(rng.sample(made, 12)):
        dup = root / rng.choice(FOLDERS) / f"copie-{i}-{src.name}"
        dup.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(src, dup)
    junk = [root / "Insertion/PDI/~$docx-100.docx", root / "Autonomie/.~lock.odt-120.odt#", root / "Thumbs.db",
            root / "Habitat/brouillon.tmp", root / ".svn/entries", root / "Handicap/.DS_Store",
            root / "Courriers/2024/desktop.ini", root / "Courriers/2024/plan-acces.dwg",
            root / "Enfance/PMI/photo.jpg", root / "Deliberations/2024/~WRL0001.tmp",
            root / "Habitat/archive.bak", root / "Enfance/ASE/.~lock.xlsx-190.xlsx#",
            root / "Insertion/RSA/~$notes.xlsx", root / "Handicap/raccourci.lnk"]
    for j in junk:
        j.parent.mkdir(parents=True, exist_ok=True)
        j.write_bytes(b"\x00junk")
    files = [p for p in root.rglob("*") if p.is_file()]
    return {"files": len(files), "documents": len(made), "duplicates": 12, "junk": len(junk)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--question", default=QUESTION)
    parser.add_argument("--no-answer", action="store_true", help="skip the LLM answer at the end")
    parser.add_argument("--zip", action="store_true",
                        help="import the folder as the web admin upload does: zipped, through documents.add_documents")
    args = parser.parse_args()
    if args.zip:
        return main_zip(rng=random.Random(20))
    rng = random.Random(20)
    from assistant.ingest import ingest
    from assistant.embed import get_embeddings

    with tempfile.TemporaryDirectory(prefix="bench-folder-") as tmp:
        drive = Path(tmp) / "Partage-Solidarites"
        started = time.perf_counter()
        made = make_drive(drive, rng)
        make_s = time.perf_counter() - started
        corpus = Path(tmp) / "corpus"
        corpus.mkdir()
        settings = get_settings(corpus_dir=corpus, index_dir=Path(tmp) / "index", collection="bench")
        get_embeddings(settings).embed_documents(["échauffement"])  # model load is not ingestion
        started = time.perf_counter()
        report = ingest(settings, paths=[drive])
        ingest_s = time.perf_counter() - started

        named = "\n".join(report.errors + report.ignored)
        from assistant.store import Store

        store = Store(settings)
        registry = store.documents(report.generation)
        unaccounted = []
        for p in drive.rglob("*"):
            if not p.is_file():
                continue
            rel = "Partage-Solidarites/" + p.relative_to(drive).as_posix()
            if rel in registry or p.name in named or any(part in named for part in p.relative_to(drive).parts[:-1]
                                                         if part.startswith(".")):
                continue
            unaccounted.append(rel)
        # Titles the files gave (properties or first heading) rather than their file names.
        from assistant.corpus import _default_title

        titled = sum(1 for doc_id, rec in registry.items() if rec.title != _default_title(Path(doc_id)))
        answer_line, seconds_answer = "", None
        if not args.no_answer:
            from assistant.answer import answer
            from assistant.render import location

            t = time.perf_counter()
            result = answer(args.question, settings=settings)
            seconds_answer = round(time.perf_counter() - t, 1)
            cites = [f"{c.source['doc_id']}, {location(c.source, '-')}" for c in result.citations]
            answer_line = f"{result.answer} | {result.outcome.value} | " + " ; ".join(cites)
            if not cites and result.passages:
                answer_line += " | passage : " + location(result.passages[0].source(), "-")
            print("Réponse :", answer_line)

    payload = {**made, "make_seconds": round(make_s, 1), "ingest_seconds": round(ingest_s, 1),
               "indexed": report.indexed, "documents": report.documents, "chunks": report.chunks,
               "errors": report.errors, "ignored": len(report.ignored), "warnings": report.warnings,
               "pages": report.pages, "ocr_pages": report.ocr_pages, "unaccounted": unaccounted,
               "titled_from_file": titled, "question": args.question, "answer": answer_line, "answer_seconds": seconds_answer}
    write("folder", payload,
          ["files", "indexed", "errors", "ignored (junk + dup)", "OCR pages", "passages", "ingest s", "unaccounted"],
          [[made["files"], report.indexed, len(report.errors), len(report.ignored), report.ocr_pages, report.chunks,
            payload["ingest_seconds"], len(unaccounted)]])
    for line in report.errors:
        print("Erreur :", line)


def main_zip(rng: random.Random) -> None:
    """The same drive, zipped, through the web upload's add_documents: its time, and every file
    of the archive either indexed or named in the message."""
    from assistant.documents import add_documents
    from assistant.embed import get_embeddings

    with tempfile.TemporaryDirectory(prefix="bench-folder-zip-") as tmp:
        drive = Path(tmp) / "Partage-Solidarites"
        made = make_drive(drive, rng)
        archive = Path(shutil.make_archive(str(Path(tmp) / "Partage-Solidarites"), "zip", root_dir=tmp,
                                           base_dir="Partage-Solidarites"))
        zip_mb = round(archive.stat().st_size / (1 << 20), 1)
        corpus = Path(tmp) / "corpus"
        corpus.mkdir()
        settings = get_settings(corpus_dir=corpus, index_dir=Path(tmp) / "index", collection="bench",
                                upload_max_mb=max(50, archive.stat().st_size // (1 << 20) + 1))
        get_embeddings(settings).embed_documents(["échauffement"])  # model load is not ingestion
        started = time.perf_counter()
        result = add_documents(settings, [(archive, archive.name)])
        seconds = time.perf_counter() - started
    named = len(result.added) + len(result.updated) + len(result.unchanged) + len(result.refused) + len(result.ignored)
    payload = {**made, "zip_mb": zip_mb,
               "upload_seconds": round(seconds, 1), "added": len(result.added), "unchanged": len(result.unchanged),
               "refused": result.refused, "ignored": result.ignored, "chunks": result.chunks,
               "accounted_lines": named}
    write("folder-zip", payload, ["files", "added", "already there", "refused", "ignored", "passages", "upload s"],
          [[made["files"], len(result.added), len(result.unchanged), len(result.refused), len(result.ignored),
            result.chunks, payload["upload_seconds"]]])
    for line in result.refused + result.ignored:
        print(line)


if __name__ == "__main__":
    main()
