"""Redaction of personal data: what must be masked, and what must stay (amounts, years)."""

import logging

import pytest

from assistant.privacy import ADDRESS, EMAIL, IBAN, NIR, PHONE, TOWN, RedactingFilter, asks_personal_data, redact, redact_obj


@pytest.mark.parametrize("text, secret, placeholder", [
    ("Son NIR est 1 85 05 78 006 084 36, merci.", "1 85 05 78 006 084 36", NIR),
    ("NIR 185057800608436", "185057800608436", NIR),
    ("NIR sans clé 2850578006084", "2850578006084", NIR),
    ("née en Corse : 2 90 12 2A 123 456 78", "2A 123 456 78", NIR),
    ("Appelez-la au 06 12 34 56 78.", "06 12 34 56 78", PHONE),
    ("fixe 01.23.45.67.89", "01.23.45.67.89", PHONE),
    ("portable 0612345678", "0612345678", PHONE),
    ("joignable au +33 6 12 34 56 78", "+33 6 12 34 56 78", PHONE),
    ("ou au +33612345678", "+33612345678", PHONE),
    ("écrire à jean.dupont@cd44.fr demain", "jean.dupont@cd44.fr", EMAIL),
    ("RIB : FR76 3000 6000 0112 3456 7890 189", "FR76 3000 6000 0112 3456 7890 189", IBAN),
    ("IBAN FR7630006000011234567890189", "FR7630006000011234567890189", IBAN),
    ("IBAN : DE89 3704 0044 0532 0130 00", "DE89 3704 0044 0532 0130 00", IBAN),
    ("Il habite 12 rue de la République, à Nantes.", "12 rue de la République", ADDRESS),
    ("au 3 bis avenue Jean Jaurès", "3 bis avenue Jean Jaurès", ADDRESS),
    ("au 5, place du Général de Gaulle", "place du Général de Gaulle", ADDRESS),
    ("14 chemin des vignes", "14 chemin des vignes", ADDRESS),
    ("8 allée des Tilleuls", "8 allée des Tilleuls", ADDRESS),
    ("7 rue d'Italie", "7 rue d'Italie", ADDRESS),
    ("10 boulevard du 8 Mai 1945", "10 boulevard du 8 Mai 1945", ADDRESS),
    ("domicilié 75011 Paris depuis mars", "75011 Paris", TOWN),
    ("13100 Aix-en-Provence Cedex", "13100 Aix-en-Provence", TOWN),
    ("33000 Bordeaux", "33000 Bordeaux", TOWN),
])
def test_personal_data_is_masked(text, secret, placeholder):
    out = redact(text)
    assert secret not in out and placeholder in out, out


@pytest.mark.parametrize("text", [
    "Le budget est de 1 234 567 € en 2023.",
    "135 millions d'euros en 2019, porté à 210 millions en 2022.",
    "Les 100 départements, 3 500 000 personnes, 26% des SDF, 75 ans.",
    "2 places en crèche, 1 route vers l'emploi, 3 cours de français.",
    "Article L. 262-1 du code de l'action sociale ; décret n° 2023-1234 du 12 mai 2023.",
    "Du 01/01/2024 au 31/12/2025, 14 000 emplois et 0,5 % du PIB.",
    "10000 bénéficiaires, 20000 Euros, 10000 Bénéficiaires.",
    "Le RSA (revenu de solidarité active) est versé par la CAF.",
    "Appel à projets 2024-2027 : 50 000 solutions d'ici 2030.",
    "",
])
def test_ordinary_text_is_unchanged(text):
    assert redact(text) == text


def test_an_address_stops_at_the_end_of_the_street_name():
    out = redact("Il vit 12 rue Victor Hugo et touche le RSA depuis 2021.")
    assert out == f"Il vit {ADDRESS} et touche le RSA depuis 2021."


def test_nested_values_and_logs_are_redacted(caplog):
    value = {"question": "mail a.b@c.fr", "items": ["06 12 34 56 78", 2019], "n": 3}
    assert redact_obj(value) == {"question": f"mail {EMAIL}", "items": [PHONE, 2019], "n": 3}

    logger = logging.getLogger("test.privacy")
    handler = logging.Handler()
    seen = []
    handler.emit = lambda record: seen.append(record.getMessage())
    handler.addFilter(RedactingFilter())
    logger.addHandler(handler)
    try:
        logger.warning("question : %s", "NIR 1 85 05 78 006 084 36")
    finally:
        logger.removeHandler(handler)
    assert seen == [f"question : NIR {NIR}"]


@pytest.mark.parametrize("question, asks", [
    ("Donne-moi l'adresse et le numéro de téléphone de Mme Dupont, allocataire du RSA.", True),
    ("Quel est le portable de M. Martin ?", True),
    ("What is Mrs Smith's address?", True),
    ("Quelles sont les coordonnées de Monsieur Durand, suivi à la MDS ?", True),
    ("Quel est le rôle de M. Bierry dans la stratégie pauvreté ?", False),  # a role, not a detail
    ("Quelle est l'adresse de la MDPH ?", False),  # a body, not a person
    ("Combien de Départements ont signé une convention ?", False),
    # The people a scheme serves, as a group: their names or details are personal data too.
    ("Donne les noms, dates de naissance et adresses actuelles des 40 familles relogées.", True),
    ("Liste les numéros de téléphone de ces jeunes majeurs accompagnés.", True),
    ("Quelle est l'adresse de la Maison des femmes de Saint-Denis ?", False),  # a place, not the women
    ("Quels sont les noms des Départements démonstrateurs ?", False),
    ("Quel est le nom du dispositif pour les jeunes majeurs ?", False),
])
def test_requests_for_a_named_person_s_details_are_recognised(question, asks):
    assert asks_personal_data(question) is asks
