(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("kb-data").textContent);
  var nodes = new vis.DataSet(data.nodes), edges = new vis.DataSet(data.edges);
  var container = document.getElementById("kb-graph");
  var network = new vis.Network(container, {nodes: nodes, edges: edges}, data.options);
  window.kbNetwork = network;
  window.kbStable = false;
  network.once("stabilizationIterationsDone", function () {
    network.setOptions({physics: false});
    window.kbStable = true;
    document.body.setAttribute("data-stable", "true");
  });
  function el(tag, text) { var e = document.createElement(tag); e.textContent = text; return e; }
  var legend = document.getElementById("kb-legend");
  data.legend.forEach(function (item) {
    var row = el("li", " " + item.label);
    var swatch = el("span", "");
    swatch.className = "swatch";
    swatch.style.background = item.color;
    row.prepend(swatch);
    legend.appendChild(row);
  });
  function fill(select, values) {
    values.forEach(function (v) { var o = el("option", v.label); o.value = v.value; select.appendChild(o); });
  }
  var classFilter = document.getElementById("kb-class"), graphFilter = document.getElementById("kb-source");
  fill(classFilter, data.classes);
  fill(graphFilter, data.graphs);
  function applyFilters() {
    var c = classFilter.value, g = graphFilter.value;
    nodes.forEach(function (n) {
      var hide = (c && (n.classes || []).indexOf(c) < 0) || (g && (n.graphs || []).indexOf(g) < 0);
      nodes.update({id: n.id, hidden: !!hide && !n.more});
    });
  }
  classFilter.addEventListener("change", applyFilters);
  graphFilter.addEventListener("change", applyFilters);
  document.getElementById("kb-search").addEventListener("input", function (event) {
    var q = event.target.value.toLowerCase();
    if (q.length < 2) { return; }
    var hit = nodes.get({filter: function (n) { return (n.label || "").toLowerCase().indexOf(q) >= 0; }})[0];
    if (hit) { network.selectNodes([hit.id]); network.focus(hit.id, {scale: 1.2, animation: false}); }
  });
  network.on("click", function (params) {
    if (!params.nodes.length) { return; }
    var node = nodes.get(params.nodes[0]);
    if (node.more) {
      var folded = data.folded[node.id] || {nodes: [], edges: []};
      nodes.remove(node.id);
      nodes.add(folded.nodes.filter(function (n) { return !nodes.get(n.id); }));
      edges.add(folded.edges.filter(function (e) { return !edges.get(e.id); }));
      return;
    }
    if (node.href && /^(https?:\/\/|\/)/.test(node.href)) { window.location.href = node.href; }
  });
})();
