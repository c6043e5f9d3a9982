"""The incident table as CSV: one table and one writer, for ``/incidents.csv`` (the page's
CSV twin, with its ``country`` and ``product`` filters) and ``kb export-incidents``.

Its columns are the ones the ``incidents`` mapping reads, so the table makes the round trip:
download or export it, edit it, ``kb import incidents.csv --mapping incidents``; the import
states again, in the table's graph, what the table holds, so only the edited cells add facts
(the knowledge base's set union already holds the others). A person reads it too: one line
per incident, earliest first; several values in a cell separated by `` | ``; dates as ISO days
(``2020-03-28``) or spans (``2020-03-21/2020-03-31``) with their precision; entities with the
KB's prefixes (``country:NL``, ``product:face-mask``: exact, which the import resolves as
they are); ``reply`` (the statements that respond to the incident, China's among them, each
``speaker: words``) is shown, not imported.
"""

from __future__ import annotations

import csv
from typing import IO

from kb.browse import string_rows
from kb.incidents import FILTERS, filter_bindings, incident_classes
from kb.namespaces import PREFIXES, sparql_prefixes

COLUMNS = ["iri", "label", "kind", "date", "date_precision", "country", "product", "quantity",
           "problem", "standard", "manufacturer", "reply", "source"]

INCIDENTS = sparql_prefixes() + """
SELECT ?i
  (GROUP_CONCAT(DISTINCT ?label; SEPARATOR=" | ") AS ?labels)
  (GROUP_CONCAT(DISTINCT ?kind; SEPARATOR=" | ") AS ?kinds)
  (SAMPLE(?day) AS ?date) (SAMPLE(?first) AS ?earliest) (SAMPLE(?last) AS ?latest)
  (SAMPLE(?precision) AS ?prec)
  (GROUP_CONCAT(DISTINCT STR(?country); SEPARATOR=" | ") AS ?countries)
  (GROUP_CONCAT(DISTINCT STR(?product); SEPARATOR=" | ") AS ?products)
  (GROUP_CONCAT(DISTINCT STR(?quantity); SEPARATOR=" | ") AS ?quantities)
  (GROUP_CONCAT(DISTINCT ?reason; SEPARATOR=" | ") AS ?problems)
  (GROUP_CONCAT(DISTINCT STR(?standard); SEPARATOR=" | ") AS ?standards)
  (GROUP_CONCAT(DISTINCT STR(?maker); SEPARATOR=" | ") AS ?makers)
  (GROUP_CONCAT(DISTINCT ?words; SEPARATOR=" | ") AS ?replies)
  (GROUP_CONCAT(DISTINCT STR(?source); SEPARATOR=" | ") AS ?sources)
WHERE {
  VALUES ?t { {classes} } ?i a ?t .
  {filters}
  OPTIONAL { ?i rdfs:label ?label FILTER(LANGMATCHES(LANG(?label), "en")) }
  OPTIONAL { ?i a ?k FILTER(STRSTARTS(STR(?k), STR(ms:))) BIND(STRAFTER(STR(?k), "#") AS ?kind) }
  OPTIONAL { ?i ms:date ?day }
  OPTIONAL { ?i ms:dateEarliest ?first }
  OPTIONAL { ?i ms:dateLatest ?last }
  OPTIONAL { ?i ms:datePrecision ?precision }
  OPTIONAL { ?i ms:actorCountry ?country }
  OPTIONAL { ?i ms:productCategory ?product }
  OPTIONAL { ?i ms:affectedQuantity ?quantity }
  OPTIONAL { ?i ms:reason ?reason FILTER(LANGMATCHES(LANG(?reason), "en")) }
  OPTIONAL { ?i ms:standardNotMet ?standard }
  OPTIONAL { ?i ms:manufacturer ?maker }
  OPTIONAL { ?s ms:respondsTo ?i ; ms:quotation ?said FILTER(LANGMATCHES(LANG(?said), "en"))
             OPTIONAL { ?s ms:speaker/rdfs:label ?who FILTER(LANGMATCHES(LANG(?who), "en")) }
             BIND(IF(BOUND(?who), CONCAT(STR(?who), ": ", STR(?said)), STR(?said)) AS ?words) }
  OPTIONAL { ?i prov:wasDerivedFrom ?source }
}
GROUP BY ?i ORDER BY (COALESCE(STR(?date), STR(?earliest), "9999")) ?i"""


def _short(text: str) -> str:
    """An IRI with the KB's prefix (``country:NL``), each of several values.

    >>> _short("https://w3id.org/medsupply-kb/id/country/NL | x")
    'country:NL | x'
    """
    out = []
    for value in text.split(" | ") if text else []:
        for prefix in ("country", "product", "standard", "agent", "source"):
            if value.startswith(PREFIXES[prefix]):
                value = f"{prefix}:{value[len(PREFIXES[prefix]):]}"
                break
        out.append(value)
    return " | ".join(out)


def export_incidents(kb, out: IO[str], *, country: str | None = None,
                     product: str | None = None) -> int:
    """Write the incident table as CSV to ``out``, optionally only the incidents of a
    ``country`` (the actor's) or a ``product`` (or a narrower one), as the page filters them
    (IRIs or short names such as ``country:NL``); returns the number of incidents.

    Raises:
        InvalidParameter: a filter that is not an IRI or short name.
    """
    filters, bindings = filter_bindings(country, product)
    query = (INCIDENTS.replace("{classes}", incident_classes(kb))
             .replace("{filters}", "\n  ".join(FILTERS[k] for k in filters)))
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    n = 0
    for row in string_rows(kb, query, bindings):
        def cell(name: str, row: dict = row) -> str:
            return row.get(name) or ""

        if cell("date"):
            date, precision = cell("date"), "day"
        elif cell("earliest"):
            date, precision = f"{cell('earliest')}/{cell('latest')}", cell("prec") or "days"
        else:
            date, precision = "", ""
        kinds = " | ".join(k for k in cell("kinds").split(" | ") if k) or "QualityIncident"
        writer.writerow([cell("i"), cell("labels"), kinds, date, precision,
                         _short(cell("countries")), _short(cell("products")),
                         cell("quantities"), cell("problems"), _short(cell("standards")),
                         _short(cell("makers")), cell("replies"), _short(cell("sources"))])
        n += 1
    return n
