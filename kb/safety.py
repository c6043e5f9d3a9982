"""Checks that run before untrusted text reaches a parser or the SPARQL engine.

pyoxigraph can be crashed (stack overflow, abort on a huge allocation) by some inputs and
makes HTTP requests of its own for ``SERVICE`` and ``LOAD``; neither can be stopped from
Python once started. So everything is checked here first:

* SPARQL text: size, nesting depth, ``\\u`` escapes outside strings, ``SERVICE`` and
  ``LOAD`` to hosts that are not allow-listed; the IRIs of ``FROM``/``USING`` clauses are
  returned so the store can check that they name local graphs.
* RDF/XML: an expat pre-flight that refuses external and parameter entities, nested entity
  definitions, entity expansion past a budget and very deep element nesting.
* JSON-LD: nesting depth, and remote ``@context`` documents (fetched only from allow-listed
  hosts, and then inlined before parsing).
"""

from __future__ import annotations

import json
import re
import xml.parsers.expat
from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from kb.errors import LoadError, QueryRefused

MAX_NESTING = 64
MAX_XML_DEPTH = 256
MAX_XML_ENTITIES = 200
MAX_JSON_DEPTH = 100

_IRI = re.compile(r"<([^<>\"{}|^`\\\x00-\x20]|\\u[0-9A-Fa-f]{4}|\\U[0-9A-Fa-f]{8})*>")
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_\-]*")
_PNAME = re.compile(r"([A-Za-z][\w\-.]*)?:([\w\-.%]*)")
_UCHAR = re.compile(r"\\u([0-9A-Fa-f]{4})|\\U([0-9A-Fa-f]{8})")


@dataclass
class SparqlScan:
    """What the lexical scan of a query or update found."""

    dataset_iris: list[str] = field(default_factory=list)  # FROM, FROM NAMED, USING, WITH
    from_graphs: list[str] = field(default_factory=list)  # FROM (the default graph's merge)
    from_named_graphs: list[str] = field(default_factory=list)  # FROM NAMED
    max_depth: int = 0


def _unescape(iri: str) -> str:
    return _UCHAR.sub(lambda m: chr(int(m.group(1) or m.group(2), 16)), iri)


def host_allowed(iri: str, allow_hosts: Iterable[str]) -> bool:
    """True when ``iri`` is an http(s) IRI whose host is in ``allow_hosts``."""
    parts = urlsplit(iri)
    return parts.scheme in ("http", "https") and (parts.hostname or "") in set(allow_hosts)


