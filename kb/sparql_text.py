"""SPARQL text: variables bound in a query, and the engine's errors made readable.

Split from ``kb.store`` (the façade runs queries; this module only reads and writes their
text).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

import pyoxigraph as ox

from kb import safety
from kb.errors import InvalidParameter, QueryError
from kb.terms import to_ox


def bind_values(sparql: str, bindings: Mapping[str, object]) -> str:
    """``sparql`` with a ``VALUES`` block that binds each variable to a term, placed first in
    the WHERE group, so that FILTERs and BINDs see the values too.

    Terms are checked and written by pyoxigraph, so nothing user-supplied is spliced in as
    text (an IRI containing ``>`` is refused, not inserted).

    Not pyoxigraph's ``substitutions=``: in 0.5.13 it binds only variables of the SELECT
    projection (or of the pattern, for ASK and CONSTRUCT) and refuses the others ("does not
    contains variable ?v in its SELECT projection"), while a saved query's parameter is
    usually not projected (``?country`` in "incidents of a country", ``?name`` used in a
    FILTER only). ``tests/test_store.py`` pins that refusal, so that a pyoxigraph that lifts
    it shows here. A remote store could not take substitutions either (text only).

    >>> bind_values("SELECT * WHERE { ?s ?p ?o }", {"s": ox.NamedNode("http://ex.org/a")})
    'SELECT * WHERE { VALUES (?s) { (<http://ex.org/a>) } ?s ?p ?o }'
    """
    names, terms = [], []
    for name, value in bindings.items():
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            raise InvalidParameter(name, "not a SPARQL variable name")
        if not isinstance(value, ox.NamedNode | ox.Literal | ox.BlankNode):
            try:
                value = to_ox(value)  # type: ignore[arg-type]
            except ValueError as e:
                raise InvalidParameter(name, f"{value!s} is not a valid RDF term: {e}") from None
        names.append(f"?{name}")
        terms.append(str(value))
    block = f"VALUES ({' '.join(names)}) {{ ({' '.join(terms)}) }} "
    masked = safety.mask_literals(sparql)
    where = re.search(r"\bWHERE\s*\{", masked, re.IGNORECASE)
    if where is not None:
        at = where.end()
    elif re.match(r"\s*(PREFIX|BASE|SELECT|ASK|DESCRIBE)", masked, re.IGNORECASE | re.DOTALL) and (
        brace := masked.find("{")
    ) >= 0:
        at = brace + 1
    else:
        raise InvalidParameter(next(iter(bindings)), "the query has no WHERE group to bind in")
    return f"{sparql[:at]} {block}{sparql[at:].lstrip()}"


@contextmanager
def engine_errors(text: str = "", prefixes: Mapping[str, str] | None = None) -> Iterator[None]:
    """The engine's exceptions as kb errors (a syntax error with its line and column)."""
    try:
        yield
    except SyntaxError as e:
        raise query_error(e, text=text, prefixes=prefixes) from None
    except (OSError, RuntimeError, ValueError) as e:  # a TypeError is a bug, not the query's
        raise QueryError(f"The query failed: {e}") from e


def query_error(e: SyntaxError, *, kind: str = "query", text: str = "",
                 prefixes: Mapping[str, str] | None = None) -> QueryError:
    """A readable error for the engine's ``SyntaxError`` on ``text``: an unknown prefix is
    named with its own line and column and the known prefixes; the engine's list of every
    token it would have taken is cut to the keywords and punctuation in it."""
    message = str(e.msg if e.msg else e)
    line, column = e.lineno, e.offset
    if line is None and (m := re.search(r"at (\d+):(\d+)", message)):
        line, column = int(m.group(1)), int(m.group(2))  # "error at LINE:COLUMN: …"
    message = re.sub(r"^error at \d+:\d+: ", "", message)
    if "Prefix not found" in message and (found := unknown_prefix(text, prefixes or {})):
        name, line, column, known = found
        return QueryError(f"SPARQL {kind} syntax error: unknown prefix `{name}:` at line {line}, "
                          f"column {column}; {known}", line=line, column=column)
    if (m := re.match(r"expected one of (.*)", message, re.DOTALL)) is not None:
        # e.g. "LATERAL, SERVICE, [_]" or "Prefix not found, ['%'], ['-' | '0' ..= '9' …]"
        words = [w.strip() for w in re.split(r",\s*(?![^\[]*\])", m.group(1))]
        shown = [f"`{w[2:-2]}`" if re.fullmatch(r"\['.'\]", w) else w for w in words
                 if re.fullmatch(r"[A-Za-z]+|\['.'\]", w)]
        message = ("expected " + ", ".join(shown[:8]) + (" or another token" if
                   len(shown) < len(words) or len(shown) > 8 else "")) if shown else (
                   "not valid SPARQL here")
    where = f" at line {line}, column {column}" if line is not None else ""
    if line is not None and column is not None and text:
        lines = text.split("\n")
        rest = lines[line - 1][column - 1:] if line <= len(lines) else ""
        word = re.match(r"\S+", rest)
        if word:
            where += f" (at `{word.group(0)[:30]}`)"
        elif not "".join(lines[line - 1:])[column - 1:].strip():
            where += " (the end of the text)"
    return QueryError(f"SPARQL {kind} syntax error{where}: {message}", line=line, column=column)


def unknown_prefix(text: str, prefixes: Mapping[str, str]) -> tuple[str, int, int, str] | None:
    """The first prefix ``text`` uses that is neither declared in it nor in ``prefixes``:
    (name, line, column, a sentence on the known prefixes)."""
    from kb.namespaces import PREFIXES, declared_prefixes, prefixed_names

    declared = declared_prefixes(text)
    for name, at in prefixed_names(text):
        if name not in declared and name not in prefixes:
            line = text.count("\n", 0, at) + 1
            column = at - (text.rfind("\n", 0, at) + 1) + 1
            known = sorted(declared | set(prefixes))
            sentence = ("known prefixes: " + ", ".join(f"{p}:" for p in known) if known
                        else "the query declares no prefixes")
            if name in PREFIXES and name not in prefixes:
                sentence += f" (declare it: PREFIX {name}: <{PREFIXES[name]}>)"
            return name, line, column, sentence
    return None
