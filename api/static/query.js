// The query page: runs the query through /sparql and shows the answer. Data is written
// with textContent, never as markup; only http(s) IRIs become links. The editor is
// CodeMirror 5 with its SPARQL mode (vendored) over the form's textarea, which stays the
// plain fallback when scripts do not run (the form then sends the query to /sparql as is).
// The results table sorts (a click on a column's header), filters (a text box) and pages,
// all in the browser over the rows already received (the server's row cap stays). The
// address of the page is the query's permalink (/?query=…; opening it fills the editor and
// runs the query), and the last queries run are kept in this browser (localStorage).
// YASGUI is not vendored: its bundle compiles code at run time (new Function), which the
// page's Content-Security-Policy (no 'unsafe-eval') forbids.
(function () {
  "use strict";
  var page = JSON.parse(document.getElementById("page-data").textContent);
  var form = document.getElementById("query-form");
  var textarea = document.getElementById("query");
  var status = document.getElementById("status");
  var results = document.getElementById("results");
  var downloads = document.getElementById("downloads");
  var examples = document.getElementById("examples");
  var prefixMap = page.prefix_map;
  var prefixNames = Object.keys(prefixMap).sort();
  var FORMATS = {
    select: ["json", "csv", "tsv", "xml"],
    graph: ["ttl", "nt", "jsonld", "rdfxml", "trig", "nq"]
  };
  var EXTENSION = {json: "srj", xml: "srx", rdfxml: "rdf"};

  function el(tag, text, className) {
    var e = document.createElement(tag);
    if (text !== undefined && text !== null) { e.textContent = text; }
    if (className) { e.className = className; }
    return e;
  }

  // --- prefixes ------------------------------------------------------------------------
  // The query with its strings, IRIs and comments blanked, for looking at its prefixes.
  function masked(query) {
    return query.replace(/"""[\s\S]*?"""|'''[\s\S]*?'''|"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'|<[^<>"{}|^`\\\s]*>|#[^\n]*/g,
                         function (m) { return m.replace(/[^\n]/g, " "); });
  }
  function declared(query) {
    var names = {}, re = /\bPREFIX\s+([A-Za-z][\w.-]*)?:/gi, m;
    var text = masked(query);
    while ((m = re.exec(text)) !== null) { names[m[1] || ""] = true; }
    return names;
  }
  function used(query) {
    var names = {}, re = /(^|[^\w.\-?$:])([A-Za-z][\w.-]*):/g, m;
    var text = masked(query);
    while ((m = re.exec(text)) !== null) { names[m[2]] = true; }
    return names;
  }
  // The KB's prefixes that `query` does not declare itself, as PREFIX lines (only those
  // it uses, when `onlyUsed`).
  function missingDeclarations(query, onlyUsed) {
    var have = declared(query), want = onlyUsed ? used(query) : null;
    return prefixNames.filter(function (p) { return !have[p] && (!want || want[p]); })
      .map(function (p) { return "PREFIX " + p + ": <" + prefixMap[p] + ">\n"; });
  }
  // An IRI in the shortest prefixed form the KB's prefixes give, else null.
  function shorten(iri) {
    var best = null;
    prefixNames.forEach(function (p) {
      var ns = prefixMap[p];
      if (iri.length > ns.length && iri.lastIndexOf(ns, 0) === 0 && /^[\w-][\w.-]*$/.test(iri.slice(ns.length)) &&
          !/\.$/.test(iri) && (best === null || ns.length > prefixMap[best].length)) { best = p; }
    });
    return best === null ? null : best + ":" + iri.slice(prefixMap[best].length);
  }

  // --- the editor ----------------------------------------------------------------------
  var cm = null;
  var marks = [];  // what the last error added to the editor, removed on the next change
  function getQuery() { return cm ? cm.getValue() : textarea.value; }
  function setQuery(text) { if (cm) { cm.setValue(text); cm.focus(); } else { textarea.value = text; } }
  function unmark() {
    marks.forEach(function (undo) { undo(); });
    marks = [];
  }
  function run() {
    if (form.requestSubmit) { form.requestSubmit(); } else { form.dispatchEvent(new Event("submit", {cancelable: true})); }
  }
  // Completion: a prefix name (`ms` -> `ms:`), or after `ms:` the ontology's classes and
  // properties.
  function hint(editor) {
    var cur = editor.getCursor(), before = editor.getLine(cur.line).slice(0, cur.ch);
    var Pos = window.CodeMirror.Pos;
    var m = /(^|[^\w.\-?$:])([A-Za-z][\w.-]*):([\w.-]*)$/.exec(before);
    if (m && m[2] === "ms") {
      var local = m[3].toLowerCase();
      var terms = page.terms.filter(function (t) { return t.name.toLowerCase().indexOf(local) === 0; });
      if (!terms.length) { return null; }
      return {from: Pos(cur.line, cur.ch - m[3].length - 3), to: cur,
              list: terms.map(function (t) {
                return {text: "ms:" + t.name, displayText: "ms:" + t.name + "  — " + t.kind +
                        (t.label && t.label !== t.name ? ", " + t.label : "")};
              })};
    }
    m = /(^|[^\w.\-?$:<])([A-Za-z][\w.-]*)?$/.exec(before);
    if (!m) { return null; }
    var word = (m[2] || "").toLowerCase();
    var names = prefixNames.filter(function (p) { return p.indexOf(word) === 0; });
    if (!names.length) { return null; }
    return {from: Pos(cur.line, cur.ch - word.length), to: cur,
            list: names.map(function (p) { return {text: p + ":", displayText: p + ":  <" + prefixMap[p] + ">"}; })};
  }
  if (window.CodeMirror) {
    cm = window.CodeMirror.fromTextArea(textarea, {
      mode: "application/sparql-query", lineNumbers: true, matchBrackets: true,
      indentUnit: 2, viewportMargin: Infinity,
      hintOptions: {hint: hint, completeSingle: false},
      extraKeys: {"Ctrl-Enter": run, "Cmd-Enter": run, "Ctrl-Space": "autocomplete"}
    });
    cm.on("change", unmark);
    cm.on("inputRead", function (editor, change) {
      // after `ms:` is typed, offer the ontology's terms
      if (change.text.join("") === ":" && /(^|[^\w.\-?$:])ms:$/.test(
        editor.getLine(change.from.line).slice(0, change.from.ch + 1))) {
        editor.showHint();
      }
    });
    document.getElementById("editor-help").hidden = false;
    document.getElementById("declare").addEventListener("click", function () {
      var lines = missingDeclarations(getQuery(), true);
      if (lines.length) {
        cm.replaceRange(lines.join("") + (/^PREFIX\b/i.test(cm.getLine(0)) ? "" : "\n"), {line: 0, ch: 0});
      }
      cm.focus();
    });
  }

  // --- examples ------------------------------------------------------------------------
  document.getElementById("prefixes").textContent = page.prefixes;
  page.examples.forEach(function (q, i) {
    var option = el("option", q.title + " — " + q.question);
    option.value = String(i);
    examples.appendChild(option);
  });
  examples.addEventListener("change", function () {
    if (examples.value !== "") { setQuery(page.examples[Number(examples.value)].sparql); }
  });

  // --- answers -------------------------------------------------------------------------
  function cell(term) {
    var td = el("td");
    if (!term) { return td; }
    if (term.type === "uri" && /^https?:\/\//i.test(term.value)) {
      var a = el("a", shorten(term.value) || term.value);
      a.href = "/resource?iri=" + encodeURIComponent(term.value);
      a.title = term.value;
      td.appendChild(a);
    } else if (term.type === "uri") {
      td.textContent = "<" + term.value + ">";
    } else if (term.type === "bnode") {
      td.appendChild(el("span", "_:" + term.value, "bnode"));
    } else {
      td.textContent = term.value;
      var lang = term["xml:lang"], type = term.datatype;
      if (lang) {
        td.appendChild(el("span", "@" + lang, "datatype"));
      } else if (type && type !== "http://www.w3.org/2001/XMLSchema#string") {
        var t = el("span", "^^" + (shorten(type) || "<" + type + ">"), "datatype");
        td.title = type;
        td.appendChild(t);
      }
    }
    return td;
  }
  // --- the results table: sort, filter, pages --------------------------------------------
  var PAGE_SIZES = [25, 100, 500], PAGE_SIZE = 100;
  var XSD = "http://www.w3.org/2001/XMLSchema#";
  var NUMERIC = ["integer", "decimal", "double", "float", "int", "long", "short", "byte",
                 "nonNegativeInteger", "positiveInteger", "negativeInteger",
                 "nonPositiveInteger", "unsignedInt", "unsignedLong"].map(function (t) { return XSD + t; });
  var collator = new Intl.Collator(undefined, {numeric: true, sensitivity: "base"});
  // The text a term is shown and searched by (its short form and its whole value).
  function termText(term) {
    if (!term) { return ""; }
    if (term.type === "uri") { return (shorten(term.value) || "") + " " + term.value; }
    return term.value + (term["xml:lang"] ? " @" + term["xml:lang"] : "");
  }
  function sortKey(term) {
    if (!term) { return null; }
    if (term.type === "literal" && NUMERIC.indexOf(term.datatype) >= 0 && isFinite(Number(term.value))) {
      return Number(term.value);
    }
    return term.type === "uri" ? (shorten(term.value) || term.value) : term.value;
  }
  function compare(a, b) {  // unbound last; numbers before text, in order
    if (a === null || b === null) { return a === null ? (b === null ? 0 : 1) : -1; }
    if (typeof a === "number" && typeof b === "number") { return a - b; }
    if (typeof a === "number" || typeof b === "number") { return typeof a === "number" ? -1 : 1; }
    return collator.compare(a, b);
  }
  var view = null;  // {vars, rows, sortVar, descending, filter, page, size}
  function table(vars, rows) {
    view = {vars: vars, rows: rows, sortVar: null, descending: false, filter: "", page: 0,
            size: PAGE_SIZE};
    var box = el("div", null, "result-view");
    var tools = el("div", null, "row result-tools");
    var filter = el("input");
    filter.type = "search";
    filter.id = "result-filter";
    filter.placeholder = "Filter the rows";
    filter.setAttribute("aria-label", "Filter the rows");
    filter.addEventListener("input", function () { view.filter = filter.value; view.page = 0; draw(); });
    var size = el("select");
    size.id = "page-size";
    size.setAttribute("aria-label", "Rows per page");
    PAGE_SIZES.forEach(function (n) {
      var o = el("option", n + " a page");
      o.value = String(n);
      size.appendChild(o);
    });
    size.value = String(PAGE_SIZE);
    size.addEventListener("change", function () { view.size = Number(size.value); view.page = 0; draw(); });
    var shown = el("span", null, "result-count");
    shown.id = "result-count";
    tools.appendChild(filter);
    tools.appendChild(size);
    tools.appendChild(shown);
    var t = el("table"), head = el("tr"), body = el("tbody");
    vars.forEach(function (v) {
      var th = el("th"), button = el("button", v, "sort");
      button.type = "button";
      button.title = "Sort by " + v;
      button.addEventListener("click", function () {
        if (view.sortVar === v) { view.descending = !view.descending; } else { view.sortVar = v; view.descending = false; }
        view.page = 0;
        draw();
      });
      th.appendChild(button);
      head.appendChild(th);
    });
    t.appendChild(el("thead")).appendChild(head);
    t.appendChild(body);
    var pager = el("div", null, "row pager");
    pager.id = "pager";
    var prev = el("button", "‹ Previous"), next = el("button", "Next ›"), where = el("span");
    prev.type = next.type = "button";
    prev.id = "page-prev";
    next.id = "page-next";
    where.id = "page-where";
    prev.addEventListener("click", function () { view.page -= 1; draw(); });
    next.addEventListener("click", function () { view.page += 1; draw(); });
    pager.appendChild(prev);
    pager.appendChild(where);
    pager.appendChild(next);
    box.appendChild(tools);
    box.appendChild(t);
    box.appendChild(pager);

    function draw() {
      var needle = view.filter.trim().toLowerCase();
      var kept = !needle ? view.rows : view.rows.filter(function (row) {
        return vars.some(function (v) { return termText(row[v]).toLowerCase().indexOf(needle) >= 0; });
      });
      if (view.sortVar !== null) {
        var v = view.sortVar, sign = view.descending ? -1 : 1;
        kept = kept.map(function (row, i) { return {row: row, key: sortKey(row[v]), i: i}; })
          .sort(function (a, b) {
            if (a.key === null || b.key === null) { return compare(a.key, b.key) || a.i - b.i; }
            return sign * compare(a.key, b.key) || a.i - b.i;
          })
          .map(function (x) { return x.row; });
      }
      var pages = Math.max(1, Math.ceil(kept.length / view.size));
      view.page = Math.max(0, Math.min(view.page, pages - 1));
      var first = view.page * view.size;
      body.replaceChildren();
      kept.slice(first, first + view.size).forEach(function (row) {
        var tr = el("tr");
        vars.forEach(function (name) { tr.appendChild(cell(row[name])); });
        body.appendChild(tr);
      });
      Array.prototype.forEach.call(head.children, function (th, i) {
        var state = vars[i] !== view.sortVar ? "none" : (view.descending ? "descending" : "ascending");
        th.setAttribute("aria-sort", state);
      });
      shown.textContent = needle ? kept.length + " of " + view.rows.length + " rows match" : "";
      where.textContent = kept.length ? "rows " + (first + 1) + "–" + Math.min(first + view.size, kept.length) +
        " of " + kept.length + ", page " + (view.page + 1) + " of " + pages : "no rows";
      prev.disabled = view.page === 0;
      next.disabled = view.page >= pages - 1;
      pager.hidden = pages === 1;
    }
    draw();
    return box;
  }
  function capped(rows, what) {
    status.textContent = rows.length + " " + what;
    if (rows.length > page.max_rows) {
      status.textContent += "; the first " + page.max_rows + " are shown, download for all";
      return rows.slice(0, page.max_rows);
    }
    return rows;
  }
  // N-Triples (as the engine writes it) -> rows of {s, p, o} in the SPARQL JSON term shape.
  var NT_TERM = /\s*(<([^>]*)>|_:(\S+?)(?=[\s.])|"((?:[^"\\]|\\.)*)"(?:@([A-Za-z0-9-]+)|\^\^<([^>]*)>)?)/y;
  function unescapeLiteral(s) {
    try {
      return JSON.parse('"' + s.replace(/\\U([0-9A-Fa-f]{8})/g, function (_, h) {
        var c = parseInt(h, 16);
        return c > 0xFFFF ? JSON.stringify(String.fromCodePoint(c)).slice(1, -1) : "\\u" + h.slice(4);
      }).replace(/\\'/g, "'") + '"');
    } catch (e) {
      return s;
    }
  }
  function parseTriples(text) {
    var rows = [];
    text.split("\n").forEach(function (line) {
      if (!line.trim() || /^\s*#/.test(line)) { return; }
      NT_TERM.lastIndex = 0;
      var row = {}, names = ["subject", "predicate", "object"];
      for (var i = 0; i < 3; i++) {
        var m = NT_TERM.exec(line);
        if (!m) { row[names[i]] = {type: "literal", value: line}; return rows.push(row); }
        if (m[2] !== undefined) { row[names[i]] = {type: "uri", value: m[2]}; }
        else if (m[3] !== undefined) { row[names[i]] = {type: "bnode", value: m[3]}; }
        else {
          row[names[i]] = {type: "literal", value: unescapeLiteral(m[4])};
          if (m[5]) { row[names[i]]["xml:lang"] = m[5]; }
          if (m[6]) { row[names[i]].datatype = m[6]; }
        }
      }
      rows.push(row);
    });
    return rows;
  }
  function links(query, kind) {
    downloads.replaceChildren();
    downloads.appendChild(el("span", "Download: "));
    FORMATS[kind].forEach(function (f) {
      var a = el("a", f);
      a.href = "/sparql?format=" + f + "&query=" + encodeURIComponent(query);
      a.download = "result." + (EXTENSION[f] || f);
      downloads.appendChild(a);
    });
    if (kind === "graph") {
      var graph = el("a", "show as graph", "graph-link");
      graph.href = "/viz/query?query=" + encodeURIComponent(query);
      downloads.appendChild(graph);
    }
  }

  // --- errors --------------------------------------------------------------------------
  // Marks the error's position in the editor: the line, the word at (or just before) the
  // column, a note under the line, and the cursor there.
  function markError(line, column, message) {
    var text = cm.getLine(line);
    var ch = Math.max(0, Math.min((column || 1) - 1, text.length));
    var from = ch, to = ch;
    if (ch >= text.length || /\s/.test(text.charAt(ch))) {  // past the end of a word: that word
      while (from > 0 && /\s/.test(text.charAt(from - 1))) { from--; }
      to = from;
      while (from > 0 && !/\s/.test(text.charAt(from - 1))) { from--; }
    } else {
      while (to < text.length && !/\s/.test(text.charAt(to))) { to++; }
    }
    cm.addLineClass(line, "background", "error-line");
    var mark = from < to ? cm.markText({line: line, ch: from}, {line: line, ch: to}, {className: "error-token"}) : null;
    var note = el("div", message, "error-note");
    var widget = cm.addLineWidget(line, note, {coverGutter: false, noHScroll: true});
    marks.push(function () {
      cm.removeLineClass(line, "background", "error-line");
      if (mark) { mark.clear(); }
      widget.clear();
    });
    cm.setCursor({line: line, ch: ch});
    cm.scrollIntoView({line: line, ch: ch}, 40);
    cm.focus();
  }

  // --- running -------------------------------------------------------------------------
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var own = getQuery(), added = missingDeclarations(own, false);
    var query = added.join("") + own;
    unmark();
    permalink(own);
    remember(own);
    status.textContent = "Running…";
    status.className = "";
    results.replaceChildren();
    downloads.replaceChildren();
    fetch("/sparql", {method: "POST", body: new URLSearchParams({query: query}),
                      headers: {"Accept": "application/sparql-results+json, application/n-triples;q=0.9"}})
      .then(function (response) {
        var type = response.headers.get("content-type") || "";
        if (!response.ok) {
          return response.text().then(function (body) {
            var error;
            try { error = JSON.parse(body); } catch (e) { error = null; }
            throw (error && error.error) ? error : {error: response.status + " " + response.statusText + (body ? ": " + body.slice(0, 500) : "")};
          });
        }
        if (type.indexOf("n-triples") >= 0) {
          return response.text().then(function (text) { return {graph: text}; });
        }
        return response.json();
      })
      .then(function (answer) {
        if (answer.graph !== undefined) {
          links(query, "graph");
          var triples = capped(parseTriples(answer.graph), "triple(s)");
          results.appendChild(table(["subject", "predicate", "object"], triples));
          return;
        }
        links(query, "select");
        if (answer.boolean !== undefined) { status.textContent = answer.boolean ? "yes" : "no"; return; }
        results.appendChild(table(answer.head.vars, capped(answer.results.bindings, "row(s)")));
      })
      .catch(function (error) {
        status.className = "error";
        var message = (error && error.error) ? error.error : String(error);
        var line = (error && error.line) ? error.line - added.length : null;
        if (line !== null && line < 1) { line = null; }
        if (line) {  // the engine counts the lines of the declarations added above
          message = message.replace(/ at line \d+, column \d+/, "");
          status.textContent = "Line " + line + " of your query" + (error.column ? ", column " + error.column : "") + ": " + message;
        } else {
          status.textContent = message;
        }
        if (cm && line && line <= cm.lineCount()) { markError(line - 1, error.column, message); }
      });
  });

  // --- the permalink -------------------------------------------------------------------
  // The page's address is the query's permalink: /?query=… (the query as typed, without the
  // prefixes added for it). Opening it fills the editor and runs the query.
  var linkBox = document.getElementById("permalink");
  function linkTo(query) {
    return window.location.origin + "/?query=" + encodeURIComponent(query);
  }
  function permalink(query) {
    var url = linkTo(query);
    window.history.replaceState(null, "", url);
    linkBox.value = url;
  }
  document.getElementById("query-tools").hidden = false;
  linkBox.value = linkTo(getQuery());
  document.getElementById("copy-link").addEventListener("click", function () {
    var url = linkTo(getQuery()), said = document.getElementById("copied");
    linkBox.value = url;
    function copied() { said.textContent = "Link copied."; }
    function select() { linkBox.focus(); linkBox.select(); said.textContent = "Copy the selected link."; }
    if (navigator.clipboard && navigator.clipboard.writeText) {
      navigator.clipboard.writeText(url).then(copied, select);
    } else {
      select();
    }
  });

  // --- the history of recent queries (this browser only) ------------------------------
  var HISTORY = "medsupply-kb.query-history", HISTORY_MAX = 30;
  var historyBox = document.getElementById("history");
  var historyList = document.getElementById("history-list");
  function recent() {
    try {
      var list = JSON.parse(window.localStorage.getItem(HISTORY) || "[]");
      return Array.isArray(list) ? list.filter(function (h) { return h && typeof h.query === "string"; }) : [];
    } catch (e) {
      return [];
    }
  }
  function store(list) {
    try { window.localStorage.setItem(HISTORY, JSON.stringify(list)); } catch (e) { /* storage off or full */ }
    showHistory();
  }
  function remember(query) {
    if (!query.trim()) { return; }
    var list = recent().filter(function (h) { return h.query !== query; });
    list.unshift({query: query, at: new Date().toISOString()});
    store(list.slice(0, HISTORY_MAX));
  }
  function showHistory() {
    var list = recent();
    historyList.replaceChildren();
    list.forEach(function (h) {
      var li = el("li"), button = el("button", h.query.replace(/\s+/g, " ").trim().slice(0, 140), "history-query");
      button.type = "button";
      button.title = h.query;
      button.addEventListener("click", function () {
        setQuery(h.query);
        linkBox.value = linkTo(h.query);
      });
      li.appendChild(button);
      li.appendChild(el("small", " " + h.at.slice(0, 16).replace("T", " ")));
      historyList.appendChild(li);
    });
    document.getElementById("history-count").textContent = String(list.length);
    historyBox.hidden = false;
  }
  document.getElementById("history-clear").addEventListener("click", function () { store([]); });
  showHistory();

  // a permalink opened: its query is in the editor (the server put it there); run it
  // (or a link of the form #query=…, which the server never sees: the editor is filled here)
  var hash = /^#query=(.*)$/.exec(window.location.hash);
  if (hash) {
    try { setQuery(decodeURIComponent(hash[1])); run(); } catch (e) { status.textContent = "The link's query is not readable."; }
  } else if (new URLSearchParams(window.location.search).has("query")) {
    run();
  }
})();