def check_sparql(
    text: str, *, max_bytes: int, allow_hosts: Iterable[str] = (), kind: str = "query"
) -> SparqlScan:
    """Scan SPARQL text and refuse what must not run.

    Raises:
        QueryRefused: the text is too long or too deeply nested, uses ``\\u`` escapes
            outside strings, or asks for ``SERVICE``/``LOAD`` to a host not allow-listed.

    >>> check_sparql("SELECT * FROM <urn:g> WHERE { ?s ?p 'SERVICE' }", max_bytes=100).dataset_iris
    ['urn:g']
    """
    size = len(text.encode("utf-8"))
    if size > max_bytes:
        raise QueryRefused(
            f"The {kind} is {size:,} bytes long; the limit is {max_bytes:,} bytes. "
            "Load bulk data with `kb load` (or the graph store) instead."
        )
    allow = tuple(allow_hosts)
    scan = SparqlScan()
    prefixes: dict[str, str] = {}
    tokens: list[tuple[str, str]] = []  # (kind, value) with kind in iri|word|pname|var|punct
    depth = 0
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c in " \t\r\n":
            i += 1
        elif c == "#":
            end = text.find("\n", i)
            i = n if end < 0 else end + 1
        elif c in "'\"":
            i = _skip_string(text, i)
        elif c == "<" and (m := _IRI.match(text, i)):
            tokens.append(("iri", _unescape(m.group(0)[1:-1])))
            i = m.end()
        elif c == "\\":
            raise QueryRefused(
                f"Escape sequence at character {i} outside a string or IRI: "
                "\\u escapes are only accepted inside strings and IRIs"
            )
        elif c in "?$":
            m = _WORD.match(text, i + 1)
            i = m.end() if m else i + 1
            tokens.append(("var", ""))
        elif c.isalpha() or c == "_" or c == ":":
            m = _PNAME.match(text, i)
            if m and m.group(0).count(":") and m.end() > i:
                tokens.append(("pname", m.group(0)))
                i = m.end()
            else:
                w = _WORD.match(text, i)
                if w is None:  # a letter beyond ASCII: part of a name, never a keyword
                    tokens.append(("punct", c))
                    i += 1
                    continue
                tokens.append(("word", w.group(0).upper()))
                i = w.end()
        elif c == "<" and text.startswith("<<", i) and not _IRI.match(text, i + 1):
            # a quoted triple (RDF-star): nests like a bracket, and pyoxigraph's parser
            # slows down sharply with its depth while holding the GIL
            depth += 1
            scan.max_depth = max(scan.max_depth, depth)
            if depth > MAX_NESTING:
                raise QueryRefused(
                    f"The {kind} nests quoted triples more than {MAX_NESTING} levels deep "
                    f"(at character {i}); flatten it"
                )
            tokens.append(("punct", "<<"))
            i += 2
        elif c == ">" and text.startswith(">>", i) and depth > 0:
            depth -= 1
            tokens.append(("punct", ">>"))
            i += 2
        else:
            if c in "({[":
                depth += 1
                scan.max_depth = max(scan.max_depth, depth)
                if depth > MAX_NESTING:
                    raise QueryRefused(
                        f"The {kind} nests brackets more than {MAX_NESTING} levels deep "
                        f"(at character {i}); flatten it"
                    )
            elif c in ")}]":
                depth -= 1
            tokens.append(("punct", c))
            i += 1

    def resolve(tok: tuple[str, str]) -> str | None:
        kind_, value = tok
        if kind_ == "iri":
            return value
        if kind_ == "pname":
            prefix, _, local = value.partition(":")
            return prefixes[prefix] + local if prefix in prefixes else None
        return None

    for k, (kind_, value) in enumerate(tokens):
        nxt = tokens[k + 1] if k + 1 < len(tokens) else ("", "")
        if kind_ == "word" and value == "PREFIX" and nxt[0] == "pname" and k + 2 < len(tokens):
            target = tokens[k + 2]
            if target[0] == "iri":
                prefixes[nxt[1].rstrip(":").split(":")[0]] = target[1]
        elif kind_ == "word" and value in ("SERVICE", "LOAD"):
            j = k + 1
            if j < len(tokens) and tokens[j] == ("word", "SILENT"):
                j += 1
            iri = resolve(tokens[j]) if j < len(tokens) else None
            if iri is None or not host_allowed(iri, allow):
                target = f"<{iri}>" if iri else "a variable or unknown IRI"
                raise QueryRefused(
                    f"{value} {target} is refused: this knowledge base makes no outbound "
                    "requests unless the host is allow-listed (KB_ALLOW_HOSTS / --allow-host)"
                )
        elif kind_ == "word" and value in ("FROM", "USING", "WITH"):
            j = k + 1
            named = j < len(tokens) and tokens[j] == ("word", "NAMED")
            j += named
            iri = resolve(tokens[j]) if j < len(tokens) else None
            if iri is not None:
                scan.dataset_iris.append(iri)
                if value == "FROM":
                    (scan.from_named_graphs if named else scan.from_graphs).append(iri)
    return scan


def mask_literals(text: str) -> str:
    """``text`` with the inside of strings, IRIs and comments blanked out (same length), so
    that keywords and brackets can be found by position.

    >>> mask_literals('SELECT * WHERE { ?s ?p "{x}" } # {')
    'SELECT * WHERE { ?s ?p "   " }    '
    """
    out = list(text)
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == "#":
            end = text.find("\n", i)
            end = n if end < 0 else end
            out[i:end] = " " * (end - i)
            i = end
        elif c in "'\"":
            end = _skip_string(text, i)
            quote = 3 if text.startswith(c * 3, i) else 1
            inner_end = max(i + quote, end - quote)
            out[i + quote:inner_end] = " " * (inner_end - i - quote)
            i = end
        elif c == "<" and (m := _IRI.match(text, i)):
            out[i + 1:m.end() - 1] = " " * (m.end() - i - 2)
            i = m.end()
        else:
            i += 1
    return "".join(out)


def _skip_string(text: str, i: int) -> int:
    quote = text[i]
    long = text.startswith(quote * 3, i)
    delim = quote * 3 if long else quote
    j = i + len(delim)
    n = len(text)
    while j < n:
        if text[j] == "\\":
            j += 2
            continue
        if text.startswith(delim, j):
            return j + len(delim)
        if not long and text[j] in "\r\n":
            break
        j += 1
    return n


# --- RDF/XML ------------------------------------------------------------------------------


