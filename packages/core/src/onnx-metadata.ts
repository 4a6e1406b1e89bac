// Reads just enough of an ONNX file (protobuf wire format) to check that it is a LiquidFlow export before handing it to
// ORT: metadata_props and the graph's input/output names. A truncated or corrupt file fails here with a clear message.
import { type LiquidFlowConfig, validateConfig } from './config.js';

export class ModelFileError extends Error {
  override name = 'ModelFileError';
}

interface Field {
  no: number;
  wire: number;
  start: number;
  end: number;
}

function* fields(b: Uint8Array, start: number, end: number, where: string): Generator<Field> {
  let p = start;
  const varint = () => {
    let v = 0;
    let mul = 1;
    for (;;) {
      if (p >= end) throw new ModelFileError(`${where}: truncated or corrupt (a field runs past byte ${end})`);
      const byte = b[p++];
      v += (byte & 0x7f) * mul;
      if (byte < 0x80) return v;
      mul *= 128;
      if (mul > 2 ** 63) throw new ModelFileError(`${where}: corrupt varint at byte ${p}`);
    }
  };
  while (p < end) {
    const key = varint();
    const no = Math.floor(key / 8);
    const wire = key % 8;
    let s = p;
    if (wire === 0) varint();
    else if (wire === 1) p += 8;
    else if (wire === 5) p += 4;
    else if (wire === 2) {
      const len = varint();
      s = p;
      p += len;
    } else throw new ModelFileError(`${where}: not a protobuf ONNX model (wire type ${wire} at byte ${s})`);
    if (p > end) throw new ModelFileError(`${where}: truncated or corrupt (field ${no} ends at byte ${p}, file has ${end})`);
    yield { no, wire, start: s, end: p };
  }
}

const utf8 = (b: Uint8Array, f: Field) => new TextDecoder().decode(b.subarray(f.start, f.end));

export interface OnnxModelInfo {
  metadata: Record<string, string>;
  inputs: string[];
  outputs: string[];
}

/** ModelProto: graph = 7, metadata_props = 14; GraphProto: input = 11, output = 12; ValueInfo/Entry: 1 and 2. */
export function readOnnxInfo(bytes: Uint8Array, where = 'model'): OnnxModelInfo {
  if (bytes.length === 0) throw new ModelFileError(`${where}: file is empty`);
  const info: OnnxModelInfo = { metadata: {}, inputs: [], outputs: [] };
  let sawGraph = false;
  for (const f of fields(bytes, 0, bytes.length, where)) {
    if (f.no === 14 && f.wire === 2) {
      let key = '';
      let value = '';
      for (const g of fields(bytes, f.start, f.end, where)) {
        if (g.no === 1) key = utf8(bytes, g);
        else if (g.no === 2) value = utf8(bytes, g);
      }
      info.metadata[key] = value;
    } else if (f.no === 7 && f.wire === 2) {
      sawGraph = true;
      for (const g of fields(bytes, f.start, f.end, where)) {
        if ((g.no === 11 || g.no === 12) && g.wire === 2) {
          for (const h of fields(bytes, g.start, g.end, where)) {
            if (h.no === 1) (g.no === 11 ? info.inputs : info.outputs).push(utf8(bytes, h));
          }
        }
      }
    }
  }
  if (!sawGraph) throw new ModelFileError(`${where}: not an ONNX model (no graph)`);
  return info;
}

export interface LiquidFlowModelInfo extends OnnxModelInfo {
  /** The size the model generates at is config.img_size. */
  config: LiquidFlowConfig;
  /** The size it was trained at: differs from config.img_size when exported with a resampled position table. */
  trainedImgSize: number;
  step: number;
  weights: string;
}

/** Checks that an ONNX file is a LiquidFlow export (inputs x and t, output v, config in metadata) and returns it. */
export function readLiquidFlowInfo(bytes: Uint8Array, where = 'model'): LiquidFlowModelInfo {
  const info = readOnnxInfo(bytes, where);
  const raw = info.metadata['liquidflow.config'];
  if (raw === undefined) {
    throw new ModelFileError(`${where}: not a LiquidFlow export (no 'liquidflow.config' in metadata_props; export it with liquidflow-export)`);
  }
  if (info.inputs.join() !== 'x,t' || info.outputs.join() !== 'v') {
    throw new ModelFileError(`${where}: not a LiquidFlow export (inputs [${info.inputs}] and outputs [${info.outputs}], expected [x,t] and [v])`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch (e) {
    throw new ModelFileError(`${where}: metadata 'liquidflow.config' is not valid JSON (${(e as Error).message})`);
  }
  let config: LiquidFlowConfig;
  try {
    config = validateConfig(parsed, `${where} metadata 'liquidflow.config'`);
  } catch (e) {
    throw new ModelFileError((e as Error).message);
  }
  // Exports older than 'liquidflow.trained_img_size' were always at the trained size.
  const trainedRaw = info.metadata['liquidflow.trained_img_size'] ?? String(config.img_size);
  const trainedImgSize = Number(trainedRaw);
  if (!/^\d+$/.test(trainedRaw) || trainedImgSize < 1) {
    throw new ModelFileError(`${where}: metadata 'liquidflow.trained_img_size' must be a positive integer, got '${trainedRaw}'`);
  }
  return { ...info, config, trainedImgSize, step: Number(info.metadata['liquidflow.step'] ?? 0), weights: info.metadata['liquidflow.weights'] ?? 'unknown' };
}
