// One model in several precisions, published as transformers.js publishes them: a folder (or URL prefix) holding
// model.onnx (fp32), model_fp16.onnx, model_q8.onnx and model_q4.onnx. The runtimes' `dtype` option picks the file;
// a file names its own precision in metadata 'liquidflow.dtype' (absent: fp32, every export before dtypes existed).
import { ModelFileError } from './onnx-metadata.js';

export const MODEL_DTYPES = ['fp32', 'fp16', 'q8', 'q4'] as const;
export type ModelDtype = (typeof MODEL_DTYPES)[number];
/** What a runtime's `dtype` option takes: a precision, or 'auto' (each runtime says what it picks and why). */
export type DtypeOption = ModelDtype | 'auto';

export const dtypeFileName = (dtype: ModelDtype, base = 'model'): string => (dtype === 'fp32' ? `${base}.onnx` : `${base}_${dtype}.onnx`);

/** A source ending in .onnx (before any query) is one file; anything else is a folder or URL prefix of dtype files. */
export const isModelFolder = (source: string): boolean => !/\.onnx(?:[?#].*)?$/i.test(source);

/** The URL or path of one dtype's file in a folder: joined with '/', which Node's fs accepts on every platform. */
export const dtypeFileIn = (folder: string, dtype: ModelDtype): string => `${folder.replace(/\/+$/, '')}/${dtypeFileName(dtype)}`;

export function checkDtypeOption(dtype: unknown): DtypeOption {
  if (dtype === undefined) return 'auto';
  if (dtype === 'auto' || (MODEL_DTYPES as readonly unknown[]).includes(dtype)) return dtype as DtypeOption;
  throw new RangeError(`dtype must be 'auto' or one of ${MODEL_DTYPES.join(', ')}, got ${JSON.stringify(dtype)}`);
}

/** The precision a file says it is in. */
export function fileDtype(metadata: Record<string, string>, where: string): ModelDtype {
  const d = metadata['liquidflow.dtype'] ?? 'fp32';
  if (!(MODEL_DTYPES as readonly string[]).includes(d)) throw new ModelFileError(`${where}: metadata 'liquidflow.dtype' is '${d}', expected one of ${MODEL_DTYPES.join(', ')}`);
  return d as ModelDtype;
}

/** A file asked for by name must be the precision asked for, if one was. */
export function checkFileDtype(metadata: Record<string, string>, requested: DtypeOption, where: string): ModelDtype {
  const actual = fileDtype(metadata, where);
  if (requested !== 'auto' && requested !== actual) {
    throw new ModelFileError(`${where} is ${actual}, not the requested dtype '${requested}': load the model's folder to pick its ${dtypeFileName(requested)}, or ask for dtype '${actual}'`);
  }
  return actual;
}

/** The error for a folder without the requested dtype's file, listing the ones it has. */
export function missingDtypeError(folder: string, dtype: ModelDtype, present: readonly ModelDtype[]): ModelFileError {
  const has = present.length ? `it has ${present.map((d) => `${dtypeFileName(d)} (${d})`).join(', ')}` : `it has none of ${MODEL_DTYPES.map((d) => dtypeFileName(d)).join(', ')}`;
  return new ModelFileError(`${folder}: no ${dtypeFileName(dtype)} for dtype '${dtype}'; ${has}`);
}

/** Which dtype files a folder URL serves, by one HEAD request each (only to explain a missing one). */
export async function dtypesAtUrl(folder: string, fetchInit?: RequestInit): Promise<ModelDtype[]> {
  const found = await Promise.all(
    MODEL_DTYPES.map(async (d) => {
      try {
        const r = await fetch(dtypeFileIn(folder, d), { ...fetchInit, method: 'HEAD' });
        return r.ok ? d : null;
      } catch {
        return null;
      }
    }),
  );
  return found.filter((d): d is ModelDtype => d !== null);
}
