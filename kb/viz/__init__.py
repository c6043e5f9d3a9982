"""Interactive relationship graphs: projections of the store drawn as self-contained HTML pages.

Every function returns the page as a string; nothing here writes files, copies assets into
the working directory or opens a browser (the CLI and the API decide where a page goes).

The pages are built from a networkx graph (``render``) by pyvis: a ``Network`` of the nodes
and edges drawn at first (``add_nodes``, ``add_edge``), vis-network's options through
``set_options``, and the page from ``generate_html`` with our template
(``kb/viz/assets/page.html``, set with ``set_template_dir``; it autoescapes) and
``cdn_resources="in_line"``: vis-network 9.1.2 (from the pyvis package, Apache-2.0 / MIT) is
inlined, nothing is loaded from another host. Every label, tooltip and IRI reaches the page as
JSON data (``<``, ``>``, ``&`` and ``'`` escaped) read by a fixed script (``view.js``) that
only ever writes text into the DOM; the nodes folded away travel beside pyvis's network in
the same form. Tooltips are plain text (vis-network sets them with ``innerText``); pyvis's
``innerHTML`` tooltip path is never used. The page's scripts and styles are fixed, so
``CSP`` allows exactly them by hash.

A page never draws more than ``max_nodes`` nodes (default 300): the least central neighbours
fold into "N more" nodes that expand on click; physics stops once the layout has settled.

>>> import networkx as nx
>>> page = render(nx.MultiDiGraph([("urn:a", "urn:b")]), title="<b>x</b>")
>>> "<b>x</b>" in page, "&lt;b&gt;x&lt;/b&gt;" in page
(False, True)

The package: ``page`` (pyvis's Network, the template, the policy), ``fold`` (what is drawn at
first, the "more" and cluster nodes), ``drawing`` (``render``: any networkx graph as a page),
``views`` (the views of the store); the neighbourhood an entity view draws is
``kb.neighbourhood``'s, the same the ego report lists.
"""

from __future__ import annotations

from kb.neighbourhood import DEFAULT_MAX_NODES, MAX_DEPTH, neighbourhood
from kb.viz.drawing import render
from kb.viz.page import ASSETS, content_security_policy
from kb.viz.views import (
    MAX_QUERY_TRIPLES,
    entity_view,
    flows_view,
    ontology_view,
    path_view,
    query_view,
)

__all__ = ["ASSETS", "DEFAULT_MAX_NODES", "MAX_DEPTH", "MAX_QUERY_TRIPLES",
           "content_security_policy", "entity_view", "flows_view", "neighbourhood",
           "ontology_view", "path_view", "query_view", "render"]
