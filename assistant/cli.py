"""The `assistant` command: ingest, search, evaluate. Messages are French."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Optional

import typer

from . import offline

offline.apply()

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Assistant documentaire des politiques de solidarité (Départements). "
         "Indexe le corpus, cherche des passages, évalue la qualité.",
)


def _settings(**overrides):
    from .settings import get_settings

    try:
        return get_settings(**overrides)
    except ValueError as exc:
        _fail(str(exc))


def _fail(message: str, code: int = 1):
    typer.secho(f"Erreur : {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


def _guard(fn):
    """Every error a user can cause ends in one French sentence, never a traceback."""
    from .errors import AssistantError

    try:
        return fn()
    except AssistantError as exc:
        _fail(str(exc))


@app.command()
def ingest(
    paths: Optional[list[Path]] = typer.Argument(None, help="Fichiers ou dossiers à (ré)indexer ; par défaut tout le corpus."),
    rebuild: bool = typer.Option(False, "--rebuild", help="Reconstruire l'index entier (nouveau modèle, index abîmé)."),
    json_out: bool = typer.Option(False, "--json", help="Résumé en JSON sur la sortie standard."),
):
    """Indexer les documents du corpus (idempotent : ce qui n'a pas changé n'est pas recalculé)."""
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                               TimeRemainingColumn)

    from .ingest import ingest as run_ingest

    settings = _settings()
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  TimeRemainingColumn(), transient=True, disable=json_out or not sys.stderr.isatty(),
                  console=None) as bar:
        task = bar.add_task("Indexation (fichiers)", total=None)
        pages = bar.add_task("Pages", total=None, visible=False)

        def progress(event, **info):
            if event == "start":
                bar.update(task, total=info["total"])
            elif event == "advance":
                bar.update(task, advance=1, description=f"Indexation : {info['name'][:40]}")
                bar.update(pages, visible=False)
            elif event == "pages":  # a PDF's pages with a text layer, read at once
                bar.update(pages, total=info["total"], completed=info["done"], visible=True,
                           description="  Pages")
            elif event == "ocr":  # scanned pages, one by one
                bar.update(pages, total=info["total"], completed=info["done"], visible=True,
                           description=f"  OCR des pages scannées ({info['name'][:30]})")

        report = _guard(lambda: run_ingest(settings, paths=list(paths or []) or None, rebuild=rebuild, progress=progress))
    if json_out:
        typer.echo(json.dumps(report.as_dict(), ensure_ascii=False))
    else:
        typer.echo(
            f"Index prêt : {report.documents} documents, {report.chunks} passages "
            f"({report.indexed} documents indexés, {report.skipped} inchangés, {report.removed} retirés, "
            f"{report.embedded} passages calculés) en {report.seconds:.1f} s."
        )
        if report.pages:
            typer.echo(f"Pages lues : {report.pages}, dont {report.ocr_pages} par OCR.")
    for line in report.ignored:
        typer.echo(f"Ignoré : {line}", err=True)
    for warning in report.warnings:
        typer.secho(f"À vérifier : {warning}", fg=typer.colors.YELLOW, err=True)
    for err in report.errors:
        typer.secho(f"Attention : {err}", fg=typer.colors.YELLOW, err=True)


def _read_batch(path: Path):
    """Yield (line number, item or error message) from a JSONL file."""
    try:
        # Bytes, so that one badly encoded line is reported instead of stopping the whole batch.
        handle = sys.stdin.buffer if str(path) == "-" else open(path, "rb")
    except OSError as exc:
        _fail(f"{path} : fichier illisible ({exc.strerror}).")
    with handle:
        for number, raw in enumerate(handle, 1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError:
                yield number, f"ligne {number} ignorée : encodage invalide (UTF-8 attendu)"
                continue
            if not line.strip():
                continue
            try:
                item = json.loads(line)
                if not isinstance(item, dict) or "question" not in item:
                    raise ValueError("il manque le champ « question »")
                if not isinstance(item["question"], str):
                    raise ValueError("le champ « question » doit être un texte")
                yield number, item
            except (json.JSONDecodeError, ValueError) as exc:
                yield number, f"ligne {number} ignorée : JSON invalide ({exc})"


DOC_HELP = "Seulement ce document (chemin du fichier ou mots du titre) ; répétable."
SINCE_HELP = "Seulement les documents datés de ce jour ou après (AAAA, AAAA-MM ou AAAA-MM-JJ)."
UNTIL_HELP = "Seulement les documents datés de ce jour ou avant (AAAA, AAAA-MM ou AAAA-MM-JJ)."


@app.command()
def search(
    question: Optional[str] = typer.Argument(None, help="La question, en français."),
    k: int = typer.Option(5, "--k", min=1, max=50, help="Nombre de passages."),
    json_out: bool = typer.Option(False, "--json", help="Résultat en JSON."),
    batch: Optional[Path] = typer.Option(None, "--batch", help="Fichier JSONL {id, question, history?} ; une ligne JSON par entrée en sortie."),
    mode: Optional[str] = typer.Option(None, "--mode", help="hybrid (défaut), dense ou lexical."),
    doc: list[str] = typer.Option([], "--doc", help=DOC_HELP),
    since: str = typer.Option("", "--since", help=SINCE_HELP),
    until: str = typer.Option("", "--until", help=UNTIL_HELP),
    explain: bool = typer.Option(False, "--explain", help="Pour chaque passage : rang dense, rang lexical, score fusionné et mots retrouvés."),
):
    """Chercher les passages les plus pertinents pour une question."""
    from .errors import AssistantError
    from .retrieve import Filter, get_retriever

    if question is not None and batch is not None:
        _fail("donnez soit une question, soit --batch FICHIER.jsonl, pas les deux.")
    settings = _settings(**({"retrieval_mode": mode} if mode else {}))
    retriever = _guard(lambda: get_retriever(settings))
    filters = Filter(tuple(doc), since, until)
    show = (lambda q, rs: _print_explained(retriever, q, rs)) if explain else (lambda q, rs: _print_results(rs))

    if question is None and batch is None:  # interactive: one question per line
        typer.echo("Posez vos questions (ligne vide ou Ctrl-D pour quitter).")
        for line in _typed_lines("Question : "):
            try:
                show(line, retriever.search(line, k=k, filters=filters))
            except AssistantError as exc:
                typer.secho(f"Erreur : {exc}", fg=typer.colors.RED)
        return

    if batch is not None:
        for number, item in _read_batch(batch):
            if isinstance(item, str):
                typer.secho(item, fg=typer.colors.YELLOW, err=True)
                continue
            out = {"id": item.get("id", number), "question": item["question"]}
            try:
                history = item.get("history") or []
                if not isinstance(history, list):
                    raise AssistantError("l'historique doit être une liste de messages {role, content}.")
                results = retriever.search(item["question"], k=k, history=history, filters=filters)
                out["results"] = [r.as_dict() for r in results]
            except AssistantError as exc:
                out["results"], out["error"] = [], str(exc)
            typer.echo(json.dumps(out, ensure_ascii=False))
        return

    results = _guard(lambda: retriever.search(question, k=k, filters=filters))
    if json_out:
        typer.echo(json.dumps({"question": question, "results": [
            {**r.as_dict(), **(_diagnostics(retriever, question, r) if explain else {})} for r in results]},
            ensure_ascii=False))
        return
    show(question, results)


def _diagnostics(retriever, question: str, r) -> dict:
    return {"dense_rank": r.dense_rank, "lexical_rank": r.lexical_rank, "fused_score": round(r.score, 5),
            "dense_similarity": None if r.dense is None else round(r.dense, 4),
            "bm25": None if r.lexical is None else round(r.lexical, 3),
            "matched_terms": retriever.matched_terms(question, r.chunk_id)}


def _print_explained(retriever, question: str, results) -> None:
    """search --explain: why each passage is where it is."""
    _print_results(results)
    typer.secho("Classement : rang dense · rang lexical (BM25) · score fusionné (RRF) · mots retrouvés", bold=True)
    for r in results:
        d = _diagnostics(retriever, question, r)
        dense = "—" if d["dense_rank"] is None else f"{d['dense_rank']} (cos {d['dense_similarity']})"
        lexical = "—" if d["lexical_rank"] is None else f"{d['lexical_rank']} (BM25 {d['bm25']})"
        typer.echo(f"  [{r.rank}] dense {dense} · lexical {lexical} · fusion {d['fused_score']} · "
                   f"mots : {', '.join(d['matched_terms']) or '—'}")


def _print_results(results) -> None:
    from .render import source_line

    if not results:
        typer.echo("Aucun passage trouvé.")
    for r in results:
        src = r.source()
        typer.secho(f"[{r.rank}] {source_line(src)}", bold=True)
        if src["section"]:
            typer.echo(f"    Section : {src['section']}")
        typer.echo("    " + r.text.replace("\n", "\n    ")[:700])
        for other in r.as_dict().get("also_in", []):
            typer.echo(f"    Aussi dans : {source_line(other)}")
        typer.echo("")


def _print_answer(result) -> None:
    from .outcome import HEADLINES, Outcome
    from .render import motive, source_line

    color = {Outcome.ANSWER: typer.colors.GREEN, Outcome.CHECK: typer.colors.CYAN}.get(result.outcome, typer.colors.YELLOW)
    typer.secho(HEADLINES[result.outcome], fg=color, bold=True)
    if result.outcome is Outcome.ANSWER:
        typer.echo(result.answer)
    if result.notice:
        typer.secho(result.notice, fg=typer.colors.YELLOW)
    if result.refused:
        if result.refusal_reason:
            typer.echo(motive(result.refusal_reason))
        checked = result.highlight if result.outcome is Outcome.CHECK else []
        if checked:
            typer.echo("Phrases les plus proches, à vérifier (non affirmées comme réponse) :")
        for h in checked:
            typer.echo(f"  « {h['sentence']} » [{h['n']}]")
        closest = result.as_dict()["closest"]  # the passages a refusal names, as the web chat shows them
        if closest:
            typer.echo("Passages les plus proches, à consulter :")
            for p in closest:
                typer.echo(f"  - {source_line(p['source'])}")
        return
    typer.echo("Sources (chaque phrase de la réponse figure mot pour mot dans le passage cité) :")
    for c in result.citations:
        typer.echo(f"  [{c.n}] {source_line(c.source)}")


def _typed_lines(prompt: str):
    """The lines typed at `prompt`, until an empty line, Ctrl-D or Ctrl-C."""
    while True:
        try:
            line = input(prompt).strip()
        except (EOFError, KeyboardInterrupt):
            return
        if not line:
            return
        yield line


def _logged(result, settings, history=None, filters=None):
    """Append the answer, and the filters it was searched with, to the answer log (`assistant replay`);
    returns it."""
    from .answer_log import record

    record(settings, result, source="cli", history=history, filters=filters)
    return result


def _answer_dict(result) -> dict:
    d = result.as_dict()
    keys = ("question", "answer", "outcome", "headline", "refused", "probability", "citations", "timings")
    return {k: d[k] for k in keys} | {
        k: d[k] for k in ("notice", "standalone_question", "reason", "refusal_reason", "highlight", "closest",
                          "removed", "backend") if k in d}


@app.command()
def ask(
    question: Optional[str] = typer.Argument(None, help="La question, en français."),
    json_out: bool = typer.Option(False, "--json", help="Réponse en JSON."),
    batch: Optional[Path] = typer.Option(None, "--batch", help="Fichier JSONL {id, question, history?} ; une ligne JSON par entrée en sortie."),
    explain: bool = typer.Option(False, "--explain", help="Montrer la décision : probabilité des meilleures phrases et contribution de chaque caractéristique."),
    doc: list[str] = typer.Option([], "--doc", help=DOC_HELP),
    since: str = typer.Option("", "--since", help=SINCE_HELP),
    until: str = typer.Option("", "--until", help=UNTIL_HELP),
):
    """Répondre à une question, avec des citations vérifiées, ou dire que les documents ne le permettent pas."""
    from .answer import answer
    from .errors import AssistantError
    from .retrieve import Filter

    filters = Filter(tuple(doc), since, until)

    if (question is None) == (batch is None):
        _fail("donnez soit une question, soit --batch FICHIER.jsonl.")
    settings = _settings()
    if batch is not None:
        for number, item in _read_batch(batch):
            if isinstance(item, str):
                typer.secho(item, fg=typer.colors.YELLOW, err=True)
                continue
            try:
                got = _logged(answer(item["question"], item.get("history"), settings, filters), settings,
                              item.get("history"), filters)
                out = {"id": item.get("id", number), **_answer_dict(got)}
            except AssistantError as exc:
                out = {"id": item.get("id", number), "question": item["question"], "answer": "", "refused": True,
                       "citations": [], "timings": {}, "error": str(exc)}
            typer.echo(json.dumps(out, ensure_ascii=False))
        return
    if explain:
        from .answer import explain as explain_decision

        typer.echo(json.dumps(_guard(lambda: explain_decision(question, None, settings, filters)), ensure_ascii=False, indent=1))
        return
    result = _logged(_guard(lambda: answer(question, None, settings, filters)), settings, filters=filters)
    if json_out:
        typer.echo(json.dumps(_answer_dict(result), ensure_ascii=False))
    else:
        _print_answer(result)


@app.command()
def chat():
    """Conversation dans le terminal (les questions de suivi tiennent compte de l'historique)."""
    from .answer import stream
    from .errors import AssistantError

    settings = _settings()
    history: list[dict] = []
    typer.echo("Posez vos questions (ligne vide ou Ctrl-D pour quitter). "
               "N'indiquez pas de données personnelles sur les usagers.")
    for line in _typed_lines("\nVous : "):
        result = None
        try:
            for event in stream(line, history, settings):
                if event["type"] == "sources":
                    typer.secho(f"({len(event['passages'])} passages trouvés en {event['retrieve_ms']:.0f} ms)", dim=True)
                elif event["type"] == "answer":
                    result = event["answer"]
        except AssistantError as exc:
            typer.secho(f"Erreur : {exc}", fg=typer.colors.RED)
            continue
        _logged(result, settings, history)
        typer.echo("Assistant : ", nl=False)
        _print_answer(result)
        history += [{"role": "user", "content": line}, {"role": "assistant", "content": result.answer}]


@app.command("model")
def model_cmd(action: str = typer.Argument("install", help="install : assembler et vérifier le modèle local.")):
    """Assembler le modèle local depuis ses paquets et vérifier son empreinte sha256."""
    from .model import assemble

    if action != "install":
        _fail("action inconnue ; seule « install » existe.")
    path = _guard(lambda: assemble(_settings().models_dir))
    typer.echo(f"Modèle local prêt et vérifié : {path}")


@app.command("eval")
def eval_cmd(
    subset: Optional[str] = typer.Option(None, "--subset", help="Sous-ensemble défini dans les seuils (ex. ci)."),
    category: Optional[list[str]] = typer.Option(None, "--category", help="Catégorie(s) à évaluer."),
    limit: Optional[int] = typer.Option(None, "--limit", min=1, help="Nombre maximal de questions."),
    gate: bool = typer.Option(False, "--gate", help="Appliquer les seuils : code de sortie 1 si la qualité est en dessous."),
    compare: Optional[Path] = typer.Option(None, "--compare", help="Résultats précédents (results.json) : ce qui a reculé ou progressé."),
    dataset: Path = typer.Option(Path("evals/datasets/dev.jsonl"), help="Jeu de questions (JSONL)."),
    thresholds: Path = typer.Option(Path("evals/thresholds.toml"), help="Seuils et sous-ensembles (TOML)."),
    out: Optional[Path] = typer.Option(None, "--out", help="Dossier du rapport (défaut : evals/reports/DATE-SOUS-ENSEMBLE)."),
    judge: bool = typer.Option(True, "--judge/--no-judge", help="Métriques avec juge LLM si ASSISTANT_JUDGE_URL est réglé."),
    judge_metric: Optional[list[str]] = typer.Option(None, "--judge-metric", help="Limiter le juge à ces métriques."),
    refresh: bool = typer.Option(False, "--refresh", help="Recalculer les réponses au lieu de reprendre le cache."),
    cache: Path = typer.Option(Path("evals/cache"), "--cache", help="Dossier du cache des réponses."),
):
    """Évaluer la qualité des réponses (ragas + contrôles déterministes) ; rapport Markdown/HTML, seuils, comparaison."""
    import time as _time

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from evals import gate as gate_mod
    from evals import report
    from evals.dataset import DatasetError
    from evals.judge import JUDGE_METRICS
    from evals.suite import evaluate, load_config

    unknown = [m for m in judge_metric or [] if m not in JUDGE_METRICS]
    if unknown:
        _fail(f"métrique de juge inconnue « {unknown[0]} » ; possibles : {', '.join(JUDGE_METRICS)}.")
    previous = None
    if compare is not None:
        try:
            previous = json.loads(compare.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            _fail(f"{compare} : résultats précédents illisibles ({exc}).")
    settings = _settings()
    profile = subset or "all"
    tty = sys.stderr.isatty()
    last_line = {}

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  transient=True, disable=not tty) as bar:
        tasks = {}

        def progress(stage, done, total, label=""):
            name = "Réponses" if stage == "answers" else f"Métrique {label}"
            key = stage if stage == "answers" else label
            if key not in tasks:
                tasks[key] = bar.add_task(name, total=total)
            bar.update(tasks[key], completed=done, description=f"{name} {label if stage == 'answers' else ''}".strip())
            if not tty:  # CI logs: a line every 10 % instead of a bar
                step = max(1, total // 10)
                if done == total or done % step == 0 and last_line.get(key) != done:
                    last_line[key] = done
                    typer.echo(f"{name} : {done}/{total}", err=True)

        try:
            results = _guard(lambda: evaluate(
                settings, dataset, subset=subset, categories=category or None, limit=limit, thresholds=thresholds,
                judge=judge, judge_metrics=tuple(judge_metric or ()) or None, refresh=refresh, cache_dir=cache,
                progress=progress))
        except DatasetError as exc:  # unknown subset or category, unreadable dataset or thresholds
            _fail(str(exc))
    for err in results["dataset_errors"]:
        typer.secho(f"Attention : {err} (question ignorée)", fg=typer.colors.YELLOW, err=True)
    if gate:
        results["gate"] = _guard(lambda: _gate_or_fail(gate_mod, results, load_config(thresholds), profile))
    out_dir = out or Path("evals/reports") / f"{_time.strftime('%Y%m%d-%H%M%S')}-{profile}"
    paths = report.write(results, out_dir)
    typer.echo(report.summary_table(results))
    for line in report.guard_and_timings(results["overall"]):
        typer.echo(line)
    for name, why in results["skipped"].items():
        typer.secho(f"Non calculé — {name} : {why}", fg=typer.colors.YELLOW)
    t = results["timings"]
    typer.echo(f"{results['meta']['selection']['questions']} questions en {t['total_s']} s "
               f"({t['answered_now']} réponses calculées, {t['from_cache']} reprises du cache).")
    if t.get("fallbacks"):
        typer.secho(f"Attention : {t['fallbacks']} réponse(s) de secours (modèle en échec ou trop lent), "
                    "non gardées en cache.", fg=typer.colors.YELLOW)
    typer.echo(f"Rapport : {paths['md']} et {paths['html']} ; résultats : {paths['json']}")
    if previous is not None:
        typer.echo(report.format_comparison(report.compare(previous, results)))
    if gate:
        typer.echo(gate_mod.format_gate(results["gate"]))
        if not results["gate"]["passed"]:
            raise typer.Exit(1)


def _gate_or_fail(gate_mod, results, config, profile):
    from evals.dataset import DatasetError

    try:
        return gate_mod.check(results, config, profile)
    except DatasetError as exc:
        _fail(str(exc))


@app.command("eval-retrieval")
def eval_retrieval(
    dataset: Path = typer.Option(Path("evals/datasets/dev.jsonl"), help="Jeu de questions (JSONL)."),
    k: int = typer.Option(10, help="Profondeur de recherche pour le MRR."),
    modes: str = typer.Option("dense,lexical,hybrid", help="Modes comparés, séparés par des virgules."),
    json_path: Optional[Path] = typer.Option(None, "--json", help="Écrire les résultats détaillés dans ce fichier."),
):
    """Mesurer la recherche (hit@1/3/5, MRR, rappel) par catégorie, pour chaque mode."""
    from evals.retrieval import format_table, run

    settings = _settings()
    result = _guard(lambda: run(settings, dataset, k=k, modes=[m.strip() for m in modes.split(",") if m.strip()]))
    typer.echo(format_table(result))
    if json_path:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(result, ensure_ascii=False, indent=1), encoding="utf-8")
        typer.echo(f"Résultats détaillés : {json_path}")


@app.command("train-scorer")
def train_scorer(
    check: bool = typer.Option(False, "--check", help="Vérifier seulement que le modèle enregistré correspond à ses données."),
    confirm: bool = typer.Option(False, "--confirm", help="Demander au modèle de langage les jugements manquants de la confirmation (lent : quelques secondes par question)."),
):
    """Réentraîner le modèle de décision sur les jeux de développement (validation croisée par question)."""
    from evals.train import train, verify_saved

    settings = _settings()
    if check:
        ok, message = _guard(lambda: verify_saved(settings))
        typer.secho(message, fg=None if ok else typer.colors.RED)
        raise typer.Exit(0 if ok else 1)
    model = _guard(lambda: train(settings, settings.scorer_path, ask=confirm))
    cv = model["cross_validation"]
    for fold in cv["folds"]:
        typer.echo(json.dumps(fold, ensure_ascii=False))
    typer.echo(f"Validation croisée (hors pli) : {json.dumps(cv['overall'], ensure_ascii=False)}, AURC {cv['aurc']}")
    for name, figures in cv["leave_one_set_out"].items():
        typer.echo(f"Jeu {name} mis à part (modèle et seuils appris sur les autres) : "
                   f"{json.dumps(figures, ensure_ascii=False)}")
    typer.echo(f"Seuils choisis : réponse ≥ {model['thresholds']['answer']}, passages à vérifier ≥ "
               f"{model['thresholds']['check']} ; modèle écrit dans {settings.scorer_path}")
    if "confirm" in model:
        for name, figures in model["confirm"]["leave_one_set_out"].items():
            typer.echo(f"Avec la confirmation du modèle de langage, jeu {name} mis à part : "
                       f"{json.dumps(figures, ensure_ascii=False)}")
        typer.echo(f"Confirmation : {model['confirm']['training']['judged']} questions jugées ; seuils "
                   f"{model['confirm']['thresholds']}")
    else:
        typer.echo("Confirmation par le modèle de langage non entraînée : des jugements manquent "
                   "(assistant train-scorer --confirm les demande au modèle).")


@app.command()
def replay(
    cache: Optional[Path] = typer.Option(None, "--cache", help="Un fichier du cache de l'évaluation (evals/cache/answers-*.jsonl) au lieu du journal des réponses."),
    limit: Optional[int] = typer.Option(None, "--limit", min=1, help="Les N dernières réponses du journal seulement."),
    json_out: bool = typer.Option(False, "--json", help="Une ligne JSON par réponse rejouée, puis le bilan."),
    strict: bool = typer.Option(False, "--strict", help="Code de sortie 1 si une décision a changé."),
):
    """Rejouer la décision actuelle sur les réponses journalisées (ou d'un cache d'évaluation) et dire ce qui change."""
    from . import replay as rp
    from .answer_log import AnswerLog
    from .retrieve import get_retriever

    settings = _settings()
    if cache is not None:
        if not cache.is_file():
            _fail(f"cache introuvable : {cache}")
        entries = rp.from_cache(cache, _dataset_histories())
    else:
        answer_log = _guard(lambda: AnswerLog.for_settings(settings))
        if answer_log is None:
            _fail("le journal des réponses est désactivé (ASSISTANT_ANSWER_LOG_DAYS = 0).")
        entries = _guard(lambda: rp.from_log(answer_log, limit))
    if not entries:
        typer.echo("Aucune réponse à rejouer.")
        return
    retriever = _guard(lambda: get_retriever(settings))
    replayed = _guard(lambda: rp.run(entries, retriever, settings))
    for r in replayed:
        if json_out:
            typer.echo(json.dumps({"id": r.entry.id, "origin": r.entry.origin, "before": r.entry.before,
                                   "after": r.after, "rebuilt": r.rebuilt, "changes": r.changes,
                                   "notes": r.notes}, ensure_ascii=False))
        elif r.changes:
            typer.secho(f"n° {r.entry.id} ({r.entry.origin}) « {r.entry.question[:80]} »", bold=True)
            for line in r.changes + r.notes:
                typer.echo(f"  {line}")
    got = rp.summary(replayed)
    if json_out:
        typer.echo(json.dumps({"summary": got}, ensure_ascii=False))
    else:
        typer.echo(f"{got['replayed']} réponses rejouées ({got['rebuilt']} sur leurs passages enregistrés, les autres "
                   f"après une nouvelle recherche) : {got['unchanged']} identiques, {got['changed']} changées.")
        for move, n in sorted(got["moves"].items(), key=lambda kv: -kv[1]):
            typer.echo(f"  {move} : {n}")
    if strict and got["changed"]:
        raise typer.Exit(1)


def _dataset_histories() -> dict:
    """(id, question) → history, over every evaluation set: eval cache lines keep no history."""
    from evals.dataset import read

    from .settings import PROJECT_DIR

    out = {}
    for path in sorted((PROJECT_DIR / "evals" / "datasets").glob("*.jsonl")):
        items, _ = read(path)
        out.update({(i.id, i.question): i.history for i in items})
    return out


@app.command()
def config(
    json_out: bool = typer.Option(False, "--json", help="Les valeurs en JSON (secrets masqués)."),
    markdown: bool = typer.Option(False, "--markdown", help="Le tableau des réglages du README, tiré des déclarations."),
):
    """Afficher les réglages en vigueur, par groupe, avec leur variable d'environnement ASSISTANT_*."""
    from .settings import GROUPS, declared, markdown_table

    if markdown:  # needs no environment: the declarations alone
        typer.echo(markdown_table(), nl=False)
        return
    public = _settings().public()
    if json_out:
        typer.echo(json.dumps(public, ensure_ascii=False, indent=1))
        return
    for group in GROUPS:
        typer.echo(f"[{group}]")
        for f in declared():
            if f.metadata["group"] == group:
                typer.echo(f"  {f.metadata['env']} = {public[f.name]}")


@app.command()
def documents(
    folder: Optional[str] = typer.Option(None, "--folder", help="Seulement ce dossier (chemin relatif au corpus) "
                                                                "et ses sous-dossiers."),
    folders: bool = typer.Option(False, "--folders", help="Lister les dossiers, avec leurs documents et passages."),
    json_out: bool = typer.Option(False, "--json", help="La liste en JSON sur la sortie standard."),
):
    """Lister les documents indexés : chemin relatif au corpus, titre, date, éditeur, passages."""
    from . import documents as docs_mod

    settings = _settings()
    if folders:
        rows = _guard(lambda: docs_mod.list_folders(settings))
        if json_out:
            typer.echo(json.dumps(rows, ensure_ascii=False))
            return
        for row in rows:
            typer.echo(f"{row['folder'] or '(tout le corpus)'} : {row['documents']} documents, {row['chunks']} passages")
        return
    rows = _guard(lambda: docs_mod.documents_in_folder(settings, folder or ""))
    if json_out:
        typer.echo(json.dumps(rows, ensure_ascii=False))
        return
    for d in sorted(rows, key=lambda d: d["doc_id"]):
        typer.echo(f"{d['doc_id']} — {d['title']} ({d['date']}, {d['publisher']}) : {d['chunks']} passages")
    typer.echo(f"{len(rows)} documents" + (f" dans « {folder} » et ses sous-dossiers." if folder else "."), err=True)


def main():
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    app()


if __name__ == "__main__":
    main()
