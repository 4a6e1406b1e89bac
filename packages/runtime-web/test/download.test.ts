// runtime-web's download against a hostile or broken server on 127.0.0.1: one that never answers, stalls mid-body,
// lies about Content-Length, sends an endless body, cuts the connection, or answers with an HTTP error. Each must end
// in a ModelDownloadError that names the URL and the cause, in bounded time and memory.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { resolveConfig } from '@liquidflow/core';
import { freshCheckpoint } from '@liquidflow/checkpoint';
import { exportBytes } from '@liquidflow/exporter';
import { LiquidFlow, ModelDownloadError, fetchModel } from '@liquidflow/runtime-web';

const CONFIG = resolveConfig('tiny', { img_size: 16, dim: 32, depth: 2, head_dim: 16, d_state: 8 });
let model: Uint8Array;
let server: Server;
let base = '';
/** Bytes the endless route wrote, to show the client stopped it long before its own bound. */
let endlessSent = 0;
const ENDLESS_BOUND = 512 * 2 ** 20;

const CHUNK = Buffer.alloc(64 * 1024, 7);

/** Writes `chunk` until the client goes away or `bound` bytes are out (the server never loops forever). */
function pour(res: ServerResponse, bound: number, onByte: (n: number) => void) {
  let sent = 0;
  const more = () => {
    while (sent < bound && !res.destroyed) {
      sent += CHUNK.length;
      onByte(CHUNK.length);
      if (!res.write(CHUNK)) return void res.once('drain', more);
    }
    res.end();
  };
  res.on('close', () => res.removeAllListeners('drain'));
  more();
}

