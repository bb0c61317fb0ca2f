"""The web app under concurrent users, on loopback, bounded in users and time.

    .venv/bin/python -m bench.web [--users 10] [--questions 2] [--seconds 600] [--backend llama]

Starts `app.py` on a free loopback port (its own data directory, the real index and model),
then each simulated user opens its own session (gradio_client) and asks its questions one
after the other through the chat's endpoint, as the page does. Records each answer's
latency, errors (an exception, or a final message that is an error), answers per minute,
and the app's resident memory every second (maximum and the trend of the second half).
On this machine the local model writes one answer at a time: the others queue, which is
what the latency percentiles show.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from assistant.settings import PROJECT_DIR
from evals.dataset import load

from .common import MemorySampler, log_errors, percentiles, write


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_app(backend: str, data_dir: Path, port: int, extra_env: dict | None = None) -> subprocess.Popen:
    env = {**os.environ, "ASSISTANT_PORT": str(port), "ASSISTANT_DATA_DIR": str(data_dir),
           "ASSISTANT_LLM": backend, "ASSISTANT_RATE_LIMIT": "1000", **(extra_env or {})}
    proc = subprocess.Popen([sys.executable, str(PROJECT_DIR / "app.py")], env=env, cwd=PROJECT_DIR,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 180
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc
        except OSError:
            if proc.poll() is not None:
                raise SystemExit(f"L'application s'est arrêtée au démarrage (code {proc.returncode}).")
            time.sleep(0.5)
    proc.kill()
    raise SystemExit("L'application ne répond pas après 180 s.")


def ask(client, question: str) -> tuple[bool, str]:
    """One question through the chat endpoint; (ok, final chat message)."""
    result = client.predict(question, [], api_name="/on_send")
    chat = result[0] if isinstance(result, (list, tuple)) else result
    last = ""
    if isinstance(chat, list) and chat:
        item = chat[-1]
        last = item.get("content", "") if isinstance(item, dict) else str(item)
        if isinstance(last, list):
            last = " ".join(str(p.get("text", p)) if isinstance(p, dict) else str(p) for p in last)
    failed = not last or "erreur inattendue" in str(last).lower()
    return not failed, str(last)


def main() -> None:
    from gradio_client import Client

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=10)
    parser.add_argument("--questions", type=int, default=2, help="questions par utilisateur")
    parser.add_argument("--seconds", type=int, default=600, help="durée maximale")
    parser.add_argument("--backend", default="llama")
    args = parser.parse_args()
    items = [i for i in load(PROJECT_DIR / "evals" / "datasets" / "dev.jsonl") if i.answerable and not i.history]
    port = _free_port()
    with tempfile.TemporaryDirectory(prefix="bench-web-") as tmp:
        proc = start_app(args.backend, Path(tmp), port)
        url = f"http://127.0.0.1:{port}/"
        sampler = MemorySampler(proc.pid)
        # The first question pays the model's loading; it is not part of the load.
        Client(url, verbose=False, analytics_enabled=False, download_files=False).predict(
            "Qu'est-ce que le RSA ?", [], api_name="/on_send")
        latencies, errors, fallbacks, lock = [], [], [], threading.Lock()
        deadline = time.time() + args.seconds
        load_started = time.time()

        def user(n: int):
            client = Client(url, verbose=False, analytics_enabled=False, download_files=False)
            for j in range(args.questions):
                if time.time() > deadline:
                    return
                item = items[(n * args.questions + j) % len(items)]
                t = time.time()
                try:
                    ok, text = ask(client, item.question)
                except Exception as exc:  # a failed request is what this benchmark counts
                    ok, text = False, f"{type(exc).__name__}: {exc}"
                with lock:
                    (latencies.append(time.time() - t) if ok else errors.append({"id": item.id, "error": text[:300]}))
                    if ok and "Réponse extractive" in text:  # the model's budget ran out (queue, timeout)
                        fallbacks.append(item.id)

        threads = [threading.Thread(target=user, args=(n,)) for n in range(args.users)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(max(1, deadline - time.time() + 60))
        elapsed = time.time() - load_started
        sampler.stop()
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log = Path(tmp) / "app.log"
        server_errors = log_errors(log.read_text(encoding="utf-8")) if log.exists() else []

    memory = sampler.figures()
    slope = memory["rss_mb_slope_per_min_second_half"]
    pct = percentiles(latencies)
    payload = {"users": args.users, "questions_per_user": args.questions, "backend": args.backend,
               "answers": len(latencies), "errors": errors, "server_errors": server_errors,
               "extractive_fallbacks": len(fallbacks), "seconds": round(elapsed, 1),
               "answers_per_minute": round(len(latencies) / (elapsed / 60), 2) if elapsed else None,
               "latency_s": pct, **memory, "memory": sampler.memory[::5]}
    write("web", payload,
          ["utilisateurs", "moteur", "réponses", "dont extractives", "erreurs", "réponses/min", "latence p50 (s)", "p95 (s)", "p99 (s)",
           "mémoire max (Mo)", "pente mémoire (Mo/min)"],
          [[args.users, args.backend, len(latencies), len(fallbacks), len(errors), payload["answers_per_minute"], pct["p50"],
            pct["p95"], pct["p99"], payload["rss_mb_max"], slope]])


if __name__ == "__main__":
    main()
