// Progressive enhancement: suggestions for the commune field (works without it).
(function () {
  var input = document.getElementById("lieu");
  var list = document.getElementById("communes-suggestions");
  if (!input || !list || !window.fetch) return;
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
})();
