// GraphiQL from the app's own assets (no CDN): the page works with the network cut.
// The signed-in session's cookie goes with each request (same origin).
(function () {
  var fetcher = GraphiQL.createFetcher({ url: "/graphql" });
  var root = ReactDOM.createRoot(document.getElementById("graphiql"));
  root.render(React.createElement(GraphiQL, { fetcher: fetcher, defaultEditorToolsVisibility: true }));
})();
