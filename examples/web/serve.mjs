#!/usr/bin/env node
// A tiny static server for the example (and the runtime-web browser tests): serves the repository root, so the page
// can load /node_modules/@liquidflow/runtime-web/dist/ and /node_modules/onnxruntime-web/dist/ as a user's site would
// serve its own copies. Sends COOP/COEP so the page is cross-origin isolated (WASM threads); add ?coi=0 to a page's
// URL to serve it without them. Binds 127.0.0.1 on a random port unless --port is given.
//
//   node examples/web/serve.mjs [--port 8080] [--mount /models/=path/to/dir]
//   then open the printed URL, e.g. http://127.0.0.1:PORT/examples/web/?model=/models/tiny.onnx
import { createServer } from 'node:http';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { extname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));

const MIME = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.wasm': 'application/wasm',
  '.onnx': 'application/octet-stream',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
  '.ico': 'image/x-icon',
  '.txt': 'text/plain; charset=utf-8',
};

/**
 * Starts the server. `mounts` maps URL prefixes ('/models/') to folders. Resolves to { url, port, hits, close }:
 * `hits` counts requests per path (the tests use it to see whether the model was downloaded again).
 */
export async function startServer({ root = REPO_ROOT, mounts = {}, host = '127.0.0.1', port = 0, log = false } = {}) {
  const hits = new Map();
  const roots = [...Object.entries(mounts).map(([prefix, dir]) => [prefix.endsWith('/') ? prefix : `${prefix}/`, resolve(dir)]), ['/', resolve(root)]];
  const server = createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    let path;
    try {
      path = decodeURIComponent(url.pathname);
    } catch {
      path = url.pathname;
    }
    hits.set(path, (hits.get(path) ?? 0) + 1);
    const headers = { 'cache-control': 'no-store', 'cross-origin-resource-policy': 'same-origin', 'x-content-type-options': 'nosniff' };
    if (url.searchParams.get('coi') !== '0') {
      headers['cross-origin-opener-policy'] = 'same-origin';
      headers['cross-origin-embedder-policy'] = 'require-corp';
    }
    const send = (status, body, type = 'text/plain; charset=utf-8') => {
      res.writeHead(status, { ...headers, 'content-type': type, 'content-length': Buffer.byteLength(body) });
      res.end(req.method === 'HEAD' ? undefined : body);
      if (log) console.log(status, req.method, path);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, 'method not allowed');
    const [prefix, dir] = roots.find(([p]) => path.startsWith(p));
    let file = resolve(join(dir, path.slice(prefix.length)));
    if (file !== dir && !file.startsWith(dir + sep)) return send(403, 'forbidden');
    try {
      let s = await stat(file);
      if (s.isDirectory()) {
        if (!path.endsWith('/')) {
          res.writeHead(301, { ...headers, location: `${url.pathname}/${url.search}` });
          return res.end();
        }
        file = join(file, 'index.html');
        s = await stat(file);
      }
      res.writeHead(200, { ...headers, 'content-type': MIME[extname(file).toLowerCase()] ?? 'application/octet-stream', 'content-length': s.size });
      if (req.method === 'HEAD') return res.end();
      createReadStream(file).pipe(res);
      if (log) console.log(200, req.method, path);
    } catch {
      send(404, `not found: ${path}`);
    }
  });
  await new Promise((ok, fail) => {
    server.once('error', fail);
    server.listen(port, host, ok);
  });
  const actual = server.address().port;
  return {
    url: `http://${host}:${actual}`,
    port: actual,
    hits,
    close: () =>
      new Promise((ok) => {
        server.closeAllConnections?.();
        server.close(() => ok());
      }),
  };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const mounts = {};
  let port = 0;
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === '--port') port = Number(args[++i]);
    else if (a === '--mount') {
      const [prefix, dir] = args[++i].split('=');
      mounts[prefix] = dir;
    } else {
      console.error('usage: node examples/web/serve.mjs [--port N] [--mount /models/=DIR]');
      process.exit(2);
    }
  }
  const s = await startServer({ port, mounts, log: true });
  console.log(`serving ${REPO_ROOT} at ${s.url}`);
  console.log(`example: ${s.url}/examples/web/`);
}
