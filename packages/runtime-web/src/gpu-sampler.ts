// WebGPU with the latents left on the GPU: the model's output `v` stays in a GPU buffer (preferredOutputLocation
// 'gpu-buffer'), and the Euler/Heun updates run as two tiny ONNX graphs on the same device, so a step moves nothing
// but `t` between the CPU and the GPU. The noise is uploaded once and x0 read back once (plus once per step when a
// preview is asked for). The integration loop is @liquidflow/core's sampleLatents; only the storage differs.
import { engineError, type LatentOps, ONNX_INPUT, ONNX_OUTPUT, type SampleOptions, sampleLatents } from '@liquidflow/core';
import type { InferenceSession, Tensor } from 'onnxruntime-web';
import type { Ort } from './ort.js';

// ---- a minimal ONNX (protobuf) writer: just what two elementwise graphs need --------------------------------------

const enc = new TextEncoder();

function varint(n: number): number[] {
  const out: number[] = [];
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return out;
}

type Msg = number[];
const key = (field: number, wire: number) => varint(field * 8 + wire);
const int = (field: number, v: number): Msg => [...key(field, 0), ...varint(v)];
const bytesField = (field: number, b: ArrayLike<number>): Msg => [...key(field, 2), ...varint(b.length), ...Array.from(b)];
const str = (field: number, s: string): Msg => bytesField(field, enc.encode(s));
const msg = (field: number, ...parts: Msg[]): Msg => bytesField(field, parts.flat());

const FLOAT = 1;
/** ValueInfoProto: name, float tensor of the given dims (a string is a symbolic dim). */
function valueInfo(field: number, name: string, dims: (number | string)[]): Msg {
  const shape = dims.map((d) => msg(1, typeof d === 'number' ? int(1, d) : str(2, d)));
  return msg(field, str(1, name), msg(2, msg(1, int(1, FLOAT), msg(2, ...shape))));
}
/** NodeProto: inputs, outputs, name, op_type. */
const node = (inputs: string[], output: string, op: string): Msg => msg(1, ...inputs.map((i) => str(1, i)), str(2, output), str(3, output), str(4, op));

/** An ONNX model (IR 8, opset 17) computing y from float inputs with Add/Mul nodes given as [inputs, output, op]. */
export function elementwiseModel(name: string, inputs: [string, (number | string)[]][], nodes: [string[], string, string][], output: string): Uint8Array {
  const X = ['n', 'c', 'h', 'w'];
  const graph = msg(
    7,
    ...nodes.map(([i, o, op]) => node(i, o, op)),
    str(2, name),
    ...inputs.map(([n, dims]) => valueInfo(11, n, dims)),
    valueInfo(12, output, X),
  );
  return Uint8Array.from([...int(1, 8), ...str(2, 'liquidflow-runtime-web'), ...graph, ...msg(8, str(1, ''), int(2, 17))]);
}

const X4 = ['n', 'c', 'h', 'w'];
/** y = a + h * b */
export const AXPY_MODEL = () =>
  elementwiseModel('axpy', [['a', X4], ['b', X4], ['h', [1]]], [[['b', 'h'], 'hb', 'Mul'], [['a', 'hb'], 'y', 'Add']], 'y');
/** y = a + h * (b + c): Heun's trapezoid with h = step / 2. */
export const HEUN_MODEL = () =>
  elementwiseModel(
    'heun',
    [['a', X4], ['b', X4], ['c', X4], ['h', [1]]],
    [[['b', 'c'], 'bc', 'Add'], [['bc', 'h'], 'hbc', 'Mul'], [['a', 'hbc'], 'y', 'Add']],
    'y',
  );

// ---- the sampler -------------------------------------------------------------------------------------------------

export interface GpuUpdates {
  axpy: InferenceSession;
  heun: InferenceSession;
}

/** Opens the two update graphs on WebGPU, their outputs left on the GPU. */
export async function openGpuUpdates(ort: Ort): Promise<GpuUpdates> {
  const opts: InferenceSession.SessionOptions = { executionProviders: ['webgpu'], preferredOutputLocation: 'gpu-buffer' };
  const [axpy, heun] = await Promise.all([ort.InferenceSession.create(AXPY_MODEL(), opts), ort.InferenceSession.create(HEUN_MODEL(), opts)]);
  return { axpy, heun };
}

/** core's sampler with x and v kept as GPU tensors: `model` must have been created with gpu-buffer outputs. */
export async function sampleOnGpu(
  ort: Ort, model: InferenceSession, up: GpuUpdates, o: SampleOptions, yieldToEventLoop: () => Promise<void>, where = 'model',
): Promise<Float32Array> {
  const dims = [o.count, o.channels, o.size, o.size];
  const scalar = (v: number) => new ort.Tensor('float32', Float32Array.of(v), [1]);
  const gpu: LatentOps<Tensor> = {
    // The seeded noise starts on the CPU; the first update's output moves x to the GPU for good.
    fromArray: (x) => new ort.Tensor('float32', x, dims),
    axpy: async (a, h, b) => (await up.axpy.run({ a, b, h: scalar(h) })).y,
    axpy2: async (a, h, b, c) => (await up.heun.run({ a, b, c, h: scalar(h) })).y,
    toArray: async (v) => (await v.getData()) as Float32Array,
    dispose: (v) => v.dispose(),
    // ORT's run() on WebGPU resolves once the step is queued: wait for the GPU queue to drain (no readback), so
    // onProgress tracks computed steps. Only when progress is asked for (sampleLatents calls it only then).
    settle: async () => {
      const device = await ort.env.webgpu.device;
      await device.queue.onSubmittedWorkDone();
    },
  };
  return sampleLatents(gpu, async (x, t) => {
    await yieldToEventLoop(); // let a cancel or a click in between model calls, as the CPU loop does
    const feeds = { [ONNX_INPUT.image]: x, [ONNX_INPUT.time]: new ort.Tensor('float32', new Float32Array(o.count).fill(t), [o.count]) };
    return (await model.run(feeds).catch((e) => { throw engineError(where, 'run the model', e); }))[ONNX_OUTPUT.velocity];
  }, o);
}
