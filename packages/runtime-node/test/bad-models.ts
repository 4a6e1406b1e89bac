// LiquidFlow exports broken on purpose, one fault each, for the runtimes' load-time and output checks: the graph's
// declared inputs/outputs edited (dtype, shape, missing type), weights moved to an external file, an op onnxruntime
// does not know, NaN weights. Each is the good export decoded, changed in one place, and encoded again.
import onnxProto from 'onnx-proto';
import { type LiquidFlowConfig, resolveConfig } from '@liquidflow/core';
import { freshCheckpoint } from '@liquidflow/checkpoint';
import { exportBytes } from '@liquidflow/exporter';

const { onnx } = onnxProto;
type Model = InstanceType<typeof onnx.ModelProto>;

/** A small model: exports and runs in well under a second. */
export const SMALL: LiquidFlowConfig = resolveConfig('tiny', { img_size: 16, dim: 32, depth: 2, head_dim: 16, d_state: 8 });

export function goodModel(cfg = SMALL): Uint8Array {
  return exportBytes(freshCheckpoint(cfg, 0)).bytes;
}

function edited(change: (m: Model) => void, cfg = SMALL): Uint8Array {
  const m = onnx.ModelProto.decode(goodModel(cfg));
  change(m);
  return onnx.ModelProto.encode(m).finish();
}

const io = (m: Model, name: string) => [...(m.graph!.input ?? []), ...(m.graph!.output ?? [])].find((v) => v.name === name)!;
const dims = (m: Model, name: string) => io(m, name).type!.tensorType!.shape!.dim!;

/** Each bad model with the words its error must contain (beyond the file's name). */
export const BAD_MODELS: Record<string, { bytes: () => Uint8Array; says: string[] }> = {
  'x-float16': {
    bytes: () => edited((m) => void (io(m, 'x').type!.tensorType!.elemType = 10)),
    says: ["input 'x' is float16, but the sampler feeds float32"],
  },
  't-int64': {
    bytes: () => edited((m) => void (io(m, 't').type!.tensorType!.elemType = 7)),
    says: ["input 't' is int64, but the sampler feeds float32"],
  },
  'v-float64': {
    bytes: () => edited((m) => void (io(m, 'v').type!.tensorType!.elemType = 11)),
    says: ["output 'v' is float64, but the sampler reads float32"],
  },
  'x-size-32': {
    bytes: () => edited((m) => dims(m, 'x').slice(2).forEach((d) => void (d.dimValue = 32))),
    says: ["input 'x' has shape [N, 3, 32, 32], but metadata 'liquidflow.config' (in_channels 3, img_size 16) needs [N, 3, 16, 16]"],
  },
  'x-batch-fixed': {
    bytes: () => edited((m) => {
      const d = dims(m, 'x')[0];
      d.dimParam = null; // one of the oneof: an empty string would still be written, and win
      d.dimValue = 1;
    }),
    says: ["input 'x' has shape [1, 3, 16, 16]", 'with a free batch dimension N'],
  },
  'x-rank-3': {
    bytes: () => edited((m) => void dims(m, 'x').pop()),
    says: ["input 'x' has shape [N, 3, 16]", 'needs [N, 3, 16, 16]'],
  },
  'v-channels-1': {
    bytes: () => edited((m) => void (dims(m, 'v')[1].dimValue = 1)),
    says: ["output 'v' has shape [N, 1, 16, 16]", 'needs [N, 3, 16, 16]'],
  },
  'x-untyped': {
    bytes: () => edited((m) => void (io(m, 'x').type = null)),
    says: ["input 'x' declares no tensor type and shape (expected float32 [N, 3, 16, 16])"],
  },
  'external-data': {
    bytes: () => edited((m) => {
      const w = m.graph!.initializer!.find((t) => t.dataType === 1)!;
      w.rawData = new Uint8Array(0);
      w.dataLocation = 1;
      w.externalData = [onnx.StringStringEntryProto.create({ key: 'location', value: 'weights.bin' })];
    }),
    says: ["are stored outside this file (e.g. '", "' in 'weights.bin')", 'export it again with liquidflow-export'],
  },
};

/** Passes every load-time check of ours, then onnxruntime refuses it. */
export const unknownOpModel = () => edited((m) => void (m.graph!.node![3].opType = 'Bogus'));

/** Loads and runs, but every float weight is NaN: the images would be black. */
export const nanModel = () =>
  edited((m) => {
    for (const t of m.graph!.initializer!) {
      if (t.dataType === 1) t.rawData = new Uint8Array(new Float32Array(t.rawData!.length / 4).fill(NaN).buffer);
    }
  });
