// The contract of a LiquidFlow .onnx file, for every family: what the exporter writes and the runtimes read. Both
// sides import these names; neither spells them.
//   inputs   x [N, C, H, W] float32, the noisy image x_t;  t [N] float32 in [0, 1]
//   output   v [N, C, H, W] float32, the velocity (time convention in flow.ts)
//   metadata_props  liquidflow.format, .config (JSON: the config it generates at, with its arch), .trained_img_size,
//                   .weights, .step, .time_convention; .upsample_guidance (JSON) only where guidance is built in
// Every weight lives inside the one file, and N is free (the sampler picks the count).
import { validateConfig } from './config.js';
import type { ModelConfig } from './families/registry.js';
import { ModelFileError, type OnnxModelInfo, elemTypeName, readOnnxInfo } from './onnx-metadata.js';

export const ONNX_INPUT = { image: 'x', time: 't' } as const;
export const ONNX_OUTPUT = { velocity: 'v' } as const;

export const METADATA_KEY = {
  format: 'liquidflow.format',
  config: 'liquidflow.config',
  /** Differs from the config's img_size when the model was exported to generate at another size. */
  trainedImgSize: 'liquidflow.trained_img_size',
  /** 'ema' or 'raw'. */
  weights: 'liquidflow.weights',
  step: 'liquidflow.step',
  timeConvention: 'liquidflow.time_convention',
} as const;

/** Keys only some exports have. */
export const OPTIONAL_METADATA_KEY = {
  /**
   * Upsample guidance built into the graph (liquidflow-export --upsample_guidance): JSON {eta, scale,
   * trained_img_size, factor}. Informational: inputs and outputs are unchanged, so a runtime that does not know the
   * key runs the file as it is, and the format version stays 2.
   */
  upsampleGuidance: 'liquidflow.upsample_guidance',
} as const;

/** 2: the config carries `arch`. 1: LiquidFlow's fields only, read as arch 'liquidflow'. */
export const ONNX_FORMAT_VERSION = 2;
const FORMAT_PREFIX = 'liquidflow-onnx/';
export const ONNX_FORMAT = `${FORMAT_PREFIX}${ONNX_FORMAT_VERSION}`;
/** ONNX opset of every node (17: the newest Debian's python3-onnx 1.12 checker knows; WebGPU and WASM run all of it). */
export const OPSET = 17;
export const TIME_CONVENTION = 'x_t = (1 - t) * x0 + t * noise; v = noise - x0; sample from t=1 to t=0';

/** Upsample guidance built into an export's graph (packages/exporter/README.md derives it). */
export interface UpsampleGuidance {
  /** Guidance acts where t >= 1 - eta (the noisiest steps). */
  eta: number;
  /** Weight w of the low-frequency correction; 1 moves the pooled velocity onto the low-resolution target. */
  scale: number;
  /** The size the second pass runs at (the trained size). */
  trainedImgSize: number;
  /** img_size / trainedImgSize, the average-pooling factor m (an integer >= 2). */
  factor: number;
}

export interface ModelMetadata {
  /** The config at the size the model generates at. */
  config: ModelConfig;
  trainedImgSize: number;
  weights: string;
  step: number;
  upsampleGuidance?: UpsampleGuidance;
}

/** metadata_props of an export, in this order. */
export function modelMetadata(m: ModelMetadata): Record<string, string> {
  return {
    [METADATA_KEY.format]: ONNX_FORMAT,
    [METADATA_KEY.config]: JSON.stringify(m.config),
    [METADATA_KEY.trainedImgSize]: String(m.trainedImgSize),
    [METADATA_KEY.weights]: m.weights,
    [METADATA_KEY.step]: String(m.step),
    [METADATA_KEY.timeConvention]: TIME_CONVENTION,
    ...(m.upsampleGuidance ? { [OPTIONAL_METADATA_KEY.upsampleGuidance]: upsampleGuidanceJson(m.upsampleGuidance) } : {}),
  };
}

function upsampleGuidanceJson(g: UpsampleGuidance): string {
  return JSON.stringify({ eta: g.eta, scale: g.scale, trained_img_size: g.trainedImgSize, factor: g.factor });
}

/** The metadata's upsample guidance, checked against the config it generates at; undefined when absent. */
function readUpsampleGuidance(raw: string | undefined, config: ModelConfig, trainedImgSize: number, where: string): UpsampleGuidance | undefined {
  if (raw === undefined) return undefined;
  const bad = (why: string) => new ModelFileError(`${where}: metadata '${OPTIONAL_METADATA_KEY.upsampleGuidance}' ${why}, got '${raw}'`);
  let p: Record<string, unknown>;
  try {
    p = JSON.parse(raw);
  } catch {
    throw bad('is not valid JSON');
  }
  const eta = p?.eta;
  const scale = p?.scale;
  const factor = p?.factor;
  if (typeof eta !== 'number' || !(eta > 0 && eta <= 1)) throw bad('needs eta in (0, 1]');
  if (typeof scale !== 'number' || !(scale > 0) || !Number.isFinite(scale)) throw bad('needs a positive scale');
  if (p.trained_img_size !== trainedImgSize || typeof factor !== 'number' || !Number.isInteger(factor) || factor < 2 || factor * trainedImgSize !== config.img_size) {
    throw bad(`needs trained_img_size ${trainedImgSize} and factor img_size / trained_img_size = ${config.img_size / trainedImgSize} (an integer >= 2)`);
  }
  return { eta, scale, trainedImgSize, factor };
}

