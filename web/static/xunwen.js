/* 寻闻 — optional enhancements; every page works without this file.
   1. Suggestions as you type, from /suggest (OpenSearch suggestions JSON), as a list of links.
   2. On a narrow screen the filter panel starts folded (one line above the results). */
(function () {
  "use strict";
  var panel = document.querySelector("details.filters-panel");
  if (panel && window.matchMedia && window.matchMedia("(max-width: 49.99rem)").matches) {
    panel.open = false;
  }
  var form = document.getElementById("search-form");
  var box = document.getElementById("q");
  if (!form || !box || !window.fetch || !form.getAttribute("data-suggest")) return;
  var list = document.createElement("ul");
  list.className = "suggestions";
  list.id = "q-suggestions";
  list.setAttribute("aria-label", "搜索建议");
  list.hidden = true;
  form.appendChild(list);
  box.setAttribute("aria-controls", list.id);
  box.setAttribute("aria-autocomplete", "list");
  var timer = null, asked = "";

  function hide() { list.hidden = true; box.setAttribute("aria-expanded", "false"); }
  function show(words) {
    list.textContent = "";
    words.forEach(function (w) {
      var li = document.createElement("li"), a = document.createElement("a");
      a.href = form.getAttribute("action") + "?q=" + encodeURIComponent(w);
      a.textContent = w;
      li.appendChild(a);
      list.appendChild(li);
    });
    list.hidden = words.length === 0;
    box.setAttribute("aria-expanded", words.length ? "true" : "false");
  }
  box.addEventListener("input", function () {
    clearTimeout(timer);
    var v = box.value;
    if (!v.trim()) { hide(); return; }
    timer = setTimeout(function () {
      asked = v;
      fetch(form.getAttribute("data-suggest") + "?q=" + encodeURIComponent(v), {headers: {Accept: "application/x-suggestions+json"}})
        .then(function (r) { return r.ok ? r.json() : [v, []]; })
        .then(function (d) { if (box.value === asked) show(d[1] || []); })
        .catch(hide);
    }, 120);
  });
  box.addEventListener("keydown", function (e) {
    if (e.key === "ArrowDown" && !list.hidden) { e.preventDefault(); list.querySelector("a").focus(); }
    if (e.key === "Escape") hide();
  });
  list.addEventListener("keydown", function (e) {
    var items = Array.prototype.slice.call(list.querySelectorAll("a"));
    var i = items.indexOf(document.activeElement);
    if (e.key === "ArrowDown" && i < items.length - 1) { e.preventDefault(); items[i + 1].focus(); }
    if (e.key === "ArrowUp") { e.preventDefault(); (i > 0 ? items[i - 1] : box).focus(); }
    if (e.key === "Escape") { hide(); box.focus(); }
  });
  document.addEventListener("click", function (e) { if (!form.contains(e.target)) hide(); });
})();
