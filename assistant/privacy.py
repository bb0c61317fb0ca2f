"""Privacy: mask personal data before anything is stored or logged.

Staff are told not to type personal data about beneficiaries, but some will paste a
case anyway. Whatever the feedback store writes and whatever the web app logs goes
through `redact()` first: social security numbers (NIR), phone numbers, e-mail
addresses, IBANs and postal addresses become a visible placeholder. Amounts
("1 234 567 €"), years and article numbers are left alone.
"""

from __future__ import annotations

import logging
import re

NIR = "[NIR masqué]"
PHONE = "[téléphone masqué]"
EMAIL = "[e-mail masqué]"
IBAN = "[IBAN masqué]"
ADDRESS = "[adresse masquée]"
TOWN = "[code postal et commune masqués]"

_SEP = r"[ .\-]?"
# Sex digit, birth year, month (01-12, or 20+ for unknown), department (2A/2B), commune, order, key.
_NIR = re.compile(
    r"(?<![\w])[1-478] ?\d{2} ?(?:0[1-9]|1[0-2]|[2-9]\d) ?(?:\d{2}|2[ABab]) ?\d{3} ?\d{3}(?: ?\d{2})?(?![\w])"
)
_PHONE = re.compile(
    r"(?<![\w+])(?:(?:\+|00) ?33 ?(?:\(0\) ?)?|0)[1-9](?:" + _SEP + r"\d{2}){4}(?![\w])"
)
_EMAIL = re.compile(r"[\w.+\-']+@[\w\-]+(?:\.[\w\-]+)+", re.UNICODE)
_IBAN_FR = re.compile(r"(?<![\w])FR ?\d{2}(?: ?[A-Z0-9]{4}){5} ?[A-Z0-9]{3}(?![\w])", re.IGNORECASE)
# Any country's IBAN when it is labelled as one.
_IBAN_LABELLED = re.compile(r"(?i)(\bIBAN\s*:?\s*)([A-Z]{2} ?\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?)(?![\w])")

_PARTICLE = r"(?:de|du|des|la|le|les|à|au|aux|sur|sous|en|et)\b"
_WORD = r"[A-Za-zÀ-ÖØ-öø-ÿ][\wÀ-ÖØ-öø-ÿ'’\-]*"
_CAPWORD = r"(?:[dlDL]['’])?[A-ZÀ-ÖØ-Ý][\wÀ-ÖØ-öø-ÿ'’\-]*"
_NAMEWORD = r"(?:[dlDL]['’])?" + _WORD
# After the first word of a name, more words only when capitalised or numbers ("du 8 Mai 1945"),
# so "12 rue Victor Hugo et il touche le RSA" stops after "Hugo".
_MORE = r"(?: +(?:" + _PARTICLE + r" +)*(?:" + _CAPWORD + r"|\d{1,4}\b))*"
# Street types that are only street types: any name may follow ("chemin des vignes").
_STREET = r"(?:rue|avenue|av\.|bd|boulevard|chemin|all[ée]e|impasse|quai|square|faubourg|rond-point|lotissement|hameau|lieu-dit)"
# Common nouns that are also street types ("2 places en crèche"): a capitalised name must follow.
_STREET_NOUN = r"(?:place|cours|route|passage|voie|cité|résidence|sentier|parvis|esplanade|promenade)"
_NUMBER = r"(?<![\w,.])\d{1,4}(?: ?(?:bis|ter|quater|[abt])\b)?,? +"
_ADDRESS = re.compile(
    _NUMBER + r"(?:"
    + r"(?i:" + _STREET + r")\b(?: +(?i:" + _PARTICLE + r"))* +(?:" + _NAMEWORD + r"|\d{1,4}\b)" + _MORE
    + r"|(?i:" + _STREET_NOUN + r")\b(?: +(?i:" + _PARTICLE + r"))* +" + _CAPWORD + _MORE
    + r")"
)
# "20000 Euros", "10000 Bénéficiaires": counts, not a postcode and a town.
_NOT_UNIT = (r"(?!(?i:euros?|eur|k€|m€|personnes|habitants|bénéficiaires|allocataires|places|emplois|agents"
             r"|enfants|jeunes|familles|logements|ménages|salariés|départements|communes|heures|jours|ans)\b)")
