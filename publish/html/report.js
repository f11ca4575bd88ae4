// AKS API Reach estate report: filters, copy buttons, theme switch, opening findings by link and for print.
// The page works without this script; it adds only conveniences and never touches the network.
(function () {
  "use strict";
  var doc = document;
  doc.querySelectorAll(".js-only").forEach(function (el) { el.hidden = false; });

  // Filters: a cluster is shown when one of its findings matches status, check and muted, and the cluster
  // matches owner, subscription and root cause. Rows and cluster sections share the data attributes, in the same order.
  var rows = Array.prototype.slice.call(doc.querySelectorAll(".grid .row[data-f]"));
  var sections = Array.prototype.slice.call(doc.querySelectorAll("details.cluster"));
  var parsed = rows.map(function (row) {
    return {
      owners: row.dataset.owners.split("|"),
      sub: row.dataset.sub,
      causes: row.dataset.rc ? row.dataset.rc.split(" ") : [],
      findings: row.dataset.f.split(" ").map(function (token) { return token.split(":"); })
    };
  });
  var form = doc.getElementById("filters");
  var shown = doc.getElementById("shown");

  function apply() {
    var status = form.elements.status.value, check = form.elements.check.value, muted = form.elements.muted.value;
    var owner = form.elements.owner.value, sub = form.elements.sub.value, rc = form.elements.rc.value;
    var count = 0;
    for (var i = 0; i < parsed.length; i++) {
      var cluster = parsed[i];
      var visible = (!owner || cluster.owners.indexOf(owner) >= 0) && (!sub || cluster.sub === sub) &&
        (!rc || cluster.causes.indexOf(rc) >= 0) &&
        cluster.findings.some(function (f) {
          return (!check || f[0] === check) && (!status || f[1] === status) && (!muted || f[2] === muted);
        });
      if (rows[i].hidden === visible) { rows[i].hidden = !visible; sections[i].hidden = !visible; }
      if (visible) { count++; }
    }
    shown.textContent = count + " of " + parsed.length + " clusters shown";
  }
  form.addEventListener("change", apply);
  // A root cause's "Show only these" button: its clusters alone, through the root-cause filter.
  doc.addEventListener("click", function (event) {
    var button = event.target.closest ? event.target.closest("button.rc-filter") : null;
    if (!button) { return; }
    form.elements.rc.value = button.dataset.rc;
    apply();
    doc.getElementById("overview").scrollIntoView();
  });
  form.addEventListener("reset", function () { setTimeout(apply, 0); });
  form.addEventListener("submit", function (event) { event.preventDefault(); });
  apply();

  // Findings: each cluster's markup waits as text in its <noscript>; build it in time slices that leave
  // the page responsive, and at once when the cluster is opened. <html data-findings="ready"> when all are.
  function materialize(section) {
    var holder = section.querySelector("noscript");
    if (!holder) { return; }
    holder.insertAdjacentHTML("afterend", holder.textContent);
    holder.remove();
    section.querySelectorAll(".js-only").forEach(function (el) { el.hidden = false; });
  }
  doc.addEventListener("toggle", function (event) {
    if (event.target.matches && event.target.matches("details.cluster") && event.target.open) { materialize(event.target); }
  }, true);
  var next = 0;
  function buildSome() {
    var until = performance.now() + 12;
    while (next < sections.length && performance.now() < until) { materialize(sections[next++]); }
    if (next < sections.length) { setTimeout(buildSome, 0); }
    else { doc.documentElement.dataset.findings = "ready"; }
  }
  setTimeout(buildSome, 0);

  // Copy buttons: the fix command beside each.
  doc.addEventListener("click", function (event) {
    var button = event.target.closest ? event.target.closest("button.copy") : null;
    if (!button) { return; }
    var text = button.parentNode.querySelector("code").textContent;
    function done(ok) {
      button.textContent = ok ? "Copied" : "Select and copy";
      setTimeout(function () { button.textContent = "Copy"; }, 1500);
    }
    if (navigator.clipboard && navigator.clipboard.writeText) {
      navigator.clipboard.writeText(text).then(function () { done(true); }, function () { done(false); });
    } else {
      done(false);
    }
  });

  // Theme: auto (the system's), light, dark; remembered on this browser when it allows local storage.
  var themes = ["auto", "light", "dark"];
  var themeButton = doc.getElementById("theme");
  function setTheme(theme) {
    if (theme === "auto") { doc.documentElement.removeAttribute("data-theme"); }
    else { doc.documentElement.setAttribute("data-theme", theme); }
    themeButton.textContent = "Theme: " + theme;
    themeButton.dataset.theme = theme;
  }
  var saved = null;
  try { saved = window.localStorage.getItem("aks-reach-theme"); } catch (e) { saved = null; }
  setTheme(themes.indexOf(saved) >= 0 ? saved : "auto");
  themeButton.addEventListener("click", function () {
    var next = themes[(themes.indexOf(themeButton.dataset.theme) + 1) % themes.length];
    setTheme(next);
    try { window.localStorage.setItem("aks-reach-theme", next); } catch (e) { /* private mode: not remembered */ }
  });

  // A grid cell's link opens its cluster (and a filtered-out cluster shows again).
  function openTarget() {
    var id = location.hash.slice(1);
    var section = id ? doc.getElementById(id.split("-")[0]) : null;  // finding ids are c<n>-<check>
    if (!section || !section.matches("details.cluster")) { return; }
    materialize(section);
    section.hidden = false;
    section.open = true;
    (doc.getElementById(id) || section).scrollIntoView();
  }
  window.addEventListener("hashchange", openTarget);
  openTarget();

  // Printing: every shown cluster's findings open.
  window.addEventListener("beforeprint", function () {
    sections.forEach(function (section) { if (!section.hidden) { materialize(section); section.open = true; } });
  });
})();
