// The ONNX contract both sides use: what an export declares (onnx-contract.ts names, metadata keys, format) and how a
// runtime reads it back, including files of the first format and files from a newer build.
import { describe, expect, it } from 'vitest';
import {
  ARCH_NAMES, METADATA_KEY, ModelFileError, OPTIONAL_METADATA_KEY, ONNX_FORMAT, ONNX_FORMAT_VERSION, ONNX_INPUT, ONNX_OUTPUT, modelMetadata, readLiquidFlowInfo,
  resolveConfig,
} from '@liquidflow/core';
import { freshCheckpoint } from '@liquidflow/checkpoint';
import { buildGraph, encodeModel, exportBytes } from '@liquidflow/exporter';

const SMALL = resolveConfig('tiny', { img_size: 16, dim: 32, depth: 2, head_dim: 16, d_state: 8 });
const graph = buildGraph(SMALL, freshCheckpoint(SMALL, 0).ema).graph;
const metadata = modelMetadata({ config: SMALL, trainedImgSize: 16, weights: 'ema', step: 3 });
/** The small export with its metadata edited: a key set to a value, or removed when the value is undefined. */
const withMetadata = (edits: Record<string, string | undefined>) => {
  const m: Record<string, string> = { ...metadata };
  for (const [k, v] of Object.entries(edits)) v === undefined ? delete m[k] : (m[k] = v);
  return encodeModel(graph, m);
};

function readError(bytes: Uint8Array): Error {
  try {
    readLiquidFlowInfo(bytes, 'm.onnx');
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected readLiquidFlowInfo to refuse the file');
}

describe('ONNX contract', () => {
  it('an export declares the contract: inputs x and t, output v, the current format, the config with its arch', () => {
    expect(ONNX_FORMAT).toBe(`liquidflow-onnx/${ONNX_FORMAT_VERSION}`);
    const info = readLiquidFlowInfo(exportBytes(freshCheckpoint(SMALL, 0)).bytes, 'm.onnx');
    expect(info.inputs).toEqual([ONNX_INPUT.image, ONNX_INPUT.time]);
    expect(info.outputs).toEqual([ONNX_OUTPUT.velocity]);
    expect(Object.keys(info.metadata)).toEqual(Object.values(METADATA_KEY));
    expect(info.metadata[METADATA_KEY.format]).toBe(ONNX_FORMAT);
    expect(info.formatVersion).toBe(ONNX_FORMAT_VERSION);
    expect(JSON.parse(info.metadata[METADATA_KEY.config]).arch).toBe('liquidflow');
    expect(info.config).toEqual(SMALL);
  });

  it('format 1 (a config without arch, as the first exports wrote) reads as liquidflow', () => {
    const { arch: _, ...old } = SMALL;
    const info = readLiquidFlowInfo(withMetadata({ [METADATA_KEY.format]: 'liquidflow-onnx/1', [METADATA_KEY.config]: JSON.stringify(old) }), 'm.onnx');
    expect(info.formatVersion).toBe(1);
    expect(info.config).toEqual(SMALL);
  });

  it('a file without a format key reads as format 1', () => {
    expect(readLiquidFlowInfo(withMetadata({ [METADATA_KEY.format]: undefined }), 'm.onnx').formatVersion).toBe(1);
  });

  it('a newer format is refused, naming the file and the formats this build reads', () => {
    const e = readError(withMetadata({ [METADATA_KEY.format]: `liquidflow-onnx/${ONNX_FORMAT_VERSION + 1}` }));
    expect(e).toBeInstanceOf(ModelFileError);
    expect(e.message).toBe(
      `m.onnx: format liquidflow-onnx/${ONNX_FORMAT_VERSION + 1} is newer than the formats this build reads (liquidflow-onnx/1 to ${ONNX_FORMAT_VERSION}); ` +
        'update LiquidFlow or export the model again',
    );
  });

  it('a malformed format is refused, naming the key', () => {
    expect(readError(withMetadata({ [METADATA_KEY.format]: 'onnx-v2' })).message).toBe("m.onnx: metadata 'liquidflow.format' is 'onnx-v2', expected 'liquidflow-onnx/<version>'");
  });

  it('a config of an unknown arch is refused, naming the file and the known families', () => {
    const e = readError(withMetadata({ [METADATA_KEY.config]: JSON.stringify({ ...SMALL, arch: 'liquidfoo' }) }));
    expect(e).toBeInstanceOf(ModelFileError);
    expect(e.message).toBe(`m.onnx metadata 'liquidflow.config': unknown arch "liquidfoo": known families are ${ARCH_NAMES.join(', ')}`);
  });

  it('upsample guidance metadata is checked: valid JSON, eta in (0, 1], a positive scale, factor x trained size = img_size', () => {
    const key = OPTIONAL_METADATA_KEY.upsampleGuidance;
    expect(key).toBe('liquidflow.upsample_guidance');
    const msg = (value: string) => readError(withMetadata({ [key]: value })).message;
    expect(msg('{eta')).toBe(`m.onnx: metadata '${key}' is not valid JSON, got '{eta'`);
    expect(msg('{"eta":0,"scale":1,"trained_img_size":16,"factor":2}')).toMatch(/needs eta in \(0, 1\]/);
    expect(msg('{"eta":0.3,"scale":"1","trained_img_size":16,"factor":2}')).toMatch(/needs a positive scale/);
    // This file generates at its trained size 16: no factor fits.
    expect(msg('{"eta":0.3,"scale":1,"trained_img_size":16,"factor":2}')).toMatch(/needs trained_img_size 16 and factor img_size \/ trained_img_size = 1 \(an integer >= 2\)/);
    expect(readLiquidFlowInfo(withMetadata({})).upsampleGuidance).toBeUndefined();
  });
});