# 5-digit postcode (01-95, 97x overseas; Corsica is written 20xxx) then a capitalised town.
_TOWN = re.compile(
    r"(?<![\d\w])(?<!\d )(?:0[1-9]|[1-8]\d|9[0-5]|97)\d{3} +" + _NOT_UNIT + _CAPWORD
    + r"(?: +(?:(?i:" + _PARTICLE + r") +)*" + _CAPWORD + r")*(?: +(?i:cedex)(?: +\d{1,2})?)?"
)


# A request for a named person's contact or identity details ("l'adresse de Mme Dupont"): the
# corpus holds policy documents, never beneficiaries' files, and the assistant never looks for them.
_PERSON = re.compile(r"\b(?i:m|mme|mlle|mr|mrs|ms|monsieur|madame|mademoiselle)\b\.?\s+" + _CAPWORD)
_DETAILS = (r"adresses?|t[ée]l[ée]phones?|portable|coordonn[ée]es|e-?mails?|courriels?|dates? de naissance|"
            r"num[ée]ros? de s[ée]curit[ée] sociale|NIR|IBAN|RIB|address|phone")
_PERSONAL_DETAIL = re.compile(r"\b(?:" + _DETAILS + r")\b", re.IGNORECASE)


# The same details, or names, of the people a scheme serves ("les noms et adresses des 122 femmes
# relogées"), not of a body ("l'adresse de la Maison des femmes").
_PEOPLE = (r"(?:allocataires?|b[ée]n[ée]ficiaires?|usagers?|femmes|hommes|enfants|jeunes|mineurs|personnes|"
           r"victimes|familles|parents|m[ée]nages|r[ée]sidents?|patients?|aidants?|demandeurs?|salari[ée]s|habitants)")
# A group's names count too (« les noms des allocataires »); adjectives may follow a detail
# (« adresses actuelles ») and one word may come before the people (« des différents jeunes »).
_DETAIL = (r"(?:noms?|pr[ée]noms?|identit[ée]s?|" + _DETAILS + r")"
           r"(?:\s+(?:actuel|complet|personnel|exact|pr[ée]cis|postal|[ée]lectronique|priv[ée])\w*)*")
_GROUP_DETAIL = re.compile(
    r"(?i:\b" + _DETAIL + r"(?:\s*(?:,|\bet\b|\bou\b)\s*" + _DETAIL + r")*"
    r"\s+(?:des|de ces|de ses|de leurs|du|de la|de l['’]|d['’])\s*(?:\d[\d \u00a0\u202f]*\s+)?)"
    r"(?:[a-zà-ÿ'’-]+\s+)?(?i:" + _PEOPLE + r")\b")


def asks_personal_data(question: str) -> bool:
    """Whether a question asks for a named person's, or a group of people's, contact or identity details."""
    return bool(_PERSON.search(question) and _PERSONAL_DETAIL.search(question) or _GROUP_DETAIL.search(question))


def redact(text: str) -> str:
    """The text with personal data replaced by placeholders; other text unchanged."""
    if not text:
        return text
    out = _EMAIL.sub(EMAIL, text)
    out = _IBAN_FR.sub(IBAN, out)
    out = _IBAN_LABELLED.sub(lambda m: m.group(1) + IBAN, out)
    out = _NIR.sub(NIR, out)
    out = _PHONE.sub(PHONE, out)
    out = _ADDRESS.sub(ADDRESS, out)
    out = _TOWN.sub(TOWN, out)
    return out


def redact_obj(value):
    """Every string inside a JSON-like value, redacted (dict keys are left as they are)."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: redact_obj(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact_obj(v) for v in value]
    return value


class RedactingFilter(logging.Filter):
    """A log handler filter: the formatted message is redacted before it is written."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string must not lose the record
            message = str(record.msg)
        record.msg, record.args = redact(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True
