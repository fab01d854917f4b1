import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { Router, type Request } from 'express';

const require = createRequire(import.meta.url);
/** Package folders, found through package.json since their exports hide the UMD files. */
const pkg = (name: string, file: string) => join(dirname(require.resolve(`${name}/package.json`)), file);

/** Files served from installed npm packages: the explorer works with no internet connection. */
const ASSETS: Record<string, { file: string; type: string }> = {
  'react.js': { file: pkg('react', 'umd/react.production.min.js'), type: 'text/javascript' },
  'react-dom.js': { file: pkg('react-dom', 'umd/react-dom.production.min.js'), type: 'text/javascript' },
  'graphiql.js': { file: pkg('graphiql', 'graphiql.min.js'), type: 'text/javascript' },
  'graphiql.css': { file: pkg('graphiql', 'graphiql.min.css'), type: 'text/css' },
  // graphiql's own subscriptionUrl option imports 'graphql-ws' at run time, which a page of plain
  // scripts cannot: the client comes as its UMD build (global graphqlWs) and goes in as wsClient.
  'graphql-ws.js': { file: pkg('graphql-ws', 'umd/graphql-ws.min.js'), type: 'text/javascript' },
};

/**
 * Queries and mutations go over HTTP; subscriptions over graphql-ws on the same endpoint. The
 * websocket URL is the page's own (wss: under https:, same host and path) so the explorer works
 * behind a proxy and TLS. The Headers tab serves both transports: its Authorization and
 * X-Share-Token become the connectionParams the websocket server reads (authorization, shareToken);
 * one lazy client per distinct credentials, so changing the token opens a new connection. A
 * refused token (4403) is shown at once instead of retried: retrying cannot make it good, while a
 * dropped connection or 1013 (try again later) is retried as graphql-ws does by default.
 */
const INIT = `
const path = window.location.pathname;
const wsUrl = (window.location.protocol === 'https:' ? 'wss:' : 'ws:') + '//' + window.location.host + path;
function connectionParams(headers) {
  const params = {};
  for (const [name, value] of Object.entries(headers || {})) {
    if (typeof value !== 'string') continue;
    const key = name.toLowerCase();
    if (key === 'authorization') params.authorization = value;
    else if (key === 'x-share-token') params.shareToken = value;
  }
  return params;
}
const wsClients = new Map();
function wsClientFor(headers) {
  const params = connectionParams(headers);
  const key = JSON.stringify(params);
  if (!wsClients.has(key)) wsClients.set(key, graphqlWs.createClient({
    url: wsUrl,
    connectionParams: params,
    shouldRetry: (e) => typeof e === 'object' && e !== null && 'code' in e && e.code !== 4403,
  }));
  return wsClients.get(key);
}
const fetcher = (request, options) =>
  GraphiQL.createFetcher({ url: path, wsClient: wsClientFor(options && options.headers) })(request, options);
ReactDOM.createRoot(document.getElementById('graphiql')).render(
  React.createElement(GraphiQL, { fetcher, defaultEditorToolsVisibility: true, shouldPersistHeaders: false }),
);`;

const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Digital Memory Chest — GraphQL explorer</title>
<link rel="stylesheet" href="/graphiql/graphiql.css">
<style>body{margin:0;height:100vh}#graphiql{height:100vh}</style>
</head>
<body>
<div id="graphiql">Loading the explorer…</div>
<script src="/graphiql/react.js"></script>
<script src="/graphiql/react-dom.js"></script>
<script src="/graphiql/graphiql.js"></script>
<script src="/graphiql/graphql-ws.js"></script>
<script src="/graphiql/init.js"></script>
</body>
</html>`;

/** A browser opening /graphql gets the explorer; API clients (JSON) go on to Apollo. */
export function wantsExplorer(req: Request): boolean {
  return req.method === 'GET' && !req.query.query && (req.headers.accept ?? '').includes('text/html');
}

export function graphiqlRouter(): Router {
  const router = Router();
  const csp = "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; worker-src 'self' blob:";
  router.get('/graphql', (req, res, next) => {
    if (!wantsExplorer(req)) return next();
    res.set('Content-Security-Policy', csp).type('html').send(PAGE);
  });
  router.get('/graphiql/init.js', (_req, res) => {
    res.type('text/javascript').send(INIT);
  });
  router.get('/graphiql/:name', (req, res, next) => {
    const asset = ASSETS[req.params.name];
    if (!asset) return next();
    res.type(asset.type).set('Cache-Control', 'public, max-age=86400').sendFile(asset.file);
  });
  return router;
}
