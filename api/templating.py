"""The site's page chrome: the Jinja templates (autoescaped) and the security headers every
HTML page carries. Routers render pages through here, never through each other."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from fastapi.templating import Jinja2Templates
from rdflib import URIRef

from api.assets import asset
from kb.queries import render

templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
templates.env.filters["short"] = lambda iri: render(URIRef(iri))
templates.env.tests["safe_link"] = lambda iri: urlsplit(str(iri)).scheme in ("http", "https")
templates.env.globals["asset"] = asset

#: The policy of the site's own pages (the graph views have kb.viz's, which adds its script).
PAGE_CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")


def page_headers(csp: str = PAGE_CSP) -> dict[str, str]:
    """Security headers for an HTML page: nothing from another host, no framing."""
    return {"Content-Security-Policy": csp, "X-Content-Type-Options": "nosniff",
            "X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer"}