beforeAll(async () => {
  model = exportBytes(freshCheckpoint(CONFIG, 0)).bytes;
  const half = Math.floor(model.length / 2);
  server = createServer((req, res) => {
    const path = req.url ?? '/';
    if (path === '/good.onnx') {
      res.writeHead(200, { 'content-length': model.length });
      res.end(model);
    } else if (path === '/silent.onnx') {
      // Accepts the request and never answers.
    } else if (path === '/stall-mid.onnx') {
      res.writeHead(200, { 'content-length': model.length });
      res.write(model.subarray(0, half)); // then nothing, connection left open
    } else if (path === '/huge-header.onnx') {
      res.writeHead(200, { 'content-length': String(10 ** 12) });
      res.write(model.subarray(0, 1000));
    } else if (path === '/endless.onnx') {
      res.writeHead(200, { 'content-type': 'application/octet-stream' }); // chunked, no length
      pour(res, ENDLESS_BOUND, (n) => (endlessSent += n));
    } else if (path === '/cut.onnx') {
      res.writeHead(200, { 'content-length': model.length });
      res.write(model.subarray(0, half), () => setTimeout(() => res.socket?.destroy(), 50));
    } else if (path === '/cut-chunked.onnx') {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      res.write(model.subarray(0, half), () => setTimeout(() => res.socket?.destroy(), 50));
    } else if (path === '/error.onnx') {
      res.writeHead(503, 'Service Unavailable', { 'content-length': 4 });
      res.end('busy');
    } else {
      res.writeHead(404, { 'content-length': 0 });
      res.end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server?.closeAllConnections();
  await new Promise((resolve) => server?.close(resolve));
});

/** The rejection of `p`, checked to be a ModelDownloadError for `url` with `reason`. */
async function downloadError(p: Promise<unknown>, url: string, reason: ModelDownloadError['reason']): Promise<ModelDownloadError> {
  const e = await p.then(
    () => { throw new Error(`expected ${url} to fail`); },
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(ModelDownloadError);
  const d = e as ModelDownloadError;
  expect(d.url).toBe(url);
  expect(d.reason).toBe(reason);
  expect(d.message.startsWith(`${url}: `)).toBe(true);
  return d;
}

describe('runtime-web downloads from a hostile server', () => {
  it('a well-behaved server still works, with or without the expected size', async () => {
    const url = `${base}/good.onnx`;
    const same = (b: Uint8Array) => Buffer.from(b).equals(Buffer.from(model));
    expect(same((await fetchModel(url, { stallTimeoutMs: 2000, maxBytes: model.length })).bytes)).toBe(true);
    expect(same((await fetchModel(url, { expectedBytes: model.length })).bytes)).toBe(true);
  });

  it('a server that never answers ends in a stall error within the timeout', async () => {
    const url = `${base}/silent.onnx`;
    const start = Date.now();
    const e = await downloadError(fetchModel(url, { stallTimeoutMs: 300 }), url, 'stalled');
    expect(Date.now() - start).toBeLessThan(5000);
    expect(e.message).toMatch(/download stalled: no data for 300 ms \(0 bytes received; option stallTimeoutMs\)/);
  });

  it('a body that stops halfway stalls with the bytes received named, and LiquidFlow.load passes the option on', async () => {
    const url = `${base}/stall-mid.onnx`;
    const e = await downloadError(fetchModel(url, { stallTimeoutMs: 300 }), url, 'stalled');
    expect(e.message).toContain(`(${Math.floor(model.length / 2)} of ${model.length} bytes received`);
    await downloadError(LiquidFlow.load(url, { device: 'wasm', stallTimeoutMs: 300 }), url, 'stalled');
  });

  it('a Content-Length above the cap is refused before the body is read', async () => {
    const url = `${base}/huge-header.onnx`;
    const e = await downloadError(fetchModel(url, { stallTimeoutMs: 5000 }), url, 'too-large');
    expect(e.message).toMatch(/download too large: Content-Length says 1000000000000 bytes, above the limit of 2147483648 bytes \(option maxBytes\)/);
  });

  it('an endless body stops at maxBytes, long before the server would', async () => {
    const url = `${base}/endless.onnx`;
    const e = await downloadError(fetchModel(url, { maxBytes: 2 ** 20, stallTimeoutMs: 5000 }), url, 'too-large');
    expect(e.message).toMatch(/download too large: received at least \d+ bytes, above the limit of 1048576 bytes \(option maxBytes\)/);
    await new Promise((r) => setTimeout(r, 200));
    expect(endlessSent).toBeLessThan(ENDLESS_BOUND / 4);
  });

  it('a body longer or shorter than the expected size is refused', async () => {
    const url = `${base}/good.onnx`;
    const big = await downloadError(fetchModel(url, { expectedBytes: model.length - 1 }), url, 'too-large');
    expect(big.message).toContain(`Content-Length says ${model.length} bytes, above the expected ${model.length - 1} bytes`);
    const endless = `${base}/endless.onnx`;
    const e = await downloadError(fetchModel(endless, { expectedBytes: 100_000, stallTimeoutMs: 5000 }), endless, 'too-large');
    expect(e.message).toMatch(/received at least \d+ bytes, above the expected 100000 bytes/);
    const short = await downloadError(fetchModel(url, { expectedBytes: model.length + 1 }), url, 'cut-short');
    expect(short.message).toContain(`download cut short after ${model.length} of the expected ${model.length + 1} bytes`);
  });

  it('a connection cut mid-body says cut short, with the bytes received and the engine\'s word for it', async () => {
    const url = `${base}/cut.onnx`;
    const e = await downloadError(fetchModel(url, { stallTimeoutMs: 5000 }), url, 'cut-short');
    expect(e.message).toMatch(new RegExp(`download cut short after \\d+ of ${model.length} bytes`));
    const chunked = `${base}/cut-chunked.onnx`;
    const c = await downloadError(fetchModel(chunked, { stallTimeoutMs: 5000 }), chunked, 'cut-short');
    expect(c.message).toMatch(/download cut short after \d+ bytes \(terminated/);
  });

  it('an HTTP error and a refused connection name the status or the cause', async () => {
    const url = `${base}/error.onnx`;
    const e = await downloadError(fetchModel(url), url, 'http');
    expect(e.message).toBe(`${url}: download failed (HTTP 503 Service Unavailable)`);
    // A port nobody listens on: take one from a server that is closed again.
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const refused = `http://127.0.0.1:${port}/m.onnx`;
    const r = await downloadError(fetchModel(refused, { stallTimeoutMs: 5000 }), refused, 'network');
    expect(r.message).toMatch(/download failed \(fetch failed: .*ECONNREFUSED/);
  });

  it("the caller's own abort is not reported as a stall, and bad options are refused naming the option", async () => {
    const url = `${base}/silent.onnx`;
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 100);
    const e = await fetchModel(url, { stallTimeoutMs: 5000, fetchInit: { signal: controller.signal } }).catch((err: Error) => err);
    expect(e).not.toBeInstanceOf(ModelDownloadError);
    expect((e as Error).name).toBe('AbortError');
    await expect(fetchModel(url, { stallTimeoutMs: 0 })).rejects.toThrow(/silent\.onnx: option stallTimeoutMs must be a positive number, got 0/);
    await expect(fetchModel(url, { maxBytes: -1 })).rejects.toThrow(RangeError);
    await expect(fetchModel(url, { expectedBytes: 1.5 })).rejects.toThrow(/option expectedBytes must be a positive integer, got 1\.5/);
  });
});