def check_xml(data: bytes, *, path: str = "<input>") -> None:
    """Refuse RDF/XML that would make a parser fetch, expand without bound, or recurse deeply.

    Raises:
        LoadError: with the line and column where the document was refused.
    """
    parser = xml.parsers.expat.ParserCreate()
    parser.SetParamEntityParsing(xml.parsers.expat.XML_PARAM_ENTITY_PARSING_NEVER)
    budget = 2 * len(data) + 1024 * 1024
    state = {"depth": 0, "chars": 0, "entities": 0}

    def refuse(message: str) -> None:
        raise LoadError(
            message, path=path, line=parser.CurrentLineNumber,
            column=parser.CurrentColumnNumber + 1,
        )

    def entity_decl(name, is_param, value, base, system_id, public_id, notation):
        state["entities"] += 1
        if is_param or system_id or public_id:
            refuse(f"external or parameter entity {name!r} refused: documents may not "
                   "pull in other files or URLs")
        if value and "&" in value:
            refuse(f"entity {name!r} refers to other entities; nested entities are refused")
        if state["entities"] > MAX_XML_ENTITIES:
            refuse(f"more than {MAX_XML_ENTITIES} entity declarations")

    def count(n: int) -> None:
        state["chars"] += n
        if state["chars"] > budget:
            refuse("entity expansion makes the document far larger than its source; refused")

    def start(name, attrs):
        state["depth"] += 1
        if state["depth"] > MAX_XML_DEPTH:
            refuse(f"elements nested more than {MAX_XML_DEPTH} levels deep")
        count(sum(len(v) for v in attrs.values()))

    def end(name):
        state["depth"] -= 1

    def external_ref(*_args):
        refuse("external entity reference refused")
        return 0

    def doctype(name, system_id, public_id, has_internal_subset):
        if system_id or public_id:
            refuse(f"external DTD <{system_id or public_id}> refused: documents may not pull "
                   "in other files or URLs")

    parser.EntityDeclHandler = entity_decl
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = lambda s: count(len(s))
    parser.ExternalEntityRefHandler = external_ref
    parser.StartDoctypeDeclHandler = doctype
    try:
        parser.Parse(data, True)
    except xml.parsers.expat.ExpatError as e:
        raise LoadError(
            f"not well-formed XML: {xml.parsers.expat.ErrorString(e.code)}",
            path=path, line=e.lineno, column=e.offset + 1,
        ) from None


# --- JSON-LD ------------------------------------------------------------------------------


def prepare_jsonld(
    data: bytes, *, path: str = "<input>", allow_hosts: Iterable[str] = (),
    fetch: object = None,
) -> bytes:
    """Check a JSON-LD document; inline remote contexts from allow-listed hosts.

    Raises:
        LoadError: the document is not JSON, nests deeper than ``MAX_JSON_DEPTH``, or names
            a remote ``@context`` whose host is not allow-listed.
    """
    try:
        doc = json.loads(data)
    except RecursionError:
        raise LoadError(f"JSON nested too deeply (limit {MAX_JSON_DEPTH})", path=path) from None
    except ValueError as e:
        line = getattr(e, "lineno", None)
        col = getattr(e, "colno", None)
        raise LoadError(f"not valid JSON: {getattr(e, 'msg', e)}", path=path, line=line,
                        column=col) from None
    stack = [(doc, 1)]
    changed = False
    allow = tuple(allow_hosts)
    while stack:
        node, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            raise LoadError(f"JSON nested more than {MAX_JSON_DEPTH} levels deep", path=path)
        if isinstance(node, dict):
            for key in ("@context", "@import"):
                if key in node:
                    node[key], did = _inline_contexts(node[key], path, allow, fetch)
                    changed = changed or did
            stack.extend((v, depth + 1) for v in node.values())
        elif isinstance(node, list):
            stack.extend((v, depth + 1) for v in node)
    return json.dumps(doc).encode() if changed else data


def _inline_contexts(value: object, path: str, allow: tuple[str, ...], fetch: object):
    if isinstance(value, list):
        out, changed = [], False
        for v in value:
            new, did = _inline_contexts(v, path, allow, fetch)
            out.append(new)
            changed = changed or did
        return out, changed
    if isinstance(value, str):
        if not host_allowed(value, allow):
            raise LoadError(
                f"remote JSON-LD context <{value}> refused: contexts are not fetched unless "
                "the host is allow-listed (KB_ALLOW_HOSTS); inline the context instead",
                path=path,
            )
        fetched = _fetch_context(value) if fetch is None else fetch(value)  # type: ignore[operator]
        return fetched.get("@context", fetched), True
    return value, False


def _fetch_context(url: str) -> dict:
    import httpx

    with httpx.Client(timeout=10.0, follow_redirects=False) as client:
        response = client.get(url, headers={"Accept": "application/ld+json"})
        response.raise_for_status()
        if len(response.content) > 1024 * 1024:
            raise LoadError(f"remote JSON-LD context <{url}> is larger than 1 MB")
        return response.json()
