"""The knowledge base's incident table as CSV, in the columns the ``incidents`` mapping reads.

``kb export-incidents -o incidents.csv``, edit it, ``kb import incidents.csv --mapping
incidents``: the import states again, in the table's graph, what the table holds, so only the
edited cells add facts (the knowledge base's set union already holds the others). Several
values in a cell are separated by ``|``; entities are written with the KB's prefixes
(``country:NL``, ``product:face-mask``), which the import resolves exactly. ``reply`` (China's
answer: the statements that respond to the incident) is shown, not imported.
"""

from __future__ import annotations

import csv
from typing import IO

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
  ?i a/rdfs:subClassOf* ms:QualityIncident .
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
  OPTIONAL { ?s ms:respondsTo ?i ; ms:quotation ?words FILTER(LANGMATCHES(LANG(?words), "en")) }
  OPTIONAL { ?i prov:wasDerivedFrom ?source }
}
GROUP BY ?i ORDER BY ?i"""


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


def export_incidents(kb, out: IO[str]) -> int:
    """Write the incident table as CSV to ``out``; returns the number of incidents."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    n = 0
    for row in kb.select(INCIDENTS):
        def cell(name: str, row: dict = row) -> str:
            return str(row[name]) if name in row else ""

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
