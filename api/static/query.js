// The query page: runs the query through /sparql and shows the answer. Data is written
// with textContent, never as markup; only http(s) IRIs become links. The editor is
// CodeMirror 5 with its SPARQL mode (vendored) over the form's textarea, which stays the
// plain fallback when scripts do not run.
(function () {
  "use strict";
  var page = JSON.parse(document.getElementById("page-data").textContent);
  var form = document.getElementById("query-form");
  var textarea = document.getElementById("query");
  var cm = window.CodeMirror ? window.CodeMirror.fromTextArea(textarea, {
    mode: "application/sparql-query", lineNumbers: true, matchBrackets: true,
    indentUnit: 2, viewportMargin: Infinity,
    extraKeys: {"Ctrl-Enter": function () { form.requestSubmit(); },
                "Cmd-Enter": function () { form.requestSubmit(); }}
  }) : null;
  var marked = null;
  function getQuery() { return cm ? cm.getValue() : textarea.value; }
  function setQuery(text) { if (cm) { cm.setValue(text); } else { textarea.value = text; } }
  function unmark() {
    if (cm && marked !== null) { cm.removeLineClass(marked, "background", "error-line"); }
    marked = null;
  }
  if (cm) { cm.on("change", unmark); }
  var status = document.getElementById("status");
  var results = document.getElementById("results");
  var downloads = document.getElementById("downloads");
  var examples = document.getElementById("examples");
  document.getElementById("prefixes").textContent = page.prefixes;
  page.examples.forEach(function (q, i) {
    var option = document.createElement("option");
    option.value = String(i);
    option.textContent = q.title + " — " + q.question;
    examples.appendChild(option);
  });
  examples.addEventListener("change", function () {
    if (examples.value !== "") { setQuery(page.examples[Number(examples.value)].sparql); }
  });
  function el(tag, text) { var e = document.createElement(tag); if (text !== undefined) { e.textContent = text; } return e; }
  function cell(term) {
    var td = el("td");
    if (!term) { return td; }
    if (term.type === "uri" && /^https?:\/\//.test(term.value)) {
      var a = el("a", term.value);
      a.href = "/resource?iri=" + encodeURIComponent(term.value);
      td.appendChild(a);
    } else {
      td.textContent = term.value;
    }
    return td;
  }
  function links(query, kind) {
    downloads.replaceChildren();
    var formats = kind === "graph" ? ["ttl", "nt", "jsonld", "rdfxml"] : ["json", "csv", "tsv", "xml"];
    downloads.appendChild(el("span", "Download: "));
    formats.forEach(function (f) {
      var a = el("a", f);
      a.href = "/sparql?format=" + f + "&query=" + encodeURIComponent(query);
      downloads.appendChild(a);
    });
    if (kind === "graph") {
      var graph = el("a", "show as graph");
      graph.href = "/viz/query?query=" + encodeURIComponent(query);
      downloads.appendChild(graph);
    }
  }
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var query = page.prefixes + getQuery();
    unmark();
    status.textContent = "Running…";
    status.className = "";
    results.replaceChildren();
    fetch("/sparql", {method: "POST", body: new URLSearchParams({query: query}),
                      headers: {"Accept": "application/sparql-results+json, application/n-triples;q=0.9"}})
      .then(function (response) {
        var type = response.headers.get("content-type") || "";
        if (!response.ok) { return response.json().then(function (e) { throw e; }); }
        if (type.indexOf("n-triples") >= 0) {
          return response.text().then(function (text) { return {graph: text}; });
        }
        return response.json();
      })
      .then(function (answer) {
        if (answer.graph !== undefined) {
          links(query, "graph");
          var lines = answer.graph.split("\n").filter(Boolean);
          status.textContent = lines.length + " triple(s)";
          results.appendChild(el("pre", answer.graph));
          return;
        }
        links(query, "select");
        if (answer.boolean !== undefined) { status.textContent = answer.boolean ? "yes" : "no"; return; }
        var vars = answer.head.vars, rows = answer.results.bindings;
        status.textContent = rows.length + " row(s)";
        if (rows.length > page.max_rows) {
          status.textContent += "; the first " + page.max_rows + " are shown, download for all";
          rows = rows.slice(0, page.max_rows);
        }
        var table = el("table"), head = el("tr");
        vars.forEach(function (v) { head.appendChild(el("th", v)); });
        table.appendChild(el("thead")).appendChild(head);
        var body = el("tbody");
        rows.forEach(function (row) {
          var tr = el("tr");
          vars.forEach(function (v) { tr.appendChild(cell(row[v])); });
          body.appendChild(tr);
        });
        table.appendChild(body);
        results.appendChild(table);
      })
      .catch(function (error) {
        status.className = "error";
        var offset = page.prefixes.split("\n").length - 1;
        var line = (error && error.line) ? error.line - offset : null;
        var where = line ? "Line " + line + " of your query: " : "";
        status.textContent = where + ((error && error.error) ? error.error : String(error));
        if (cm && line && line >= 1 && line <= cm.lineCount()) {
          marked = line - 1;
          cm.addLineClass(marked, "background", "error-line");
          cm.setCursor({line: marked, ch: Math.max(0, (error.column || 1) - 1)});
          cm.focus();
        }
      });
  });
})();
