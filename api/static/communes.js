// Progressive enhancement: suggestions for the commune field (works without it).
(function () {
  if (!window.fetch) return;
  var inputs = Array.prototype.slice.call(document.querySelectorAll("input[data-communes], input#lieu"));
  inputs.forEach(suggest);
  function suggest(input) {
  var list = input.list;
  if (!list) return;
  var timer = null;
  input.addEventListener("input", function () {
    clearTimeout(timer);
    var q = input.value.trim();
    if (q.length < 2) return;
    timer = setTimeout(function () {
      fetch("/recherche/communes?q=" + encodeURIComponent(q), { credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.json() : []; })
        .then(function (items) {
          list.innerHTML = "";
          items.forEach(function (c) {
            var option = document.createElement("option");
            option.value = c.code;
            option.label = c.label;
            option.textContent = c.label;
            list.appendChild(option);
          });
        });
    }, 200);
  });
  }
})();
