"""The page of a view: pyvis's ``Network`` of the nodes drawn at first, vis-network's
options, our template (``kb/viz/assets/page.html``) and the Content-Security-Policy that
allows exactly its fixed scripts and styles.

vis-network 9.1.2 comes from the pyvis package (Apache-2.0 / MIT) and is inlined; nothing is
loaded from another host.
"""

from __future__ import annotations

import base64
import hashlib
import json
from functools import cache
from importlib import resources
from pathlib import Path

ASSETS = Path(__file__).parent / "assets"


@cache
def _vis_assets() -> tuple[str, str]:
    """vis-network's script and stylesheet, from the pyvis package."""
    try:
        lib = resources.files("pyvis") / "lib" / "vis-9.1.2"
    except ModuleNotFoundError as e:  # pragma: no cover - pyvis is a dependency
        raise ImportError("kb.viz needs pyvis (pip install pyvis)") from e
    return ((lib / "vis-network.min.js").read_text("utf-8"),
            (lib / "vis-network.css").read_text("utf-8"))


@cache
def _page_parts() -> dict[str, str]:
    js, css = _vis_assets()
    return {"vis_js": js, "vis_css": css,
            "app_js": (ASSETS / "view.js").read_text("utf-8"),
            "app_css": (ASSETS / "view.css").read_text("utf-8")}


def _sha256(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


@cache
def content_security_policy(*, meta: bool = False) -> str:
    """The Content-Security-Policy of the view pages: nothing from anywhere, except the page's
    own (fixed) scripts and styles, allowed by hash, and vis-network's inline images.
    ``meta`` leaves out what a ``<meta>`` policy may not hold (frame-ancestors)."""
    parts = _page_parts()
    scripts = f"{_sha256(parts['vis_js'])} {_sha256(parts['app_js'])}"
    styles = _sha256(parts["vis_css"] + parts["app_css"])
    policy = (f"default-src 'none'; script-src {scripts}; style-src {styles}; img-src data:; "
              "base-uri 'none'; form-action 'none'; object-src 'none'")
    return policy if meta else policy + "; frame-ancestors 'none'"



def network(title: str, nodes: list[dict[str, object]], edges: list[dict[str, object]],
             options: dict[str, object]):
    """pyvis's Network of the nodes and edges drawn at first, rendered by our template.

    pyvis's ``add_nodes`` and ``add_edge`` each scan its list of node ids (``add_edges`` is a
    loop over ``add_edge`` that carries only a width, so labels need ``add_edge``). Measured
    (bench/viz.py, the CN projection of 8,569 nodes on 200k triples): 0.004 s at the 300-node
    cap, 0.1 s at 2,000 (of a 0.6 s page); 2,000 densely linked nodes (6,000 edges) 0.6 s.
    Only the drawn nodes (at most ``max_nodes``) go through it, never the folded ones.
    """
    from markupsafe import Markup
    from pyvis.network import Network

    net = Network(directed=True, heading=title, cdn_resources="in_line")
    ids = [n["id"] for n in nodes]
    net.add_nodes(ids, **{k: [n.get(k) for n in nodes]
                          for k in ("label", "title", "value", "color")})
    for n in nodes:  # what add_nodes does not take: vis-network's own and ours, for the script
        node = net.get_node(n["id"])
        node.update({k: v for k, v in n.items() if k not in NODE_ARGS})
        if "label" not in n:  # shown on hover only (pyvis labels a node by its id by default)
            del node["label"]
    for e in edges:
        net.add_edge(e["from"], e["to"], **{k: v for k, v in e.items() if k not in ("from", "to")})
    net.set_options(json.dumps(options))
    # our template, in pyvis's own hook; its environment is pyvis's (one per Network, no
    # autoescape: the template turns autoescape on for the whole page). vis-network comes
    # from pyvis's package, inline ("in_line"), passed in already read: pyvis's template
    # ``{% include %}``s it, which compiles its 470 KB as a template for every Network
    # (0.25 s a page, measured)
    net.set_template_dir(str(ASSETS) + "/", "page.html")
    parts = _page_parts()
    net.templateEnv.policies["json.dumps_kwargs"] = {"ensure_ascii": False,
                                                     "separators": (",", ":")}
    net.templateEnv.globals.update(
        csp=content_security_policy(meta=True), vis_js=Markup(parts["vis_js"]),
        app_js=Markup(parts["app_js"]), styles=Markup(parts["vis_css"] + parts["app_css"]))
    return net


#: What pyvis's ``add_nodes`` takes; the rest of a node's data is set on it after.
NODE_ARGS = frozenset({"id", "label", "title", "value", "color"})


def options(n_nodes: int, physics: bool, weighted: bool,
            groups: dict[str, str] | None = None) -> dict[str, object]:
    """vis-network's options (no spaces in any string: pyvis's ``set_options`` drops them).

    ``groups``: class -> colour, vis-network's groups (each node names its class as its
    group). The layout keeps nodes apart (``avoidOverlap``) and pushes harder on a large
    page, so that the hubs, each with its cluster nodes around it, stand apart."""
    large = n_nodes > 60
    return {
        "physics": {
            "enabled": physics,
            "solver": "forceAtlas2Based",
            "forceAtlas2Based": {"gravitationalConstant": -110 if large else -60,
                                 "springLength": 140 if large else 110,
                                 "avoidOverlap": 0.6 if large else 0.2},
            "stabilization": {"enabled": physics, "iterations": 250 if n_nodes > 150 else 400,
                              "updateInterval": 50, "fit": True},
            "minVelocity": 1.0,
        },
        "edges": {"arrows": {"to": {"enabled": True, "scaleFactor": 0.5}},
                  "smooth": {"enabled": True, "type": "continuous", "roundness": 0.2},
                  "font": {"size": 10, "align": "middle", "color": "#444"},
                  "color": {"color": "#9aa5b1", "highlight": "#333"},
                  **({"scaling": {"min": 1, "max": 14, "label": {"enabled": False}}}
                     if weighted else {})},
        "nodes": {"shape": "dot", "scaling": {"min": 8, "max": 36, "label": {"enabled": False}},
                  "font": {"size": 12, "face": "sans-serif"}},
        "interaction": {"hover": True, "tooltipDelay": 150, "hideEdgesOnDrag": n_nodes > 150,
                        "navigationButtons": False, "keyboard": False},
        "layout": {"improvedLayout": n_nodes <= 100, "randomSeed": 7},
        "configure": {"enabled": False},
        "groups": {key: {"color": colour} for key, colour in (groups or {}).items()},
    }

