"""LLM-judged ragas metrics, with prompts written in French, against any OpenAI-compatible endpoint.

Metrics: Faithfulness, ResponseRelevancy, FactualCorrectness, LLMContextPrecisionWithReference
(ragas 0.4.3 classes). ragas can translate its prompts with the judge itself
(`adapt_prompts`), which costs many calls and depends on the judge's French; here each
prompt's instruction and example are written in French once (the JSON field names stay
ragas'), so every run sends the same text. Settings: ASSISTANT_JUDGE_URL, _MODEL, _API_KEY,
_TIMEOUT. Each failure (endpoint down, invalid JSON, timeout) is recorded per question and
metric by `ragas_metrics.run_metric`; an unreachable endpoint abandons the metric at once.
"""

from __future__ import annotations

import copy
import hashlib
import json
import warnings

from .ragas_metrics import Sample, ragas_embeddings

JUDGE_METRICS = ("faithfulness", "response_relevancy", "factual_correctness", "llm_context_precision")


class _FrenchFraming:
    """The text ragas wraps around every prompt, in French (output schema unchanged)."""

    def _generate_output_signature(self, indent: int = 4) -> str:
        return ("Réponds uniquement par un objet JSON conforme à ce schéma JSON Schema :\n"
                f"{json.dumps(self.output_model.model_json_schema(), ensure_ascii=False)}\n"
                "Utilise des guillemets doubles, jamais de guillemets simples.")

    def to_string(self, data=None) -> str:
        shown = data.model_dump_json(indent=4, exclude_none=True) if data is not None else "(aucune)"
        examples = ""
        if self.examples:
            examples = "\n--------EXEMPLE-----------\n" + "\n\n".join(
                f"Entrée : {i.model_dump_json(indent=4)}\nSortie : {o.model_dump_json(indent=4)}" for i, o in self.examples)
        return (f"{self.instruction}\n{self._generate_output_signature()}\n{examples}\n"
                "-----------------------------\n\nFais de même avec l'entrée suivante.\n"
                f"Entrée : {shown}\nSortie : ")


def _french(prompt, instruction: str, examples: list):
    """A copy of a ragas prompt with French framing, instruction and examples."""
    cls = type(f"Fr{type(prompt).__name__}", (_FrenchFraming, type(prompt)), {})
    out = cls.__new__(cls)
    out.__dict__.update(copy.deepcopy(prompt.__dict__))
    out.instruction = instruction
    out.examples = examples
    out.language = "french"
    return out


def _prompts():
    """French versions of the five prompts the four metrics use."""
    from ragas.metrics._answer_relevance import ResponseRelevanceInput, ResponseRelevanceOutput, ResponseRelevancePrompt
    from ragas.metrics._context_precision import QAC, ContextPrecisionPrompt, Verification
    from ragas.metrics._factual_correctness import (ClaimDecompositionInput, ClaimDecompositionOutput,
                                                    ClaimDecompositionPrompt)
    from ragas.metrics._faithfulness import (NLIStatementInput, NLIStatementOutput, NLIStatementPrompt,
                                             StatementFaithfulnessAnswer, StatementGeneratorInput,
                                             StatementGeneratorOutput, StatementGeneratorPrompt)

    statements = _french(
        StatementGeneratorPrompt(),
        "À partir d'une question et d'une réponse, découpe chaque phrase de la réponse en une ou plusieurs "
        "affirmations autonomes et compréhensibles seules. N'utilise aucun pronom : répète le nom de ce dont "
        "on parle. Réponds en JSON.",
        [(StatementGeneratorInput(
            question="Qu'est-ce que le fonds de contractualisation ?",
            answer="Il finance les actions des Départements pour la stratégie pauvreté. Il s'élevait à 135 millions d'euros en 2019."),
          StatementGeneratorOutput(statements=[
              "Le fonds de contractualisation finance les actions des Départements pour la stratégie pauvreté.",
              "Le fonds de contractualisation s'élevait à 135 millions d'euros en 2019."]))])
    nli = _french(
        NLIStatementPrompt(),
        "Juge la fidélité de chaque affirmation au contexte donné. Pour chaque affirmation, donne verdict 1 si "
        "elle se déduit directement du contexte, 0 sinon, avec une courte raison en français.",
        [(NLIStatementInput(
            context="Le fonds de contractualisation, d'un montant de 135 millions d'euros en 2019, sera porté a minima à 210 millions d'euros en 2022.",
            statements=["Le fonds s'élevait à 135 millions d'euros en 2019.",
                        "Le fonds a été supprimé en 2021."]),
          NLIStatementOutput(statements=[
              StatementFaithfulnessAnswer(statement="Le fonds s'élevait à 135 millions d'euros en 2019.",
                                          reason="Le contexte donne ce montant pour 2019.", verdict=1),
              StatementFaithfulnessAnswer(statement="Le fonds a été supprimé en 2021.",
                                          reason="Le contexte ne parle d'aucune suppression ; il annonce une hausse.",
                                          verdict=0)]))])
    relevance = _french(
        ResponseRelevancePrompt(),
        "Écris la question à laquelle cette réponse répond, et indique si la réponse est évasive : noncommittal "
        "vaut 1 si la réponse est évasive, vague ou dit ne pas savoir (par exemple « les documents ne permettent "
        "pas de répondre »), 0 sinon.",
        [(ResponseRelevanceInput(response="Le Pacte des solidarités compte quatre axes, dont la prévention de la pauvreté dès l'enfance."),
          ResponseRelevanceOutput(question="Combien d'axes compte le Pacte des solidarités ?", noncommittal=0)),
         (ResponseRelevanceInput(response="Les documents disponibles ne permettent pas de répondre à cette question."),
          ResponseRelevanceOutput(question="Quel est le montant du RSA en 2030 ?", noncommittal=1))])
    claims = _french(
        ClaimDecompositionPrompt(),
        "Découpe chaque phrase du texte en affirmations autonomes, chacune vérifiable seule. "
        "Garde le niveau de détail de l'exemple.",
        [(ClaimDecompositionInput(response="Frédéric Bierry, président de la commission solidarités de l'ADF, a piloté des travaux qui ont impliqué 46 départements."),
          ClaimDecompositionOutput(claims=["Frédéric Bierry a piloté des travaux.",
                                           "Les travaux pilotés par Frédéric Bierry ont impliqué 46 départements."]))])
    precision = _french(
        ContextPrecisionPrompt(),
        "À partir d'une question, d'une réponse de référence et d'un passage, dis si le passage a été utile pour "
        "arriver à cette réponse : verdict 1 s'il est utile, 0 sinon, avec une courte raison en français.",
        [(QAC(question="Quand la première délibération d'engagement devait-elle être prise ?",
              context="Une première délibération d'engagement doit être prise avant le 30 juin.",
              answer="Avant le 30 juin."),
          Verification(reason="Le passage donne exactement la date demandée.", verdict=1)),
         (QAC(question="Combien d'axes compte le Pacte des solidarités ?",
              context="Le fonds de contractualisation s'élevait à 135 millions d'euros en 2019.",
              answer="Quatre axes."),
          Verification(reason="Le passage parle d'un fonds, pas des axes du Pacte.", verdict=0))])
    return {"statements": statements, "nli": nli, "relevance": relevance, "claims": claims, "precision": precision}


