// Reads just enough of an ONNX file (protobuf wire format) to check it before handing it to ORT: metadata_props, the
// graph's inputs and outputs with their declared types, and whether any weights live in external files. A truncated or
// corrupt file fails here with a clear message; onnx-contract.ts checks what a LiquidFlow export must declare.

export class ModelFileError extends Error {
  override name = 'ModelFileError';
}

/** onnxruntime failed on a model that passed readLiquidFlowInfo: its message, cleaned, after the file or URL. */
export class EngineError extends Error {
  override name = 'EngineError';
}

/**
 * onnxruntime's message as a user should see it: the first line, without its status prefix and its C++ source
 * locations ('/onnxruntime_src/.../element_wise_ops.h:583 void onnxruntime::X::Y(ptrdiff_t) '), which name
 * nothing the user has.
 */
export function engineMessage(e: unknown): string {
  const raw = String((e as Error)?.message ?? e);
  return raw
    .replace(/^\[ONNXRuntimeError\] : \d+ : \w+ : /, '')
    .replace(/(?:\S*\/)?[\w.-]+\.(?:cc|cpp|cu|h|hpp):\d+ (?:(?:[\w:<>*&]+ )?[\w:~<>]+\([^()]*\)(?: const)? |[A-Z][A-Za-z]+ (?=[A-Z]))?/g, '')
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)[0] ?? raw;
}

/** Wraps an onnxruntime error: `${where}: onnxruntime could not ${doing}: <its cleaned message>`. */
export function engineError(where: string, doing: string, e: unknown): EngineError {
  return new EngineError(`${where}: onnxruntime could not ${doing}: ${engineMessage(e)}`);
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

/** The value of a varint field (fields() yields its bytes). */
function varintValue(b: Uint8Array, f: Field): number {
  let v = 0;
  let mul = 1;
  for (let p = f.start; p < f.end; p++, mul *= 128) v += (b[p] & 0x7f) * mul;
  return v;
}

/** A tensor's declared element type (TensorProto.DataType) and dims: a number, a symbolic name, or null (unknown). */
export interface OnnxTensorType {
  elemType: number;
  /** null when the file declares no shape. */
  dims: (number | string | null)[] | null;
}

export interface OnnxModelInfo {
  metadata: Record<string, string>;
  inputs: string[];
  outputs: string[];
  /** Declared types of the inputs and outputs, by name; null where the file declares no tensor type. */
  types: Record<string, OnnxTensorType | null>;
  /** Initializers whose data lives in another file: [name, location]. */
  externalData: [string, string][];
}

const ELEM_TYPES: Record<number, string> = {
  1: 'float32', 2: 'uint8', 3: 'int8', 4: 'uint16', 5: 'int16', 6: 'int32', 7: 'int64', 8: 'string', 9: 'bool', 10: 'float16',
  11: 'float64', 12: 'uint32', 13: 'uint64', 16: 'bfloat16',
};
export const elemTypeName = (t: number) => ELEM_TYPES[t] ?? `element type ${t}`;

/** TypeProto -> tensor_type (1) -> elem_type (1), shape (2) -> dim (1) -> dim_value (1) | dim_param (2). */
function readType(b: Uint8Array, type: Field, where: string): OnnxTensorType | null {
  let out: OnnxTensorType | null = null;
  for (const tt of fields(b, type.start, type.end, where)) {
    if (tt.no !== 1 || tt.wire !== 2) continue;
    out = { elemType: 0, dims: null };
    for (const f of fields(b, tt.start, tt.end, where)) {
      if (f.no === 1 && f.wire === 0) out.elemType = varintValue(b, f);
      else if (f.no === 2 && f.wire === 2) {
        out.dims = [];
        for (const d of fields(b, f.start, f.end, where)) {
          if (d.no !== 1 || d.wire !== 2) continue;
          let dim: number | string | null = null;
          for (const g of fields(b, d.start, d.end, where)) {
            if (g.no === 1 && g.wire === 0) dim = varintValue(b, g);
            else if (g.no === 2 && g.wire === 2) dim = utf8(b, g);
          }
          out.dims.push(dim);
        }
      }
    }
  }
  return out;
}

/** TensorProto: name = 8, external_data = 13 (entries, key 'location'), data_location = 14 (1 = EXTERNAL). */
function externalLocation(b: Uint8Array, t: Field, where: string): [string, string] | null {
  let name = '';
  let location = '';
  let external = false;
  for (const f of fields(b, t.start, t.end, where)) {
    if (f.no === 8 && f.wire === 2) name = utf8(b, f);
    else if (f.no === 14 && f.wire === 0) external = varintValue(b, f) === 1;
    else if (f.no === 13 && f.wire === 2) {
      let key = '';
      let value = '';
      for (const g of fields(b, f.start, f.end, where)) {
        if (g.no === 1) key = utf8(b, g);
        else if (g.no === 2) value = utf8(b, g);
      }
      if (key === 'location') location = value;
    }
  }
  return external ? [name, location] : null;
}

/**
 * ModelProto: graph = 7, metadata_props = 14; GraphProto: initializer = 5, input = 11, output = 12; ValueInfo: name 1,
 * type 2; metadata Entry: key 1, value 2.
 */
export function readOnnxInfo(bytes: Uint8Array, where = 'model'): OnnxModelInfo {
  if (bytes.length === 0) throw new ModelFileError(`${where}: file is empty`);
  const info: OnnxModelInfo = { metadata: {}, inputs: [], outputs: [], types: {}, externalData: [] };
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
          let name = '';
          let type: OnnxTensorType | null = null;
          for (const h of fields(bytes, g.start, g.end, where)) {
            if (h.no === 1) name = utf8(bytes, h);
            else if (h.no === 2 && h.wire === 2) type = readType(bytes, h, where);
          }
          (g.no === 11 ? info.inputs : info.outputs).push(name);
          info.types[name] = type;
        } else if (g.no === 5 && g.wire === 2) {
          const ext = externalLocation(bytes, g, where);
          if (ext) info.externalData.push(ext);
        }
      }
    }
  }
  if (!sawGraph) throw new ModelFileError(`${where}: not an ONNX model (no graph)`);
  return info;
}
