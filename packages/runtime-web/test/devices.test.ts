// device 'auto' and WebGPU adapters, with fake adapters and a fake ORT: a hardware adapter runs WebGPU; a software
// fallback adapter (SwiftShader: the flag on adapter.info, or on the adapter in older browsers) is passed over for
// wasm with the reason said; an explicit 'webgpu' still runs on it. Each session runs on its device's ORT build:
// WASM on ORT's wasm build, WebGPU on its WebGPU build.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { openSession } from '../src/devices.js';
import { type Ort, ortFor, setOrtImports } from '../src/ort.js';

/** Two ORT builds whose sessions record 'build:provider'; `ort` holds them as openSession's options. */
function fakeOrt() {
  const created: string[] = [];
  const build = (name: string) =>
    ({
      env: { wasm: {}, webgpu: {} },
      InferenceSession: {
        create: async (_bytes: Uint8Array, o: { executionProviders: string[] }) => {
          created.push(`${name}:${o.executionProviders[0]}`);
          return { provider: o.executionProviders[0] };
        },
      },
    }) as unknown as Ort;
  return { ort: { ort: build('webgpu-build'), ortWasm: build('wasm-build') }, created };
}

/** navigator.gpu returning `adapter` (counting requests). */
function withAdapter(adapter: object | null) {
  const requests = { count: 0 };
  vi.stubGlobal('navigator', { gpu: { requestAdapter: async () => (requests.count++, adapter) } });
  return requests;
}

const hardware = { info: { vendor: 'nvidia', architecture: 'ampere', description: '', isFallbackAdapter: false } };
const swiftshader = { info: { vendor: 'google', architecture: 'swiftshader', description: '', isFallbackAdapter: true } };
/** An older browser: isFallbackAdapter on the adapter, an info without it. */
const legacyFallback = { isFallbackAdapter: true, info: { vendor: 'google', architecture: 'swiftshader', description: '' } };

afterEach(() => {
  vi.unstubAllGlobals();
});

describe("device 'auto' and WebGPU adapters", () => {
  it('a hardware adapter runs WebGPU', async () => {
    withAdapter(hardware);
    const { ort, created } = fakeOrt();
    const s = await openSession(new Uint8Array(1), 'auto', ort);
    expect(s.device).toBe('webgpu');
    expect(s.reason).toBe('auto: WebGPU adapter nvidia ampere');
    expect(created).toEqual(['webgpu-build:webgpu']);
  });

  for (const [name, adapter] of [['adapter.info.isFallbackAdapter', swiftshader], ['adapter.isFallbackAdapter (older browsers)', legacyFallback]] as const) {
    it(`a software fallback adapter (${name}) is passed over for wasm, and the reason says why`, async () => {
      withAdapter(adapter);
      const { ort, created } = fakeOrt();
      const s = await openSession(new Uint8Array(1), 'auto', ort);
      expect(s.device).toBe('wasm');
      expect(s.reason).toMatch(/^WebGPU not used: adapter google swiftshader is a software fallback, many times slower than wasm — running on wasm \(1 thread/);
      expect(created, 'no WebGPU session was created').toEqual(['wasm-build:wasm']);
    });
  }

  it("an explicit 'webgpu' still runs on a fallback adapter, saying what it is", async () => {
    withAdapter(swiftshader);
    const { ort, created } = fakeOrt();
    const s = await openSession(new Uint8Array(1), 'webgpu', ort);
    expect(s.device).toBe('webgpu');
    expect(s.reason).toBe('requested: WebGPU adapter google swiftshader (a software fallback, slower than wasm)');
    expect(created).toEqual(['webgpu-build:webgpu']);
  });

  it("no adapter: 'auto' falls back and 'webgpu' fails with the reason; 'wasm' never asks for one", async () => {
    const requests = withAdapter(null);
    const { ort, created } = fakeOrt();
    expect((await openSession(new Uint8Array(1), 'auto', ort)).reason).toMatch(/^WebGPU unavailable: no adapter — running on wasm/);
    await expect(openSession(new Uint8Array(1), 'webgpu', ort)).rejects.toThrow("device 'webgpu' is not available: no adapter");
    const before = requests.count;
    expect((await openSession(new Uint8Array(1), 'wasm', ort)).device).toBe('wasm');
    expect(requests.count).toBe(before);
    expect(created).toEqual(['wasm-build:wasm', 'wasm-build:wasm']);
  });
});

describe('which ORT build a session runs on', () => {
  afterEach(() => setOrtImports({ webgpu: undefined, wasm: undefined }));

  it("a WebGPU session that fails falls back to wasm on ORT's wasm build", async () => {
    withAdapter(hardware);
    const { ort, created } = fakeOrt();
    const broken = { ...ort.ort, InferenceSession: { create: async () => Promise.reject(new Error('no kernel for Foo')) } } as unknown as Ort;
    const s = await openSession(new Uint8Array(1), 'auto', { ...ort, ort: broken });
    expect(s.device).toBe('wasm');
    expect(s.ort).toBe(ort.ortWasm);
    expect(s.reason).toMatch(/^WebGPU unavailable: session failed \(no kernel for Foo\) — running on wasm/);
    expect(created).toEqual(['wasm-build:wasm']);
  });

  it("without the wasm build (an import map that lacks it) WASM runs on the WebGPU build and says so", async () => {
    const { ort, created } = fakeOrt();
    setOrtImports({ webgpu: async () => ort.ort, wasm: () => Promise.reject(new TypeError('Failed to resolve module specifier "onnxruntime-web/wasm"')) });
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    const s = await openSession(new Uint8Array(1), 'wasm');
    expect(s.ort).toBe(ort.ort);
    expect(s.reason).toBe(
      "requested, 1 thread; on ORT's WebGPU build, whose WASM provider is slower (~3x at batch 1): 'onnxruntime-web/wasm' could not be imported " +
        '(Failed to resolve module specifier "onnxruntime-web/wasm"); map it to …/ort.wasm.min.mjs in the import map',
    );
    expect(warn).toHaveBeenCalledOnce();
    expect(created).toEqual(['webgpu-build:wasm']);
    warn.mockRestore();
  });

  it('an ORT given as the ort option runs every session; ortWasm only those on WASM', async () => {
    const { ort } = fakeOrt();
    expect((await ortFor('wasm', { ort: ort.ort })).ort).toBe(ort.ort);
    expect((await ortFor('wasm', ort)).ort).toBe(ort.ortWasm);
    expect((await ortFor('webgpu', ort)).ort).toBe(ort.ort);
    await expect(ortFor('webgpu', {})).rejects.toThrow("this script has no way to load ORT's webgpu build ('onnxruntime-web')");
  });
});
