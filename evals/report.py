"""Reports of an `assistant eval` run: results.json, report.md, report.html, PNG plots; run comparison.

Markdown and HTML are rendered from the same sections, so they always say the same thing.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

WORST = 10  # questions shown in detail
COMPARE_TOLERANCE = 0.01  # changes smaller than this are noise, not a regression


def _fmt(value) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def _metric_columns(results: dict) -> list[str]:
    return [m for m in results["metrics"] if results["overall"].get(m) is not None]


def quality(row: dict, results: dict) -> float | None:
    """Mean of a question's scores, each oriented so that 1 is best: the order of the worst list."""
    values = []
    for name, value in row["scores"].items():
        if name in ("hit_at_1", "hit_at_3", "gold_recall_at_5"):
            continue  # hit@5 already says whether retrieval found it
        values.append(value if results["metrics"][name]["higher_is_better"] else 1 - value)
    return sum(values) / len(values) if values else None


def worst(results: dict, n: int = WORST) -> list[dict]:
    scored = [(quality(r, results), r) for r in results["rows"]]
    scored = [(q, r) for q, r in scored if q is not None]
    scored.sort(key=lambda x: (x[0], x[1]["id"]))
    return [r for _, r in scored[:n]]


def _table(headers: list[str], rows: list[list[str]]) -> dict:
    return {"type": "table", "headers": headers, "rows": rows}


def _sections(results: dict, plots: list[str]) -> list[dict]:
    meta, cols = results["meta"], _metric_columns(results)
    sel = meta["selection"]
    out: list[dict] = [{"type": "h1", "text": "Évaluation de l'assistant solidarités"}]
    out.append({"type": "list", "items": [
        f"Date : {meta['date']} — commit {meta['commit']}",
        f"Questions : {sel['questions']} (sous-ensemble {sel['subset']}"
        + (f", catégories {', '.join(sel['categories'])}" if sel["categories"] else "")
        + (f", limite {sel['limit']}" if sel["limit"] else "") + ")",
        f"Modèle de réponse : {meta['llm']} — configuration {meta['config_key']}",
        f"Embeddings : {meta['embeddings']} — index {meta['index']['fingerprint']} "
        f"({meta['index']['documents']} documents, {meta['index']['passages']} passages)",
        f"Juge : {meta['judge']['model']} @ {meta['judge']['url']}" if meta.get("judge") else "Juge : aucun",
        f"Durée : {results['timings']['total_s']} s (réponses {results['timings']['answers_s']} s, dont "
        f"{results['timings']['answered_now']} calculées et {results['timings']['from_cache']} reprises du cache ; "
        f"métriques {results['timings']['metrics_s']} s)",
    ]})
    if results["timings"].get("fallbacks"):
        out.append({"type": "p", "text": f"Attention : {results['timings']['fallbacks']} réponse(s) de secours "
                    "(le modèle de langage a échoué ou dépassé ASSISTANT_LLM_TIMEOUT) : ces réponses ne reflètent pas "
                    "le modèle ; elles ne sont pas gardées en cache."})
    if results.get("gate"):
        gate = results["gate"]
        out.append({"type": "h2", "text": "Seuils (porte de qualité)"})
        out.append({"type": "p", "text": ("RÉUSSIE" if gate["passed"] else "ÉCHOUÉE") + f" — seuils « {gate['profile']} »"})
        out.append(_table(["métrique", "valeur", "seuil", "résultat"],
                          [[c["metric"], _fmt(c["value"]), f"{c['op']} {c['threshold']}", c["status"]] for c in gate["checks"]]))
    out.append({"type": "h2", "text": "Scores d'ensemble"})
    out.append(_table(["métrique", "définition", "famille", "score", "questions notées"],
                      [[m, results["metrics"][m]["label"], results["metrics"][m]["kind"],
                        _fmt(results["overall"][m]), str(results["overall"].get(f"{m}__n", ""))] for m in cols]))
    out.append({"type": "h2", "text": "Vérificateur et temps de réponse"})
    out.append({"type": "list", "items": guard_and_timings(results["overall"])})
    if results["skipped"] or results["dataset_errors"]:
        out.append({"type": "h2", "text": "Non calculé"})
        out.append({"type": "list", "items": [f"{m} : {why}" for m, why in results["skipped"].items()]
                    + [f"jeu de questions : {e}" for e in results["dataset_errors"]]})
    out.append({"type": "h2", "text": "Par catégorie"})
    out.append(_table(["catégorie", "n"] + cols,
                      [[c, str(s["n"])] + [_fmt(s.get(m)) for m in cols] for c, s in results["categories"].items()]))
    if plots:
        out.append({"type": "h2", "text": "Distributions"})
        out += [{"type": "img", "src": p} for p in plots]
    out.append({"type": "h2", "text": f"Les {WORST} questions les moins bien traitées"})
    for row in worst(results):
        out.append({"type": "h3", "text": f"{row['id']} ({row['category']}) — {row['question']}"})
        scores = ", ".join(f"{k} {_fmt(v)}" for k, v in row["scores"].items())
        lines = [f"Réponse : {row['answer'] or '(vide)'}"]
        if row["refused"]:
            lines.append(f"Refus : {row['refusal_reason'] or 'oui'}")
        if row.get("error"):
            lines.append(f"Erreur : {row['error']}")
        if row.get("notice"):
            lines.append(f"Avertissement de l'assistant : {row['notice']}")
        lines.append(f"Référence : {row['reference_answer']}")
        lines.append(f"Scores : {scores}")
        if row["details"].get("key_facts_missing"):
            lines.append("Faits clés manquants : " + ", ".join(row["details"]["key_facts_missing"]))
        if row["details"].get("unsupported_numbers"):
            lines.append("Nombres sans appui : " + ", ".join(row["details"]["unsupported_numbers"]))
        for q in row["gold_quotes"]:
            lines.append(f"Citation attendue : « {q} »")
        for p in row["passages"][: results["meta"].get("settings", {}).get("answer_passages", 3)]:  # those the answer saw
            text = " ".join(p["text"].split())
            lines.append(f"Passage [{p['rank']}] {p['title']} ({p['date']}), lignes {p['lines'][0]}-{p['lines'][1]} : "
                         f"{text[:400]}{'…' if len(text) > 400 else ''}")
        out.append({"type": "list", "items": lines})
    return out


