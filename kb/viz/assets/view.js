/* medsupply-kb graph view. Reads the page's JSON data block and draws it with vis-network.
 * Every string from the data goes into the DOM as text (textContent, value) or into
 * vis-network, whose tooltips are set with innerText: no data is ever parsed as HTML. */
(function () {
  "use strict";
  // pyvis's network (the nodes and edges drawn at first, and vis-network's options) and,
  // beside it, what is folded away and the page's filters
  var data = JSON.parse(document.getElementById("kb-view").textContent);
  var view = data.view;
  var byId = {};
  data.nodes.forEach(function (n) { byId[n.id] = n; });
  Object.keys(view.folded).forEach(function (id) { byId[id] = view.folded[id]; });
  var allEdges = data.edges.concat(view.edges);
  var byEdge = {};
  allEdges.forEach(function (e) { byEdge[e.id] = e; });
  var folds = view.folds;
  var FOLD = "more:";
  var visibleSet = new Set(data.nodes.map(function (n) { return n.id; }));
  var hiddenClasses = new Set();
  var hiddenGraphs = new Set();
  var edgeLabels = view.edgeLabels !== false;
  var memberOf = {};
  Object.keys(folds).forEach(function (key) {
    folds[key].members.forEach(function (m) { memberOf[m] = key; });
  });
  var edgesByNode = {};
  allEdges.forEach(function (e) {
    (edgesByNode[e.from] = edgesByNode[e.from] || []).push(e);
    (edgesByNode[e.to] = edgesByNode[e.to] || []).push(e);
  });
  var shownEdges = new Set();

  function text(id, value) { document.getElementById(id).textContent = value; }
  function fmt(n) { return Number(n).toLocaleString("en"); }

  function filteredOut(n) {
    if (hiddenClasses.has(n.cls)) { return true; }
    return hiddenGraphs.size > 0 && n.graphs.length > 0 &&
      n.graphs.every(function (g) { return hiddenGraphs.has(g); });
  }

  function visNode(n) {
    return Object.assign({}, n, { hidden: filteredOut(n) });
  }

  function foldCounts(key) {
    var f = folds[key];
    var hidden = f.members.filter(function (m) { return !visibleSet.has(m); });
    return { hidden: hidden, unfetched: f.unfetched };
  }

  function foldNode(key) {
    var c = foldCounts(key);
    var total = c.hidden.length + c.unfetched;
    if (!total) { return null; }
    var label = fmt(total) + " more";
    var lines = [label];
    if (c.hidden.length) {
      lines.push("click to show " + fmt(Math.min(c.hidden.length, view.limit)) + " of them");
    }
    if (c.unfetched) {
      lines.push(fmt(c.unfetched) + " not loaded" +
                 (view.viewLink && key ? ": click to open that entity's own view" : ""));
    }
    return { id: FOLD + key, label: label, title: lines.join("\n"), shape: "box", value: 1,
             kbFold: key, font: { size: 11 },
             color: { background: "#eeeeee", border: "#999999" } };
  }

  function foldEdge(key) {
    return { id: "kb-fold-edge:" + key, from: key, to: FOLD + key, dashes: true, arrows: "",
             color: { color: "#bbbbbb" } };
  }

  function visEdge(e) {
    var hidden = hiddenGraphs.size > 0 && e.graphs.length > 0 &&
      e.graphs.every(function (g) { return hiddenGraphs.has(g); });
    return Object.assign({}, e, { label: edgeLabels ? e.label : "", hidden: hidden });
  }

  function addEdgesOf(ids) {
    var out = [];
    ids.forEach(function (id) {
      (edgesByNode[id] || []).forEach(function (e) {
        if (!shownEdges.has(e.id) && visibleSet.has(e.from) && visibleSet.has(e.to)) {
          shownEdges.add(e.id);
          out.push(visEdge(e));
        }
      });
    });
    edges.add(out);
  }

  function addFoldOf(key) {
    if (!folds[key]) { return; }
    var f = foldNode(key);
    if (!f) { return; }
    if (nodes.get(f.id)) { nodes.update(f); } else {
      nodes.add(f);
      if (key !== "") { edges.add(foldEdge(key)); }
    }
  }

  function refreshFold(key) {
    var f = foldNode(key);
    if (f) { nodes.update(f); return; }
    if (nodes.get(FOLD + key)) {
      nodes.remove(FOLD + key);
      if (edges.get("kb-fold-edge:" + key)) { edges.remove("kb-fold-edge:" + key); }
    }
  }

  // the first drawing
  var nodes = new vis.DataSet();
  var edges = new vis.DataSet();
  nodes.add(data.nodes.map(visNode));
  Object.keys(folds).forEach(function (key) {
    if (key === "" || visibleSet.has(key)) { addFoldOf(key); }
  });
  data.edges.forEach(function (e) { shownEdges.add(e.id); });
  edges.add(data.edges.map(visEdge));

  var container = document.getElementById("kb-graph");
  var network = new vis.Network(container, { nodes: nodes, edges: edges }, data.options);
  // the leaves of one class around one node, gathered by vis-network's clustering into one
  // node with their count (a click opens it)
  var clusterOf = {};
  var closed = new Set();  // the cluster nodes not opened yet (vis-network's isCluster logs an
  // error for a cluster node that was opened, and so no longer exists)
  (view.clusters || []).forEach(function (c) {
    closed.add(c.id);
    var members = new Set(c.members);
    c.members.forEach(function (m) { clusterOf[m] = c.id; });
    network.cluster({
      joinCondition: function (n) { return members.has(n.id); },
      clusterNodeProperties: {
        id: c.id, label: c.label, shape: "diamond", value: c.members.length + 1,
        color: c.colour, group: c.cls, kbCluster: true, borderWidth: 2,
        title: c.label + "\n" + c.members.slice(0, 12).map(function (m) { return byId[m].name; }).join("\n") +
               (c.members.length > 12 ? "\n…" : "") + "\nclick to open"
      }
    });
  });
  function openCluster(id) {
    if (!closed.has(id)) { return false; }
    closed.delete(id);
    network.openCluster(id);
    status();
    return true;
  }
  function openClusterOf(id) {
    if (clusterOf[id]) { openCluster(clusterOf[id]); }
  }
  var api = { view: view, nodes: nodes, edges: edges, network: network, stable: false,
              stableAt: null, expand: expand, find: find, clusters: clusterOf, closed: closed };
  window.kbView = api;
  window.kbNetwork = network;
  window.kbStable = false;

  function markStable() {
    if (view.physics) { network.setOptions({ physics: { enabled: false } }); }
    if (!api.stable) {
      api.stable = true;
      api.stableAt = performance.now();
      window.kbStable = true;
      document.body.setAttribute("data-stable", "true");
    }
    status();
  }
  if (view.physics && nodes.length > 0) {
    network.on("stabilizationIterationsDone", markStable);
    network.on("stabilized", markStable);
  } else {
    network.once("afterDrawing", markStable);
    if (nodes.length === 0) { setTimeout(markStable, 0); }
  }

  function status() {
    var drawn = nodes.get({ filter: function (n) { return n.kbFold === undefined; } }).length;
    text("kb-status", fmt(drawn) + " of " + fmt(Object.keys(byId).length) +
         " nodes drawn; " + fmt(edges.length) + " links" +
         (closed.size ? "; " + fmt(closed.size) + " clusters (click one to open it)" : "") +
         (api.stable ? "" : "; laying out…"));
  }
  status();

  function expand(key) {
    if (!folds[key]) { return 0; }
    var c = foldCounts(key);
    if (!c.hidden.length) {
      if (c.unfetched && view.viewLink && key) {
        window.location.assign(view.viewLink + encodeURIComponent(key));
      } else {
        text("kb-found", "Those links were not loaded; open that entity's own view.");
      }
      return 0;
    }
    var batch = c.hidden.slice(0, view.limit);
    var at = nodes.get(FOLD + key) ? network.getPositions([FOLD + key])[FOLD + key] : null;
    batch.forEach(function (id) { visibleSet.add(id); });
    nodes.add(batch.map(function (id, i) {
      var v = visNode(byId[id]);
      if (at && v.x === undefined) {
        v.x = at.x + 60 * Math.cos(i); v.y = at.y + 60 * Math.sin(i);
      }
      return v;
    }));
    batch.forEach(addFoldOf);
    refreshFold(key);
    addEdgesOf(batch);
    if (view.physics) {
      network.setOptions({ physics: { enabled: true } });
      network.stabilize(120);
    }
    status();
    return batch.length;
  }

  function reveal(id) {
    if (visibleSet.has(id) || !byId[id]) { return; }
    var key = memberOf[id];
    if (key === undefined) { return; }
    if (key !== "") { reveal(key); }
    visibleSet.add(id);
    nodes.add(visNode(byId[id]));
    addFoldOf(id);
    refreshFold(key);
    addEdgesOf([id]);
  }

  function find(query) {
    var q = String(query || "").trim().toLowerCase();
    if (!q) { return null; }
    var ids = Object.keys(byId);
    var exact = ids.filter(function (id) { return byId[id].name.toLowerCase() === q || id.toLowerCase() === q; });
    var some = exact.length ? exact : ids.filter(function (id) {
      return byId[id].name.toLowerCase().indexOf(q) >= 0 || id.toLowerCase().indexOf(q) >= 0;
    });
    if (!some.length) { text("kb-found", "No node matches."); return null; }
    var id = some[0];
    reveal(id);
    openClusterOf(id);
    var n = nodes.get(id);
    if (n && n.hidden) { text("kb-found", "Found, but hidden by a filter."); return id; }
    network.selectNodes([id]);
    network.focus(id, { scale: 1.3, animation: { duration: 400 } });
    showDetails(id);
    text("kb-found", some.length > 1 ? "Found " + fmt(some.length) + " nodes; showing the first." : "Found.");
    status();
    return id;
  }

  function showDetails(id) {
    var d = byId[id];
    if (!d) { return; }
    document.getElementById("kb-details").hidden = false;
    text("kb-details-label", d.name);
    text("kb-details-text", d.title);
    var open = document.getElementById("kb-details-open");
    if (d.href) {
      document.getElementById("kb-details-link").href = d.href;
      open.hidden = false;
    } else {
      open.hidden = true;
    }
  }

  network.on("click", function (p) {
    if (!p.nodes.length) { return; }
    if (openCluster(p.nodes[0])) { return; }
    var n = nodes.get(p.nodes[0]);
    if (!n) { return; }
    if (n.kbFold !== undefined) { expand(n.kbFold); return; }
    showDetails(n.id);
    var d = byId[n.id];
    if (d && d.href) { window.location.assign(d.href); }
  });

  // search
  var names = document.getElementById("kb-names");
  Object.keys(byId).slice(0, 3000).forEach(function (id) {
    var o = document.createElement("option");
    o.value = byId[id].name;
    names.appendChild(o);
  });
  document.getElementById("kb-search").addEventListener("submit", function (ev) {
    ev.preventDefault();
    find(document.getElementById("kb-q").value);
  });

  // filters
  function refilter() {
    nodes.update(nodes.get({ filter: function (n) { return n.kbFold === undefined; } })
      .map(function (n) { return { id: n.id, hidden: filteredOut(byId[n.id]) }; }));
    edges.update(edges.get({ filter: function (e) { return byEdge[e.id] !== undefined; } })
      .map(function (e) { return visEdge(byEdge[e.id]); }));
  }

  function checkboxList(listId, items, hiddenSet, withSwatch) {
    var ul = document.getElementById(listId);
    items.forEach(function (item, i) {
      var li = document.createElement("li");
      var label = document.createElement("label");
      var box = document.createElement("input");
      box.type = "checkbox";
      box.checked = true;
      var key = withSwatch ? item.key : i;
      box.addEventListener("change", function () {
        if (box.checked) { hiddenSet.delete(key); } else { hiddenSet.add(key); }
        refilter();
      });
      label.appendChild(box);
      if (withSwatch) {
        var sw = document.createElement("span");
        sw.className = "kb-swatch";
        sw.style.backgroundColor = item.colour;
        label.appendChild(sw);
      }
      label.appendChild(document.createTextNode(
        item.label + (item.count !== undefined ? " (" + fmt(item.count) + ")" : "")));
      li.appendChild(label);
      ul.appendChild(li);
    });
  }
  checkboxList("kb-classes", view.classes, hiddenClasses, true);
  if (view.graphs.length) {
    checkboxList("kb-graphs", view.graphs, hiddenGraphs, false);
  } else {
    document.getElementById("kb-graphs-box").hidden = true;
  }

  document.getElementById("kb-edge-labels").checked = edgeLabels;
  document.getElementById("kb-edge-labels").addEventListener("change", function (ev) {
    edgeLabels = ev.target.checked;
    edges.update(edges.get({ filter: function (e) { return byEdge[e.id] !== undefined; } })
      .map(function (e) { return { id: e.id, label: edgeLabels ? byEdge[e.id].label : "" }; }));
  });

  text("kb-help", view.link
    ? "Click a node to open its page; click an \u201cN more\u201d node to show what it hides. Nodes are sized by " + view.sizeBy + "."
    : "Click a node to see its details here; click an \u201cN more\u201d node to show what it hides. This page makes no requests: IRIs are shown, not opened. Nodes are sized by " + view.sizeBy + ".");
}());
