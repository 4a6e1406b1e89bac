// device 'auto' and WebGPU adapters, with fake adapters and a fake ORT: a hardware adapter runs WebGPU; a software
// fallback adapter (SwiftShader: the flag on adapter.info, or on the adapter in older browsers) is passed over for
// wasm with the reason said; an explicit 'webgpu' still runs on it.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { openSession } from '../src/devices.js';
import type { Ort } from '../src/ort.js';

/** An ORT whose sessions record the provider they were created for. */
function fakeOrt() {
  const created: string[] = [];
  const ort = {
    env: { wasm: {}, webgpu: {} },
    InferenceSession: {
      create: async (_bytes: Uint8Array, o: { executionProviders: string[] }) => {
        created.push(o.executionProviders[0]);
        return { provider: o.executionProviders[0] };
      },
    },
  };
  return { ort: ort as unknown as Ort, created };
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
    const s = await openSession(ort, new Uint8Array(1), 'auto');
    expect(s.device).toBe('webgpu');
    expect(s.reason).toBe('auto: WebGPU adapter nvidia ampere');
    expect(created).toEqual(['webgpu']);
  });

  for (const [name, adapter] of [['adapter.info.isFallbackAdapter', swiftshader], ['adapter.isFallbackAdapter (older browsers)', legacyFallback]] as const) {
    it(`a software fallback adapter (${name}) is passed over for wasm, and the reason says why`, async () => {
      withAdapter(adapter);
      const { ort, created } = fakeOrt();
      const s = await openSession(ort, new Uint8Array(1), 'auto');
      expect(s.device).toBe('wasm');
      expect(s.reason).toMatch(/^WebGPU not used: adapter google swiftshader is a software fallback, many times slower than wasm — running on wasm \(1 thread/);
      expect(created, 'no WebGPU session was created').toEqual(['wasm']);
    });
  }

  it("an explicit 'webgpu' still runs on a fallback adapter, saying what it is", async () => {
    withAdapter(swiftshader);
    const { ort, created } = fakeOrt();
    const s = await openSession(ort, new Uint8Array(1), 'webgpu');
    expect(s.device).toBe('webgpu');
    expect(s.reason).toBe('requested: WebGPU adapter google swiftshader (a software fallback, slower than wasm)');
    expect(created).toEqual(['webgpu']);
  });

  it("no adapter: 'auto' falls back and 'webgpu' fails with the reason; 'wasm' never asks for one", async () => {
    const requests = withAdapter(null);
    const { ort, created } = fakeOrt();
    expect((await openSession(ort, new Uint8Array(1), 'auto')).reason).toMatch(/^WebGPU unavailable: no adapter — running on wasm/);
    await expect(openSession(ort, new Uint8Array(1), 'webgpu')).rejects.toThrow("device 'webgpu' is not available: no adapter");
    const before = requests.count;
    expect((await openSession(ort, new Uint8Array(1), 'wasm')).device).toBe('wasm');
    expect(requests.count).toBe(before);
    expect(created).toEqual(['wasm', 'wasm']);
  });
});
