// GraphiQL from the app's own assets (no CDN): the page works with the network cut.
// The signed-in session's cookie goes with each request (same origin), with the
// session's CSRF token (the server refuses a cookie-signed POST without it).
(function () {
  var meta = document.querySelector('meta[name="csrf-token"]');
  var token = meta ? meta.getAttribute("content") : "";
  var fetcher = GraphiQL.createFetcher({ url: "/graphql", headers: { "X-CSRF-Token": token } });
  var root = ReactDOM.createRoot(document.getElementById("graphiql"));
  root.render(React.createElement(GraphiQL, { fetcher: fetcher, defaultEditorToolsVisibility: true }));
})();
