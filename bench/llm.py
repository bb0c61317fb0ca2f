"""Answer latency per LLM backend: time to sources, to first token, to the whole answer.

    .venv/bin/python -m bench.llm [--questions 6] [--backends extractive llama openai]

Runs the library's `stream()` (what the CLI and the web chat use) on development
questions. "llama" is the in-process default; "openai" is the same model behind
llama-cpp-python's OpenAI-compatible server, started here on loopback. Tokens/s counts
streamed chunks per second of generation (one chunk is one token for both servers) when the
model writes (`ASSISTANT_ANSWER_STYLE=write`); with the default `select` style the chosen
sentences arrive as one chunk, so "first token" is when the answer text is shown and tokens/s
is not a generation speed.
Peak memory: this process for in-process backends, the server process for "openai".
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from dataclasses import replace

from assistant.answer import stream
from assistant.model import MODEL_FILE
from assistant.settings import PROJECT_DIR, get_settings
from evals.dataset import load

from .common import peak_rss_mb, process_peak_rss_mb, write


def _port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(settings) -> tuple[subprocess.Popen, str]:
    import socket

    port = _port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", str(settings.models_dir / MODEL_FILE),
         "--host", "127.0.0.1", "--port", str(port), "--n_ctx", str(settings.llm_ctx),
         "--n_threads", str(settings.llm_threads), "--n_batch", "512", "--model_alias", "local"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 180
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc, f"http://127.0.0.1:{port}/v1"
        except OSError:
            if proc.poll() is not None:
                raise SystemExit("Le serveur llama.cpp n'a pas démarré.")
            time.sleep(0.5)
    proc.kill()
    raise SystemExit("Le serveur llama.cpp ne répond pas après 180 s.")


def run_backend(settings, questions) -> list[dict]:
    rows = []
    for item in questions:
        started = time.perf_counter()
        sources = first = None
        chunks = 0
        result = None
        for event in stream(item.question, item.history, settings):
            now = (time.perf_counter() - started) * 1000
            if event["type"] == "sources":
                sources = now
            elif event["type"] == "token":
                chunks += 1
                first = first if first is not None else now
            elif event["type"] == "answer":
                result = event["answer"]
        total = (time.perf_counter() - started) * 1000
        gen_s = (total - first) / 1000 if first is not None else 0
        rows.append({"id": item.id, "sources_ms": round(sources, 1), "first_token_ms": first and round(first, 1),
                     "total_ms": round(total, 1), "tokens": chunks,
                     "tokens_per_s": round(chunks / gen_s, 1) if gen_s > 0 else None,
                     "refused": result.refused, "backend": result.backend})
        print(f"  {item.id}: sources {rows[-1]['sources_ms']} ms, 1er jeton {rows[-1]['first_token_ms']} ms, "
              f"total {rows[-1]['total_ms']} ms", flush=True)
    return rows


def _median(rows, key):
    values = [r[key] for r in rows if r[key] is not None]
    return round(statistics.median(values), 1) if values else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--questions", type=int, default=6)
    parser.add_argument("--backends", nargs="+", default=["extractive", "llama", "openai"])
    args = parser.parse_args()
    base = get_settings()
    items = [i for i in load(PROJECT_DIR / "evals" / "datasets" / "dev.jsonl")
             if i.answerable and i.category in ("factual", "definition", "list")]
    step = max(1, len(items) // args.questions)
    questions = items[::step][: args.questions]
    results, table = {}, []
    for name in args.backends:
        print(f"{name} :", flush=True)
        server = None
        settings = replace(base, llm_backend=name)
        if name == "openai":
            server, url = start_server(base)
            settings = replace(base, llm_backend="openai", llm_url=url, llm_model="local")
        try:
            # A whole warm-up answer: the model is loaded and the rules' prefix is in its KV cache,
            # as in the web app, which warms up at start.
            for _ in stream("Échauffement : qu'est-ce que le RSA ?", None, settings):
                pass
            rows = run_backend(settings, questions)
        finally:
            memory = process_peak_rss_mb(server.pid) if server else peak_rss_mb()
            if server:
                server.terminate()
                server.wait(20)
        results[name] = {"rows": rows, "peak_rss_mb": memory}
        table.append([name, len(rows), _median(rows, "sources_ms"), _median(rows, "first_token_ms"),
                      _median(rows, "total_ms"), _median(rows, "tokens_per_s"), memory,
                      sum(r["refused"] for r in rows)])
    write("llm", {"questions": [q.id for q in questions], "backends": results},
          ["moteur", "questions", "sources p50 (ms)", "1er jeton p50 (ms)", "réponse p50 (ms)", "jetons/s",
           "mémoire max (Mo)", "refus"], table)


if __name__ == "__main__":
    main()
