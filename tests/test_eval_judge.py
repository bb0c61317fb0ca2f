"""Judge metrics: a real score from the local model behind llama.cpp's OpenAI-compatible server,
and a clear per-metric reason when the endpoint answers with something that is not JSON."""

import json
import subprocess
import sys
import threading
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from assistant.model import MODEL_FILE
from assistant.settings import PROJECT_DIR, Settings
from evals import judge
from evals.ragas_metrics import Sample, run_metric

from .conftest import free_port, wait_for_port

QUOTE = "Une première délibération d'engagement doit être prise avant le 30 juin."
SAMPLE = Sample(
    id="fact-002", user_input="Avant quelle date les Départements devaient-ils adopter une première délibération d'engagement ?",
    response="Les Départements devaient adopter une première délibération d'engagement avant le 30 juin.",
    reference="Une première délibération d'engagement devait être prise avant le 30 juin.",
    retrieved_contexts=[QUOTE], given_contexts=[QUOTE], reference_contexts=[QUOTE], answered=True, answerable=True)


@pytest.fixture(scope="module")
def judge_server():
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", str(PROJECT_DIR / "models" / MODEL_FILE),
         "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "4096", "--n_threads", "2",
         "--model_alias", "juge-local"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for_port(port, proc, 120)
    yield f"http://127.0.0.1:{port}/v1"
    proc.terminate()
    proc.wait(20)


def test_faithfulness_scored_by_the_local_model(judge_server):
    settings = replace(Settings(), judge_url=judge_server, judge_model="juge-local", judge_timeout=240)
    metric, pick = judge.build(settings, only=("faithfulness",))["faithfulness"]
    run = run_metric("faithfulness", metric, pick, [SAMPLE], timeout=300)
    assert not run.skipped and not run.errors, (run.skipped, run.errors)
    assert 0.0 <= run.scores["fact-002"] <= 1.0


class _NotJson(BaseHTTPRequestHandler):
    """An OpenAI-shaped chat endpoint whose message is prose, not the JSON the prompt asks for."""

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        body = json.dumps({"id": "x", "object": "chat.completion", "created": 0, "model": "m",
                           "choices": [{"index": 0, "finish_reason": "stop",
                                        "message": {"role": "assistant", "content": "Je pense que oui, sans doute."}}],
                           "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_invalid_json_from_the_judge_is_recorded_per_metric():
    server = HTTPServer(("127.0.0.1", 0), _NotJson)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        settings = replace(Settings(), judge_url=f"http://127.0.0.1:{server.server_port}/v1", judge_timeout=10)
        metrics = judge.build(settings, only=("faithfulness", "factual_correctness"))
        for name, (metric, pick) in metrics.items():
            run = run_metric(name, metric, pick, [SAMPLE], timeout=60)
            assert not run.scores
            assert "JSON invalide" in run.errors["fact-002"] and "aucune question notée" in run.skipped, run
    finally:
        server.shutdown()


class _Relevance(BaseHTTPRequestHandler):
    """An OpenAI-shaped endpoint that answers the question-generation prompt in valid JSON."""

    calls = 0

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        type(self).calls += 1
        content = json.dumps({"question": "Quel était le montant du fonds de contractualisation ?", "noncommittal": 0})
        body = json.dumps({"id": "x", "object": "chat.completion", "created": 0, "model": "m",
                           "choices": [{"index": 0, "finish_reason": "stop",
                                        "message": {"role": "assistant", "content": content}}],
                           "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_judge_scores_are_cached_so_a_rerun_resumes(seed_index, tmp_path):
    from evals.suite import evaluate

    from .test_eval import _items

    dataset = tmp_path / "set.jsonl"
    dataset.write_text("\n".join(_items(("fact-001", "fact-003"))) + "\n", encoding="utf-8")  # both answered
    server = HTTPServer(("127.0.0.1", 0), _Relevance)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}/v1"
    settings = replace(seed_index[0], llm_backend="extractive", judge_url=url, judge_timeout=10)
    try:
        first = evaluate(settings, dataset, cache_dir=tmp_path / "cache", judge_metrics=("response_relevancy",))
    finally:
        server.shutdown()
        server.server_close()
    scored = {r["id"]: r["scores"].get("response_relevancy") for r in first["rows"]}
    assert _Relevance.calls >= 1 and all(v is not None and 0 < v <= 1 for v in scored.values()), first["skipped"]
    # The endpoint is gone now: the scores come back from the judge cache, nothing is skipped.
    again = evaluate(settings, dataset, cache_dir=tmp_path / "cache", judge_metrics=("response_relevancy",))
    assert {r["id"]: r["scores"].get("response_relevancy") for r in again["rows"]} == scored
    assert "response_relevancy" not in again["skipped"]


class _StuckJudge:
    """A metric whose call blocks the event loop itself, where asyncio's own timeout cannot fire."""

    async def single_turn_ascore(self, sample, timeout=None):
        import time

        time.sleep(8)
        return 1.0


def test_a_judge_call_stuck_outside_asyncio_is_abandoned_after_its_bound():
    import time

    fields = {"user_input": SAMPLE.user_input, "response": SAMPLE.response}
    started = time.perf_counter()
    run = run_metric("faithfulness", _StuckJudge(), lambda s: fields, [SAMPLE], timeout=0.5)
    assert time.perf_counter() - started < 7.5  # bound 0.5 + 5 s, not the 8 s the call would take
    assert "bloqué" in run.errors["fact-002"] and "abandonnée" in run.skipped
