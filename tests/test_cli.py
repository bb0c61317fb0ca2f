"""The `assistant` command as a user runs it: a real process, real index, JSON contracts."""

import json
import os
import subprocess
import sys

from .conftest import STRATEGY


def _run(args, settings, stdin=None):
    env = {**os.environ, "ASSISTANT_CORPUS_DIR": str(settings.corpus_dir),
           "ASSISTANT_INDEX_DIR": str(settings.index_dir), "ASSISTANT_COLLECTION": settings.collection}
    return subprocess.run([sys.executable, "-m", "assistant.cli", *args], capture_output=True, text=True,
                          env=env, input=stdin, timeout=300)


def test_search_json_and_batch(seed_index, tmp_path):
    settings, _ = seed_index
    out = _run(["search", "fonds de contractualisation 2019", "--k", "3", "--json"], settings)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert len(data["results"]) == 3 and data["results"][0]["source"]["doc_id"] == STRATEGY

    batch = tmp_path / "q.jsonl"
    batch.write_text("\n".join([
        json.dumps({"id": "a", "question": "Qu'est-ce que le Pacte des solidarités ?"}, ensure_ascii=False),
        "{pas du json",
        json.dumps({"id": "b", "question": "Et pour les personnes âgées ?",
                    "history": [{"role": "user", "content": "Quels financements pour les EHPAD ?"}]}, ensure_ascii=False),
        json.dumps({"id": "c", "question": "   "}),
    ]), encoding="utf-8")
    out = _run(["search", "--batch", str(batch), "--json", "--k", "2"], settings)
    assert out.returncode == 0, out.stderr
    lines = [json.loads(x) for x in out.stdout.splitlines()]
    assert [x["id"] for x in lines] == ["a", "b", "c"]
    assert len(lines[0]["results"]) == 2 and lines[0]["results"][0]["rank"] == 1
    assert set(lines[0]["results"][0]["source"]) >= {"doc_id", "title", "publisher", "date", "path", "section",
                                                     "start_line", "end_line"}
    assert "vide" in lines[2]["error"]
    assert "ligne 2" in out.stderr


def test_ingest_summary_and_missing_index_message(tmp_path, small_corpus):
    from .conftest import make_settings

    settings = make_settings(tmp_path, small_corpus)
    out = _run(["search", "RSA"], settings)
    assert out.returncode == 1 and "assistant ingest" in out.stderr and "Traceback" not in out.stderr
    out = _run(["ingest", "--json"], settings)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["documents"] == 2 and report["chunks"] > 0 and "seconds" in report
    out = _run(["ingest"], settings)
    assert "2 inchangés" in out.stdout
