"""The OpenAI-compatible path, against llama-cpp-python's own server started on loopback."""

import subprocess
import sys
from dataclasses import replace

import pytest

from assistant.answer import answer
from assistant.model import MODEL_FILE
from assistant.settings import PROJECT_DIR

from .conftest import ANSWERED, free_port, wait_for_port


def _start_server() -> tuple[subprocess.Popen, str]:
    """llama-cpp-python's OpenAI-compatible server on loopback, with the local model."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", str(PROJECT_DIR / "models" / MODEL_FILE),
         "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "4096", "--n_threads", "2",
         "--model_alias", "qwen-local"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for_port(port, proc, 120)
    return proc, f"http://127.0.0.1:{port}/v1"


@pytest.fixture(scope="module")
def llama_server():
    proc, url = _start_server()
    yield url
    proc.terminate()
    proc.wait(20)


def test_answer_through_openai_compatible_server(seed_index, llama_server):
    # The write style: the served model phrases the answer the scorer accepted, held to its passages. So the
    # question is one the scorer answers: one it sends to be checked (the 2019 fund one) never reaches the model.
    settings = replace(seed_index[0], llm_backend="openai", llm_url=llama_server, llm_model="qwen-local",
                       answer_style="write")
    result = answer(ANSWERED, settings=settings)
    assert result.backend.startswith("openai:"), result.as_dict()
    assert not result.refused and "400" in result.answer and result.citations, result.as_dict()
    assert result.timings["first_token_ms"] is not None


def test_server_down_falls_back_with_notice(seed_index):
    settings = replace(seed_index[0], llm_backend="openai", llm_url=f"http://127.0.0.1:{free_port()}/v1",
                       answer_style="write")
    result = answer(ANSWERED, settings=settings)
    assert "n'a pas pu répondre" in result.notice
    assert "400" in result.answer and result.backend == "extractive"


def test_server_crashing_mid_answer_falls_back_with_notice(seed_index):
    """The LLM server dies (SIGKILL) while it processes the prompt: extractive answer with a notice."""
    import signal
    import threading

    proc, url = _start_server()
    try:
        settings = replace(seed_index[0], llm_backend="openai", llm_url=url, llm_model="qwen-local",
                           answer_style="write")
        # Prompt processing takes several seconds on 2 cores: the kill lands while the request is in flight.
        killer = threading.Timer(3.0, proc.send_signal, args=(signal.SIGKILL,))
        killer.start()
        result = answer(ANSWERED, settings=settings)
        killer.join()
        assert proc.wait(10) == -signal.SIGKILL
        assert result.backend == "extractive" and "n'a pas pu répondre" in result.notice
        assert "400" in result.answer and result.citations
    finally:
        if proc.poll() is None:
            proc.kill()


def test_confirmation_reads_yes_and_no_from_the_server_s_log_probabilities(seed_index, llama_server):
    from assistant import confirm
    from assistant.llm import get_chat_model

    settings = replace(seed_index[0], llm_backend="openai", llm_url=llama_server, llm_model="qwen-local")
    model = get_chat_model(settings)
    answers = "Dans l'Aude (11), 400 allocataires du RSA travaillent chaque année dans les chantiers d'insertion."
    same = "Le Département de l'Aude soutient les chantiers d'insertion pour les allocataires du RSA."
    yes = confirm.yes_probability(settings, model, *confirm.messages(settings.prompts_dir, ANSWERED, [answers]), 60)
    no = confirm.yes_probability(settings, model, *confirm.messages(settings.prompts_dir, ANSWERED, [same]), 60)
    assert 0.0 < no < yes < 1.0, (yes, no)
