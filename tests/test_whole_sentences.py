"""The whole-sentence check of evals/whole_sentences.py (#19): what counts as a cut sentence."""

from evals.whole_sentences import ends_mid, starts_mid


def test_a_sentence_cut_at_either_end_is_caught():
    assert starts_mid("hapy.entraidonsnous.fr, a été mise en place pendant le confinement.")
    assert starts_mid("dans le Gers (32) pour la distribution des masques.")
    assert ends_mid("La préservation des ressources humaines disponibles au niveau départemental dans les services "
                    "de l'Etat est une condition de son")  # the passage ends here: the chunk cut it
    assert ends_mid("Il regroupe plus de vingt-cinq mesures concrètes, réunies en quatre axes prioritaires qui "
                    "concernent principalement les Départements La prévention de la pauvreté dès l'enfance")


def test_whole_sentences_list_items_and_headings_pass():
    assert not starts_mid("Le fonds de contractualisation atteint 135 millions d'euros en 2019.")
    assert not starts_mid("« Les Départements sont les chefs de file de l'action sociale. »")
    assert not starts_mid("• la prévention de la pauvreté dès l'enfance")
    assert not ends_mid("Il se décline en 4 axes :")
    assert not ends_mid("• l'accès à l'emploi")  # a list line: short, under its announcing sentence
    assert not ends_mid("Le Pacte des solidarités (2023) vise quatre axes (voir ci-dessous).")
