#!/usr/bin/env node
// A tiny static server for the example (and the runtime-web browser tests). It serves what the page needs from the
// repository, as a user's site would serve its own copies: the page (/examples/web/), runtime-web's built dist and
// onnxruntime-web's dist (/node_modules/...), and the model zoo (/models/, so the page opens on the demo model
// /models/fashion-mnist-tiny/model.onnx). Each URL prefix is confined to its folder; anything else is a 404. Sends
// COOP/COEP so the page is cross-origin isolated (WASM threads); add ?coi=0 to a page's URL to serve it without them.
// Binds 127.0.0.1 on a random port unless --port is given.
//
//   node examples/web/serve.mjs [--port 8080] [--mount /my-models/=path/to/dir]
//   then open the printed URL, e.g. http://127.0.0.1:PORT/examples/web/?model=/my-models/tiny.onnx
import { createServer } from 'node:http';
import { createReadStream } from 'node:fs';
import { realpath, stat } from 'node:fs/promises';
import { extname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));

/** URL prefix -> folder (relative to the repository root): all the page needs. */
export const SERVED = {
  '/examples/web/': 'examples/web',
  '/node_modules/@liquidflow/runtime-web/dist/': 'node_modules/@liquidflow/runtime-web/dist',
  '/node_modules/onnxruntime-web/dist/': 'node_modules/onnxruntime-web/dist',
  '/models/': 'models',
};

/** The page's URL path, where `/` redirects. */
export const EXAMPLE_PATH = '/examples/web/';

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

/** Whether `file`, after following symbolic links, is inside `dir` (also after following them). */
async function inside(dir, file) {
  try {
    const [d, f] = await Promise.all([realpath(dir), realpath(file)]);
    return f === d || f.startsWith(d + sep);
  } catch {
    return false; // missing: answered as a 404 by the caller
  }
}

/**
 * Starts the server. `mounts` maps more URL prefixes ('/my-models/') to folders, or replaces one of SERVED's (a test's
 * own '/models/'). Resolves to { url, port, hits, close }: `hits` counts requests per path (the tests use it to see
 * whether the model was downloaded again).
 */
export async function startServer({ root = REPO_ROOT, mounts = {}, host = '127.0.0.1', port = 0, log = false } = {}) {
  const hits = new Map();
  const table = { ...Object.fromEntries(Object.entries(SERVED).map(([prefix, dir]) => [prefix, join(root, dir)])) };
  for (const [prefix, dir] of Object.entries(mounts)) table[prefix.endsWith('/') ? prefix : `${prefix}/`] = dir;
  // Longest prefix first, so a mount inside a served prefix wins.
  const roots = Object.entries(table).map(([prefix, dir]) => [prefix, resolve(dir)]).sort((a, b) => b[0].length - a[0].length);
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
    if (path === '/') {
      res.writeHead(302, { ...headers, location: `${EXAMPLE_PATH}${url.search}` });
      return res.end();
    }
    const match = roots.find(([p]) => path.startsWith(p) || `${path}/` === p);
    if (!match) return send(404, `not found: ${path}`);
    const [prefix, dir] = match;
    // A decoded '..' (%2e%2e) or a symbolic link must not lead out of the prefix's folder.
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
      if (!(await inside(dir, file))) return send(403, 'forbidden');
      // Revalidated caching (no-cache + ETag): a second visit gets 304s instead of the bytes, and Chromium keeps the
      // compiled code of ORT's .wasm beside its cache entry (it caches none of a no-store response), while an edited
      // file is still seen at once.
      const etag = `"${s.size.toString(36)}-${Math.floor(s.mtimeMs).toString(36)}"`;
      const fileHeaders = { ...headers, 'cache-control': 'no-cache', etag, 'last-modified': s.mtime.toUTCString() };
      if (req.headers['if-none-match'] === etag) {
        res.writeHead(304, fileHeaders);
        if (log) console.log(304, req.method, path);
        return res.end();
      }
      res.writeHead(200, { ...fileHeaders, 'content-type': MIME[extname(file).toLowerCase()] ?? 'application/octet-stream', 'content-length': s.size });
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
  const usage = (problem) => {
    console.error(`serve.mjs: ${problem}\nusage: node examples/web/serve.mjs [--port N] [--mount /prefix/=DIR]`);
    process.exit(2);
  };
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === '--port') {
      port = Number(args[++i]);
      if (!Number.isInteger(port) || port < 0 || port > 65535) usage(`--port must be an integer from 0 to 65535, got '${args[i] ?? ''}'`);
    } else if (a === '--mount') {
      const value = args[++i] ?? '';
      const eq = value.indexOf('=');
      const [prefix, dir] = [value.slice(0, eq), value.slice(eq + 1)];
      if (eq < 0 || !prefix.startsWith('/') || !dir) usage(`--mount must be /prefix/=DIR, got '${value}'`);
      const s = await stat(dir).catch(() => null);
      if (!s?.isDirectory()) usage(`--mount ${value}: ${dir} is not a folder`);
      mounts[prefix] = dir;
    } else usage(`unknown argument '${a}'`);
  }
  const s = await startServer({ port, mounts, log: true });
  console.log(`serving ${Object.keys({ ...SERVED, ...mounts }).join(', ')} from ${REPO_ROOT} at ${s.url}`);
  console.log(`example (opens on the demo model): ${s.url}${EXAMPLE_PATH}`);
}
