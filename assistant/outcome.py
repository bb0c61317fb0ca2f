"""Outcome and reason codes of an answer, and their French wording (the one place it is written).

Components return codes; the chat, the CLI, the JSON output and the eval suite read codes;
only `say()` turns them into the short French text a user sees.
"""

from __future__ import annotations

from enum import Enum


class Outcome(str, Enum):
    ANSWER = "answer"  # sentences of the documents, verbatim and cited, stated as the answer
    CHECK = "check"  # no direct answer: the closest passages, the closest sentence highlighted
    REFUSE = "refuse"  # the documents do not answer: the closest passages, nothing stated


class Reason(str, Enum):
    NOTHING_RETRIEVED = "nothing_retrieved"
    PERSONAL_DATA = "personal_data"
    LOW_CONFIDENCE = "low_confidence"  # the scorer's best sentence is under the refusal bar
    UNCERTAIN = "uncertain"  # between the bars: passages to check
    UNGROUNDED = "ungrounded"  # the grounding check removed every sentence
    MODEL_REFUSED = "model_refused"  # write style: the model said the passages do not answer


HEADLINES = {
    Outcome.ANSWER: "Réponse trouvée dans les documents",
    Outcome.CHECK: "Pas de réponse directe : voici les passages les plus proches",
    Outcome.REFUSE: "Les documents disponibles ne permettent pas de répondre à cette question.",
}

_REASONS = {
    Reason.NOTHING_RETRIEVED: "aucun passage de l'index ne se rapporte à la question",
    Reason.PERSONAL_DATA: ("la question demande des données personnelles sur une personne : les documents n'en "
                           "contiennent pas et l'assistant n'en recherche pas"),
    Reason.LOW_CONFIDENCE: "aucune phrase des passages trouvés ne répond à ce que demande la question",
    Reason.UNCERTAIN: ("une phrase proche a été trouvée, mais rien n'assure qu'elle réponde à la question : "
                       "vérifiez le passage surligné"),
    Reason.UNGROUNDED: "aucune phrase de la réponse n'est appuyée par les passages cités",
    Reason.MODEL_REFUSED: "le modèle de langage indique que les passages ne répondent pas",
}

# What the grounding check removes a sentence for.
REMOVED = {
    "instruction": "consigne adressée à l'assistant, pas une information",
    "unsupported": "phrase non appuyée par le passage cité",
}


def say(reason: Reason | str | None) -> str:
    """The reason in French for the user; empty when there is none."""
    if not reason:
        return ""
    return _REASONS[Reason(reason)]