def _md_cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def to_markdown(sections: list[dict]) -> str:
    lines: list[str] = []
    for s in sections:
        kind = s["type"]
        if kind in ("h1", "h2", "h3"):
            lines += ["#" * int(kind[1]) + " " + s["text"], ""]
        elif kind == "p":
            lines += [s["text"], ""]
        elif kind == "list":
            lines += [f"- {_md_cell(i)}" for i in s["items"]] + [""]
        elif kind == "table":
            lines.append("| " + " | ".join(map(_md_cell, s["headers"])) + " |")
            lines.append("|" + "---|" * len(s["headers"]))
            lines += ["| " + " | ".join(map(_md_cell, r)) + " |" for r in s["rows"]]
            lines.append("")
        elif kind == "img":
            lines += [f"![{s['src']}]({s['src']})", ""]
    return "\n".join(lines)


def to_html(sections: list[dict]) -> str:
    e = html.escape
    body: list[str] = []
    for s in sections:
        kind = s["type"]
        if kind in ("h1", "h2", "h3"):
            body.append(f"<{kind}>{e(s['text'])}</{kind}>")
        elif kind == "p":
            body.append(f"<p>{e(s['text'])}</p>")
        elif kind == "list":
            body.append("<ul>" + "".join(f"<li>{e(str(i))}</li>" for i in s["items"]) + "</ul>")
        elif kind == "table":
            head = "".join(f"<th>{e(h)}</th>" for h in s["headers"])
            rows = "".join("<tr>" + "".join(f"<td>{e(str(c))}</td>" for c in r) + "</tr>" for r in s["rows"])
            body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")
        elif kind == "img":
            body.append(f'<p><img src="{e(s["src"])}" alt="{e(s["src"])}"></p>')
    style = ("body{font-family:sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}"
             "table{border-collapse:collapse;margin:1em 0;font-size:90%}th,td{border:1px solid #bbb;padding:3px 6px}"
             "th{background:#eee}td{vertical-align:top}img{max-width:100%}li{margin:.2em 0}")
    return ('<!DOCTYPE html>\n<html lang="fr"><head><meta charset="utf-8"><title>Évaluation</title>'
            f"<style>{style}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n")