export interface LiquidFlowModelInfo extends OnnxModelInfo {
  /** The format version the file declares. */
  formatVersion: number;
  /** The size the model generates at is config.img_size. */
  config: ModelConfig;
  /** The size it was trained at: differs from config.img_size when exported with resized weights. */
  trainedImgSize: number;
  step: number;
  weights: string;
  /** Guidance built into the graph; undefined for a plain export. */
  upsampleGuidance?: UpsampleGuidance;
}

/** Every export has declared its format; a file without one is read as the first. */
function formatVersion(value: string | undefined, where: string): number {
  if (value === undefined) return 1;
  const m = /^liquidflow-onnx\/(\d+)$/.exec(value);
  if (!m) throw new ModelFileError(`${where}: metadata '${METADATA_KEY.format}' is '${value}', expected '${FORMAT_PREFIX}<version>'`);
  const version = Number(m[1]);
  if (version < 1 || version > ONNX_FORMAT_VERSION) {
    throw new ModelFileError(
      `${where}: format ${value} is ${version > ONNX_FORMAT_VERSION ? 'newer than' : 'not one of'} the formats this build reads (${FORMAT_PREFIX}1 to ${ONNX_FORMAT_VERSION}); ` +
        'update LiquidFlow or export the model again',
    );
  }
  return version;
}

/** Checks that an ONNX file is a LiquidFlow export (inputs x and t, output v, config in metadata) and returns it. */
export function readLiquidFlowInfo(bytes: Uint8Array, where = 'model'): LiquidFlowModelInfo {
  const info = readOnnxInfo(bytes, where);
  const K = METADATA_KEY;
  const raw = info.metadata[K.config];
  if (raw === undefined) {
    throw new ModelFileError(`${where}: not a LiquidFlow export (no '${K.config}' in metadata_props; export it with liquidflow-export)`);
  }
  const inputs = [ONNX_INPUT.image, ONNX_INPUT.time];
  const outputs = [ONNX_OUTPUT.velocity];
  if (info.inputs.join() !== inputs.join() || info.outputs.join() !== outputs.join()) {
    throw new ModelFileError(`${where}: not a LiquidFlow export (inputs [${info.inputs}] and outputs [${info.outputs}], expected [${inputs}] and [${outputs}])`);
  }
  const version = formatVersion(info.metadata[K.format], where);
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch (e) {
    throw new ModelFileError(`${where}: metadata '${K.config}' is not valid JSON (${(e as Error).message})`);
  }
  let config: ModelConfig;
  try {
    config = validateConfig(parsed, `${where} metadata '${K.config}'`);
  } catch (e) {
    throw new ModelFileError((e as Error).message);
  }
  checkSamplerContract(info, config, where);
  // Exports older than the trained_img_size key were always at the trained size.
  const trainedRaw = info.metadata[K.trainedImgSize] ?? String(config.img_size);
  const trainedImgSize = Number(trainedRaw);
  if (!/^\d+$/.test(trainedRaw) || trainedImgSize < 1) {
    throw new ModelFileError(`${where}: metadata '${K.trainedImgSize}' must be a positive integer, got '${trainedRaw}'`);
  }
  const upsampleGuidance = readUpsampleGuidance(info.metadata[OPTIONAL_METADATA_KEY.upsampleGuidance], config, trainedImgSize, where);
  return {
    ...info, formatVersion: version, config, trainedImgSize, step: Number(info.metadata[K.step] ?? 0), weights: info.metadata[K.weights] ?? 'unknown',
    ...(upsampleGuidance ? { upsampleGuidance } : {}),
  };
}

const shapeText = (dims: (number | string | null)[]) => `[${dims.map((d) => d ?? '?').join(', ')}]`;

/**
 * What the sampler relies on, checked against the file's own declarations so that a mismatch fails at load naming
 * the file, not later inside onnxruntime: x [N, C, H, W] and v of the same shape, t [N], all float32, with C, H and W
 * those of the metadata's config and N free (generate() picks the count); every weight inside this one file.
 */
function checkSamplerContract(info: OnnxModelInfo, config: ModelConfig, where: string): void {
  if (info.externalData.length) {
    const [name, location] = info.externalData[0];
    throw new ModelFileError(
      `${where}: ${info.externalData.length} weight tensor(s) are stored outside this file (e.g. '${name}' in '${location || '?'}'); ` +
        'LiquidFlow runtimes load one self-contained .onnx: export it again with liquidflow-export',
    );
  }
  const C = config.in_channels;
  const S = config.img_size;
  const image: [string, number | null][] = [['N', null], ['C', C], ['H', S], ['W', S]];
  const want: [string, 'input' | 'output', [string, number | null][]][] = [
    [ONNX_INPUT.image, 'input', image],
    [ONNX_INPUT.time, 'input', [['N', null]]],
    [ONNX_OUTPUT.velocity, 'output', image],
  ];
  for (const [name, kind, dims] of want) {
    const type = info.types[name];
    if (!type || !type.dims) throw new ModelFileError(`${where}: ${kind} '${name}' declares no tensor type and shape (expected float32 ${shapeText(dims.map(([n, v]) => v ?? n))})`);
    if (type.elemType !== 1) throw new ModelFileError(`${where}: ${kind} '${name}' is ${elemTypeName(type.elemType)}, but the sampler ${kind === 'input' ? 'feeds' : 'reads'} float32`);
    const expected = shapeText(dims.map(([n, v]) => v ?? n));
    const bad =
      type.dims.length !== dims.length ||
      dims.some(([, v], i) => (v === null ? typeof type.dims![i] === 'number' : type.dims![i] !== v));
    if (bad) {
      throw new ModelFileError(
        `${where}: ${kind} '${name}' has shape ${shapeText(type.dims)}, but metadata '${METADATA_KEY.config}' (in_channels ${C}, img_size ${S}) ` +
          `needs ${expected} with a free batch dimension N`,
      );
    }
  }
}
