"""Load test: N concurrent chat sessions in a real browser for a bounded time.

    .venv/bin/python -m bench.load [--users 20] [--seconds 120] [--backend extractive]

Starts app.py on a free loopback port (own data directory, the real index), opens N pages
in one headless Chromium (Debian's), and in each page, until the time is up: asks a
question, waits for the verified answer, gives it a thumbs up or down and waits for the
confirmation. Then checks that every confirmed feedback is in the SQLite store, that the
app logged no server error, and samples the app's memory every second (maximum and the
trend of the second half). Stops by itself: at most --seconds plus one answer's time.
The default backend is extractive so that the server, not the 2-core LLM, is what is
loaded (with the local LLM, answers queue: see bench.web); --backend llama works too.
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import tempfile
import time
from pathlib import Path

from assistant.settings import PROJECT_DIR
from evals.dataset import load

from .common import MemorySampler, log_errors, percentiles, write
from .web import _free_port, start_app

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
DONE_JS = """n => { const bots = document.querySelectorAll('#chatbot [data-testid="bot"]');
  if (bots.length <= n) return false;
  const last = bots[bots.length - 1].textContent;
  return !/Recherche des passages|Rédaction de la réponse|▌/.test(last) && !document.querySelector('#send').disabled; }"""


async def session(browser, url: str, n: int, questions: list[str], deadline: float, stats: dict) -> None:
    await asyncio.sleep(n * 0.5)  # users arrive over a few seconds, not in the same millisecond
    context = await browser.new_context(locale="fr-FR")
    page = await context.new_page()
    try:
        await page.goto(url, timeout=180_000)
        await page.wait_for_selector("#question textarea", timeout=180_000)
    except Exception as exc:
        stats["errors"].append(f"session {n}: page non chargée ({type(exc).__name__})")
        await context.close()
        return
    i = 0
    while time.time() < deadline:
        question = questions[(n * 7 + i) % len(questions)]
        before = await page.locator("#chatbot [data-testid='bot']").count()
        await page.fill("#question textarea", question)
        t = time.time()
        await page.click("#send")
        try:
            await page.wait_for_function(DONE_JS, arg=before, timeout=300_000)
        except Exception as exc:
            stats["errors"].append(f"session {n}: pas de réponse ({type(exc).__name__})")
            break
        stats["latencies"].append(time.time() - t)
        status = await page.locator("#status").text_content() or ""
        if "erreur inattendue" in status.lower():
            stats["errors"].append(f"session {n}: {status[:200]}")
        label = "J'aime" if i % 2 == 0 else "Je n'aime pas"
        buttons = page.locator(f'#chatbot button[aria-label="{label}"]')
        await buttons.last.click()
        try:
            await page.wait_for_function(
                "() => document.querySelector('#status').textContent.includes('est enregistré')", timeout=30_000)
            stats["feedback"].append(question)
        except Exception:
            stats["errors"].append(f"session {n}: avis non confirmé")
        i += 1
    await context.close()


async def drive(url: str, users: int, seconds: int, questions: list[str], stats: dict) -> None:
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        deadline = time.time() + seconds
        await asyncio.gather(*(session(browser, url, n, questions, deadline, stats) for n in range(users)))
        await browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--seconds", type=int, default=120)
    parser.add_argument("--backend", default="extractive")
    args = parser.parse_args()
    questions = [i.question for i in load(PROJECT_DIR / "evals" / "datasets" / "dev.jsonl")
                 if i.answerable and not i.history]
    with tempfile.TemporaryDirectory(prefix="bench-load-") as tmp:
        data = Path(tmp)
        port = _free_port()
        proc = start_app(args.backend, data, port)
        log = data / "app.log"
        deadline = time.time() + 240
        while time.time() < deadline and not (log.exists() and "prêt" in log.read_text(encoding="utf-8")):
            time.sleep(0.5)
        sampler = MemorySampler(proc.pid)
        stats = {"latencies": [], "errors": [], "feedback": []}
        t0 = time.time()
        try:
            asyncio.run(drive(f"http://127.0.0.1:{port}/", args.users, args.seconds, questions, stats))
        finally:  # never leave the app running
            elapsed = time.time() - t0
            sampler.stop()
            proc.terminate()
            proc.wait(30)
        with sqlite3.connect(data / "feedback.sqlite3") as conn:
            stored = [r[0] for r in conn.execute("SELECT question FROM feedback")]
        server_errors = log_errors(log.read_text(encoding="utf-8"))

    missing = len(stats["feedback"]) - sum(min(stored.count(q), stats["feedback"].count(q))
                                           for q in set(stats["feedback"]))
    memory = sampler.figures()
    pct = percentiles(stats["latencies"])
    payload = {"users": args.users, "seconds": args.seconds, "backend": args.backend, "elapsed_s": round(elapsed, 1),
               "answers": len(stats["latencies"]), "client_errors": stats["errors"], "server_errors": server_errors,
               "feedback_confirmed": len(stats["feedback"]), "feedback_stored": len(stored),
               "feedback_missing": missing, "latency_s": pct, **memory, "memory": sampler.memory[::5]}
    write("load", payload,
          ["sessions", "moteur", "durée (s)", "réponses", "erreurs client", "erreurs serveur", "avis confirmés",
           "avis en base", "avis perdus", "latence p50 (s)", "p95 (s)", "mémoire max (Mo)", "pente (Mo/min)"],
          [[args.users, args.backend, round(elapsed), len(stats["latencies"]), len(stats["errors"]),
            len(server_errors), len(stats["feedback"]), len(stored), missing, pct["p50"], pct["p95"],
            payload["rss_mb_max"], memory["rss_mb_slope_per_min_second_half"]]])
    if stats["errors"] or server_errors or missing:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