def judge_llm(settings):
    from langchain_openai import ChatOpenAI
    from ragas.llms import LangchainLLMWrapper
    from ragas.run_config import RunConfig

    chat = ChatOpenAI(base_url=settings.judge_url, model=settings.judge_model or "default",
                      api_key=settings.judge_api_key or "not-needed", timeout=settings.judge_timeout,
                      max_retries=0, temperature=0.0, max_tokens=1024)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        # One attempt: ragas' default (10 retries, up to 60 s apart) turns a down endpoint into minutes.
        return LangchainLLMWrapper(chat, run_config=RunConfig(timeout=settings.judge_timeout, max_retries=1, max_wait=2))


def identity(settings) -> str:
    """Judge endpoint, model and the exact prompt text: what a judge score depends on."""
    import ragas

    text = json.dumps({k: p.to_string() for k, p in _prompts().items()}, ensure_ascii=False)
    raw = json.dumps([settings.judge_url, settings.judge_model, ragas.__version__, text])
    return hashlib.sha256(raw.encode()).hexdigest()[:12]


def _given(s: Sample):
    if not (s.answered and s.given_contexts and s.response):
        return None
    return {"user_input": s.user_input, "response": s.response, "retrieved_contexts": s.given_contexts}


def _relevancy(s: Sample):
    if not (s.answered and s.response):
        return None
    return {"user_input": s.user_input, "response": s.response}


def _factual(s: Sample):
    if not (s.answered and s.answerable and s.reference and s.response):
        return None
    return {"response": s.response, "reference": s.reference}


def _precision(s: Sample):
    if not (s.answerable and s.reference and s.retrieved_contexts):
        return None
    return {"user_input": s.user_input, "retrieved_contexts": s.retrieved_contexts, "reference": s.reference}


def build(settings, only: tuple[str, ...] = JUDGE_METRICS) -> dict:
    """The judge metrics with French prompts, each with the function that picks its samples' fields."""
    from ragas.metrics._answer_relevance import ResponseRelevancy
    from ragas.metrics._context_precision import LLMContextPrecisionWithReference
    from ragas.metrics._factual_correctness import FactualCorrectness
    from ragas.metrics._faithfulness import Faithfulness

    llm = judge_llm(settings)
    p = _prompts()
    out = {}
    if "faithfulness" in only:
        out["faithfulness"] = (Faithfulness(llm=llm, statement_generator_prompt=p["statements"],
                                            nli_statements_prompt=p["nli"]), _given)
    if "response_relevancy" in only:
        # strictness 1: one generated question per answer (ragas' 3 triples the cost; at near-zero
        # temperature the extra questions barely differ).
        out["response_relevancy"] = (ResponseRelevancy(llm=llm, embeddings=ragas_embeddings(settings),
                                                       question_generation=p["relevance"], strictness=1), _relevancy)
    if "factual_correctness" in only:
        metric = FactualCorrectness(llm=llm, nli_prompt=copy.deepcopy(p["nli"]))
        metric.claim_decomposition_prompt = p["claims"]  # set after __post_init__, which loads English examples
        out["factual_correctness"] = (metric, _factual)
    if "llm_context_precision" in only:
        out["llm_context_precision"] = (LLMContextPrecisionWithReference(llm=llm, context_precision_prompt=p["precision"]),
                                        _precision)
    return out
