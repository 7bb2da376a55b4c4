// Click a column head of a table with class "sortable" to sort its rows (again: reverse).
// Numbers sort as numbers; empty cells ("—") sort last. Used by chapter 07's leaderboard.
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("table.sortable").forEach(function (table) {
    var heads = table.querySelectorAll("thead th");
    heads.forEach(function (th, col) {
      th.style.cursor = "pointer";
      th.title = "sort by this column";
      th.addEventListener("click", function () {
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        var dir = th.dataset.dir === "desc" ? 1 : -1;
        heads.forEach(function (h) { delete h.dataset.dir; });
        th.dataset.dir = dir === 1 ? "asc" : "desc";
        function key(row) {
          var text = row.cells[col].textContent.trim();
          var num = parseFloat(text);
          return text === "—" || text === "" ? null : (isNaN(num) ? text : num);
        }
        rows.sort(function (a, b) {
          var x = key(a), y = key(b);
          if (x === null) return 1;
          if (y === null) return -1;
          if (typeof x === "number" && typeof y === "number") return dir * (x - y);
          return dir * String(x).localeCompare(String(y));
        });
        rows.forEach(function (r) { body.appendChild(r); });
      });
    });
  });
});
