"""Names in users' tables resolved to the entities of the knowledge base, never guessed.

A name resolves when it is exactly (ignoring case, spaces and punctuation) one entity's label,
alternative label, code or IRI: countries by name, ISO 3166 code or the names pycountry knows
(official and common names, numeric codes) plus the KB's own labels and ``skos:altLabel``;
products by HS code (``630790`` or ``6307.90``: the broadest category with that code) or
name; organisations, people and standards by label and alternative names; sources by IRI or
``schema:url``. A name that matches nothing, or several entities, raises ``ResolveFailed``
with the closest candidates (rapidfuzz). With ``create``, an unknown organisation, person or
standard is minted once, under a deterministic IRI (its name, slugged); a source is minted from
its URL.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass, field

import pycountry
from rapidfuzz import fuzz, process

from kb.namespaces import PREFIXES, sparql_prefixes
from kb.tabular import ResolveFailed

#: kind -> (namespace of its IRIs, the classes whose members it resolves to)
KINDS = {
    "country": (PREFIXES["country"], "ms:Country ms:StateUnion"),
    "product": (PREFIXES["product"], "ms:ProductCategory"),
    "organization": (PREFIXES["agent"], "ms:Organization ms:GovernmentAgency ms:Manufacturer "
                                        "ms:Distributor ms:MediaOrganization"),
    "person": (PREFIXES["person"], "ms:Person"),
    "standard": (PREFIXES["standard"], "ms:Standard ms:Certification ms:Registration"),
    "source": (PREFIXES["source"], "ms:SourceDocument"),
}
#: kinds an import may mint (``--create``); countries, products and units are reference data
CREATABLE = {"organization": "ms:Organization", "person": "ms:Person", "standard": "ms:Standard"}

#: units a quantity may have: what tables write -> the QUDT unit's local name
UNITS = {"u": "NUM", "number of items": "NUM", "items": "NUM", "item": "NUM", "pieces": "NUM",
         "pcs": "NUM", "num": "NUM", "units": "NUM", "kg": "KiloGM",
         "weight in kilograms": "KiloGM", "kilograms": "KiloGM", "kilogram": "KiloGM",
         "kilogm": "KiloGM", "pairs": "PAIR", "pair": "PAIR", "number of pairs": "PAIR"}
#: country names tables use that neither pycountry nor the KB spells
COUNTRY_VARIANTS = {"usa": "US", "us": "US", "united states": "US", "uk": "GB",
                    "great britain": "GB", "britain": "GB", "south korea": "KR",
                    "rep of korea": "KR", "korea": "KR", "russia": "RU", "hong kong": "HK",
                    "china hong kong sar": "HK", "china macao sar": "MO", "czech republic": "CZ",
                    "vietnam": "VN", "the netherlands": "NL", "holland": "NL", "iran": "IR",
                    "turkey": "TR", "eu": "EU", "european union": "EU"}

INDEX = sparql_prefixes() + """
SELECT DISTINCT ?s ?p ?name WHERE {{
  VALUES ?class {{ {classes} }}
  VALUES ?p {{ rdfs:label skos:prefLabel skos:altLabel skos:notation ms:iso3166Alpha2
              ms:iso3166Alpha3 schema:url dcterms:title }}
  ?s a ?class ; ?p ?n .
  BIND(STR(?n) AS ?name)
}}"""
BROADER = sparql_prefixes() + "SELECT ?s ?b WHERE { ?s a ms:ProductCategory ; skos:broader ?b }"
LABEL = PREFIXES["rdfs"] + "label"


def norm(text: str) -> str:
    """A name for comparison: case, accents, spaces and punctuation ignored.

    >>> norm(" Côte d'Ivoire "), norm("6307.90")
    ('cotedivoire', '630790')
    """
    text = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in text if c.isalnum())


def slug(text: str) -> str:
    """A name as the last segment of a minted IRI.

    >>> slug("Shenzhen Bioeasy Biotechnology Co., Ltd.")
    'shenzhen-bioeasy-biotechnology-co-ltd'
    """
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z0-9]+", "-", text).strip("-") or hashlib.sha1(
        text.encode()).hexdigest()[:12]


@dataclass
class Resolver:
    """What each name resolves to, with what was matched, minted and left unresolved."""

    names: dict[str, dict[str, set[str]]]  # kind -> norm(name) -> keys
    labels: dict[str, dict[str, str]]  # kind -> key -> a label for people
    create: bool = False
    matched: dict[str, dict[str, str]] = field(default_factory=dict)  # kind -> text -> key
    created: dict[str, dict[str, str]] = field(default_factory=dict)  # kind -> key -> name
    unresolved: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    _cache: dict[tuple[str, str], str | ResolveFailed] = field(default_factory=dict)

    @classmethod
    def from_kb(cls, kb, *, create: bool = False) -> Resolver:
        names: dict[str, dict[str, set[str]]] = {}
        labels: dict[str, dict[str, str]] = {}
        for kind, (namespace, classes) in KINDS.items():
            index, shown = names.setdefault(kind, {}), labels.setdefault(kind, {})
            for row in kb.select(INDEX.format(classes=classes)):
                iri, name = str(row["s"]), str(row["name"])
                if not iri.startswith(namespace):
                    continue
                key = iri[len(namespace):]
                for variant in (name, key, iri, f"{kind}:{key}"):
                    index.setdefault(norm(variant), set()).add(key)
                if str(row["p"]) == LABEL or key not in shown:
                    shown[key] = name
        for prefix in ("product", "standard", "source", "person", "agent", "country"):
            kind = {"agent": "organization"}.get(prefix, prefix)
            for k in list(labels.get(kind, {})):
                names[kind].setdefault(norm(f"{prefix}:{k}"), set()).add(k)
        _add_hs_codes(kb, names["product"])
        _add_pycountry(names["country"])
        return cls(names, labels, create)

    def __call__(self, kind: str, text: str) -> str:
        cached = self._cache.get((kind, text))
        if cached is None:
            try:
                cached = self._resolve(kind, text)
                if text not in self.created.get(kind, {}).values():
                    self.matched.setdefault(kind, {})[text] = cached
            except ResolveFailed as e:
                cached = e
                self.unresolved.setdefault(kind, {})[text] = e.candidates
            self._cache[(kind, text)] = cached
        if isinstance(cached, ResolveFailed):
            raise cached
        return cached

    def _resolve(self, kind: str, text: str) -> str:
        if kind == "unit":
            unit = UNITS.get(text.strip().casefold())
            if unit is None:
                raise ResolveFailed(f"unit {text!r} is not one the ontology has; use one of "
                                    "u or 'Number of items' (a count), kg, pairs")
            return unit
        if kind == "currency":
            if pycountry.currencies.get(alpha_3=text.strip().upper()) is None:
                raise ResolveFailed(f"{text!r} is not an ISO 4217 currency code (e.g. USD, "
                                    "CNY, EUR)")
            return text.strip().upper()
        keys = self.names.get(kind, {}).get(norm(text), set())
        if kind == "product" and not keys and norm(text).endswith("s"):
            keys = self.names[kind].get(norm(text)[:-1], set())  # "masks" -> "mask"
        if len(keys) == 1:
            return next(iter(keys))
        if kind == "source" and not keys and re.match(r"https?://", text):
            key = "url-" + hashlib.sha256(text.encode()).hexdigest()[:16]
            self.created.setdefault(kind, {})[key] = text
            return key
        if not keys and self.create and kind in CREATABLE:
            key = slug(text)
            if key in self.labels.get(kind, {}) or key in self.created.get(kind, {}):
                raise ResolveFailed(f"{text!r} is not a known {kind}, and its IRI "
                                    f"{kind}:{key} is taken by another name")
            self.created.setdefault(kind, {})[key] = text
            self.names[kind].setdefault(norm(text), set()).add(key)
            return key
        if keys:
            shown = ", ".join(f"{self.labels[kind].get(k, k)} ({k})" for k in sorted(keys))
            raise ResolveFailed(f"{text!r} names several {kind} entities: {shown}; use the "
                                "code or IRI of one", sorted(keys))
        candidates = self.closest(kind, text)
        hint = "; add it as an alternative name (skos:altLabel) or fix the cell"
        if kind in CREATABLE:
            hint += ", or import with --create to add it"
        closest = f"; closest: {', '.join(candidates)}" if candidates else ""
        raise ResolveFailed(f"unknown {kind} {text!r}{closest}{hint}", candidates)

    def closest(self, kind: str, text: str, limit: int = 3) -> list[str]:
        choices = dict(self.labels.get(kind, {}))
        if not choices:
            return []
        found = process.extract(text, choices, scorer=fuzz.WRatio, limit=limit,
                                score_cutoff=60)
        return [f"{label} ({key})" for label, _score, key in found]


def _add_hs_codes(kb, index: dict[str, set[str]]) -> None:
    """An HS code names the broadest category that carries it."""
    broader = {str(r["s"]): str(r["b"]) for r in kb.select(BROADER)}
    ns = PREFIXES["product"]
    for code, keys in list(index.items()):
        if not (code.isdigit() and len(code) == 6) or len(keys) < 2:
            continue
        top = {k for k in keys if broader.get(ns + k, "").removeprefix(ns) not in keys}
        index[code] = top


def _add_pycountry(index: dict[str, set[str]]) -> None:
    known = {key for keys in index.values() for key in keys}
    for c in pycountry.countries:
        if c.alpha_2 not in known:
            continue
        for name in (c.name, getattr(c, "official_name", None),
                     getattr(c, "common_name", None), c.alpha_3, c.numeric):
            if name:
                index.setdefault(norm(name), set()).add(c.alpha_2)
    for name, code in COUNTRY_VARIANTS.items():
        if code in known:
            index.setdefault(norm(name), set()).add(code)