def plots(results: dict, out_dir: Path) -> list[str]:
    """Histograms of per-question scores and a category × metric heatmap (matplotlib, Agg)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [m for m in _metric_columns(results)
             if len({r["scores"][m] for r in results["rows"] if m in r["scores"]}) > 0]
    if not names:
        return []
    made = []
    cols = 4
    rows = (len(names) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 2.6 * rows), squeeze=False)
    for ax, name in zip(axes.flat, names):
        values = [r["scores"][name] for r in results["rows"] if name in r["scores"]]
        ax.hist(values, bins=10, range=(0, 1), color="#3a6ea5", edgecolor="white")
        ax.set_title(f"{name} (n={len(values)})", fontsize=9)
        ax.set_xlim(0, 1)
    for ax in list(axes.flat)[len(names):]:
        ax.axis("off")
    fig.suptitle("Distribution des scores par question")
    fig.tight_layout()
    fig.savefig(out_dir / "distributions.png", dpi=80)
    plt.close(fig)
    made.append("distributions.png")

    cats = list(results["categories"])
    grid = [[results["categories"][c].get(m) for m in names] for c in cats]
    fig, ax = plt.subplots(figsize=(1 + 0.75 * len(names), 1 + 0.45 * len(cats)))
    import numpy as np

    data = np.array([[np.nan if v is None else v for v in row] for row in grid], dtype=float)
    for j, m in enumerate(names):  # colour "good" the same way for lower-is-better metrics
        if not results["metrics"][m]["higher_is_better"]:
            data[:, j] = 1 - data[:, j]
    ax.imshow(data, vmin=0, vmax=1, cmap="RdYlGn", aspect="auto")
    ax.set_xticks(range(len(names)), names, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(len(cats)), cats, fontsize=8)
    for i, row in enumerate(grid):
        for j, v in enumerate(row):
            if v is not None:
                ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=6)
    ax.set_title("Score moyen par catégorie (vert : bon ; refus à tort inversé)", fontsize=9)
    fig.tight_layout()
    fig.savefig(out_dir / "categories.png", dpi=80)
    plt.close(fig)
    made.append("categories.png")

    from .suite import risk_coverage

    curve = risk_coverage(results["rows"])
    if curve:
        answered = [r for r in results["rows"] if r.get("outcome") == "answer"]
        point = (len(answered) / len(results["rows"]),
                 sum(not r["scores"].get("answer_correct", 0) for r in answered) / max(1, len(answered)))
        fig, ax = plt.subplots(figsize=(5, 3.6))
        ax.plot(curve["coverage"], curve["risk"], color="#3a6ea5")
        ax.scatter([point[0]], [point[1]], color="#c0392b", zorder=3, label="point de fonctionnement (seuil « réponse »)")
        ax.set_xlabel("couverture : part des questions répondues")
        ax.set_ylabel("risque : part des réponses fausses")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_title(f"Risque–couverture (aire {curve['aurc']:.3f})", fontsize=9)
        ax.legend(fontsize=7, loc="upper left")
        fig.tight_layout()
        fig.savefig(out_dir / "risk_coverage.png", dpi=80)
        plt.close(fig)
        made.append("risk_coverage.png")
    return made


def write(results: dict, out_dir: Path) -> dict[str, Path]:
    """results.json, report.md, report.html and the plots, in `out_dir`."""
    out_dir.mkdir(parents=True, exist_ok=True)
    try:
        made = plots(results, out_dir)
    except Exception as exc:  # a plot is a nicety: the report is written without it
        results["skipped"]["graphiques"] = f"{type(exc).__name__} : {exc}"
        made = []
    sections = _sections(results, made)
    paths = {"json": out_dir / "results.json", "md": out_dir / "report.md", "html": out_dir / "report.html"}
    paths["json"].write_text(json.dumps(results, ensure_ascii=False, indent=1), encoding="utf-8")
    paths["md"].write_text(to_markdown(sections), encoding="utf-8")
    paths["html"].write_text(to_html(sections), encoding="utf-8")
    return paths


def _seconds(ms) -> str:
    return "–" if ms is None else f"{ms / 1000:.1f} s"


def guard_and_timings(overall: dict) -> list[str]:
    """How often the verifier removed sentences and why, and the median times of the answers shown."""
    reasons = ", ".join(f"{why} : {n}" for why, n in overall.get("removal_reasons", {}).items()) or "aucune"
    return [
        f"Réponses dont le vérificateur a retiré au moins une phrase : {_fmt(overall.get('guard_fired'))} "
        f"({overall.get('sentences_removed', 0)} phrase(s) retirée(s) ; motifs : {reasons})",
        f"Temps médians des réponses données (hors refus) : sources {_seconds(overall.get('p50_retrieve_ms'))}, "
        f"premier texte {_seconds(overall.get('p50_first_token_ms'))}, "
        f"réponse complète {_seconds(overall.get('p50_total_ms'))}",
    ]


def summary_table(results: dict) -> str:
    """The overall and per-category table, for the terminal (Markdown)."""
    cols = _metric_columns(results)
    lines = ["| catégorie | n | " + " | ".join(cols) + " |", "|" + "---|" * (len(cols) + 2)]
    for name, s in [("TOUT", results["overall"])] + list(results["categories"].items()):
        lines.append(f"| {name} | {s['n']} | " + " | ".join(_fmt(s.get(m)) for m in cols) + " |")
    return "\n".join(lines)


def compare(previous: dict, current: dict, tolerance: float = COMPARE_TOLERANCE) -> dict:
    """What got worse and what got better: metrics overall and per category, and questions that flipped."""
    worse, better = [], []
    metrics = current["metrics"]

    def diff(scope: str, old: dict, new: dict):
        for m, info in metrics.items():
            a, b = old.get(m), new.get(m)
            if a is None or b is None:
                continue
            delta = (b - a) if info["higher_is_better"] else (a - b)
            if abs(b - a) < tolerance:
                continue
            line = f"{scope} {m} : {a:.3f} → {b:.3f}"
            (better if delta > 0 else worse).append(line)

    diff("ensemble", previous.get("overall", {}), current["overall"])
    for cat, summary in current["categories"].items():
        if cat in previous.get("categories", {}):
            diff(f"catégorie {cat}", previous["categories"][cat], summary)
    old_rows = {r["id"]: r for r in previous.get("rows", [])}
    flips = {"worse": [], "better": []}
    for row in current["rows"]:
        old = old_rows.get(row["id"])
        if not old:
            continue
        for m in ("hit_at_5", "refusal_correct", "false_refusal", "numbers_supported", "answer_french"):
            a, b = old["scores"].get(m), row["scores"].get(m)
            if a is None or b is None or a == b:
                continue
            good = (b > a) == metrics[m]["higher_is_better"]
            flips["better" if good else "worse"].append(f"{row['id']} {m} : {a:g} → {b:g}")
    same_config = previous.get("meta", {}).get("config_key") == current["meta"]["config_key"]
    return {"worse": worse, "better": better, "questions_worse": flips["worse"], "questions_better": flips["better"],
            "previous": {k: previous.get("meta", {}).get(k) for k in ("date", "commit", "config_key", "llm")},
            "same_config": same_config,
            "only_previous": sorted(set(old_rows) - {r["id"] for r in current["rows"]})}


def format_comparison(cmp: dict) -> str:
    prev = cmp["previous"]
    lines = [f"Comparaison avec l'évaluation du {prev.get('date')} (commit {prev.get('commit')}, "
             f"configuration {prev.get('config_key')}, modèle {prev.get('llm')})."]
    if not cmp["same_config"]:
        lines.append("Attention : la configuration diffère (réglages, modèle ou prompts).")
    for title, key in (("En recul", "worse"), ("En progrès", "better"),
                       ("Questions en recul", "questions_worse"), ("Questions en progrès", "questions_better")):
        lines.append(f"{title} ({len(cmp[key])}) :")
        lines += [f"  - {x}" for x in cmp[key]] or ["  (rien)"]
    if cmp["only_previous"]:
        lines.append(f"Questions de l'évaluation précédente absentes de celle-ci : {len(cmp['only_previous'])}")
    return "\n".join(lines)
