"""Where the project's own ontology, shapes, data and competency questions live."""

from __future__ import annotations

from pathlib import Path

from kb.namespaces import ONTOLOGY_GRAPH

ROOT = Path(__file__).resolve().parent.parent
_INSTALLED = Path(__file__).resolve().parent / "ontology"  # in a wheel (see pyproject.toml)
ONTOLOGY_DIR = _INSTALLED if _INSTALLED.is_dir() else ROOT / "ontology"
ONTOLOGY_FILE = ONTOLOGY_DIR / "medsupply.ttl"
SHAPES_FILE = ONTOLOGY_DIR / "shapes.ttl"
CONTEXT_FILE = ONTOLOGY_DIR / "context.jsonld"
COMPETENCY_DIR = ONTOLOGY_DIR / "competency"
DATA_DIR = ROOT / "data"


def load_bundled(kb, **options: object):
    """Load the ontology (into its own graph) and data/ (TriG: graphs kept) into ``kb``.
    Unchanged files are skipped. Returns the two load reports."""
    ontology = kb.load([ONTOLOGY_FILE], graph=str(ONTOLOGY_GRAPH), **options)
    data = kb.load([DATA_DIR], **options)
    return ontology, data
