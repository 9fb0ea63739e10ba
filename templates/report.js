(function () {
  "use strict";
  // The report's only script: copy buttons, and filter and sort for the findings table. Inlined by
  // auditor/report/html.py, which pins its sha256 in the page's Content-Security-Policy.
  var doc = document;
  doc.documentElement.classList.add("js");

  function say(button, message) {
    var status = button.nextElementSibling;
    if (status) {
      status.textContent = message;
      clearTimeout(status.clearTimer);
      status.clearTimer = setTimeout(function () { status.textContent = ""; }, 4000);
    }
  }
  function selectAndCopy(code) {
    try {
      var range = doc.createRange();
      range.selectNodeContents(code);
      var selection = window.getSelection();
      selection.removeAllRanges();
      selection.addRange(range);
      return doc.execCommand("copy");
    } catch (error) {
      return false;
    }
  }
  function fallback(button, code) {
    say(button, selectAndCopy(code) ? "Copied" : "Selected: press Ctrl+C to copy");
  }
  doc.addEventListener("click", function (event) {
    var button = event.target && event.target.closest ? event.target.closest("button.copy") : null;
    if (!button) { return; }
    var box = button.closest(".code");
    var code = box ? box.querySelector("code") : null;
    if (!code) { return; }
    var pending = null;
    try {
      if (navigator.clipboard && typeof navigator.clipboard.writeText === "function") {
        pending = navigator.clipboard.writeText(code.textContent);
      }
    } catch (error) {
      pending = null;
    }
    if (pending && typeof pending.then === "function") {
      pending.then(function () { say(button, "Copied"); }, function () { fallback(button, code); });
    } else {
      fallback(button, code);
    }
  });

  var table = doc.getElementById("findings-table");
  if (!table) { return; }
  var body = table.tBodies[0];
  var rows = Array.prototype.slice.call(body.rows);
  rows.forEach(function (row, index) {
    row.drText = row.textContent.toLowerCase();
    row.drIndex = index;
  });
  var filter = doc.getElementById("findings-filter");
  var severity = doc.getElementById("findings-severity");
  var count = doc.getElementById("findings-count");
  var total = rows.length;

  function applyFilter() {
    var words = filter.value.toLowerCase().split(/\s+/).filter(Boolean);
    var level = severity.value;
    var shown = 0;
    rows.forEach(function (row) {
      var visible = (!level || row.getAttribute("data-sev") === level) && words.every(function (word) {
        return row.drText.indexOf(word) !== -1;
      });
      row.hidden = !visible;
      if (visible) { shown += 1; }
    });
    count.textContent = shown === total ? "Showing all " + total.toLocaleString() + " findings" :
      "Showing " + shown.toLocaleString() + " of " + total.toLocaleString() + " findings";
  }
  filter.addEventListener("input", applyFilter);
  severity.addEventListener("change", applyFilter);

  var headers = Array.prototype.slice.call(table.tHead.rows[0].cells);
  function sortValue(row, column, numeric) {
    var cell = row.cells[column];
    var value = cell.hasAttribute("data-v") ? cell.getAttribute("data-v") : cell.textContent.trim().toLowerCase();
    return numeric ? parseFloat(value) : value;
  }
  headers.forEach(function (header, column) {
    var button = header.querySelector("button");
    if (!button) { return; }
    button.addEventListener("click", function () {
      var ascending = header.getAttribute("aria-sort") !== "ascending";
      var numeric = header.getAttribute("data-type") === "number";
      var keyed = rows.map(function (row) { return [sortValue(row, column, numeric), row.drIndex, row]; });
      keyed.sort(function (a, b) {
        var order = a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0;
        return (ascending ? order : -order) || a[1] - b[1];
      });
      rows = keyed.map(function (entry) { return entry[2]; });
      var fragment = doc.createDocumentFragment();
      rows.forEach(function (row) { fragment.appendChild(row); });
      body.appendChild(fragment);
      headers.forEach(function (other) {
        if (other.querySelector("button")) { other.setAttribute("aria-sort", "none"); }
      });
      header.setAttribute("aria-sort", ascending ? "ascending" : "descending");
    });
  });
})();
