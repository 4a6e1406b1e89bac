#!/usr/bin/env node
// liquidflow-export CKPT_DIR|MODEL.onnx OUT.onnx [--weights ema|raw] [--img_size PX [--upsample_guidance [--guidance_eta E] [--guidance_scale W]]]
//                   [--dtype fp32|fp16|q8|q4|all] [--verify] [--batch N]
import { mkdir, readFile, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { type FlagSpec, MODEL_DTYPES, type ModelDtype, dtypeFileName, parseCommandLine, readLiquidFlowInfo } from '@liquidflow/core';
import { writeFileAtomic } from '@liquidflow/checkpoint';
import { selectBackend, describeChoice } from '@liquidflow/tfjs';
import { exportCheckpointBytes, exportTarget, type WeightSet } from './export-model.js';
import { VERIFY_TOLERANCE, verifyExport, verifyGuidedExport } from './verify.js';
import { convertDtype } from './dtype.js';
import { GUIDANCE_DEFAULTS, type GuidanceOptions, checkGuidanceOptions } from './upsample-guidance.js';

const HELP = `Usage: liquidflow-export CKPT_DIR OUT.onnx [options]
       liquidflow-export MODEL.onnx OUT.onnx --dtype fp16|q8|q4      (convert an fp32 export)

Builds the model's ONNX graph (opset 17, inputs x [N,C,H,W] and t [N], output v) from a checkpoint directory.

Options:
  --dtype LIST        fp32 (default), fp16 (weights stored as float16), q8 (8-bit MatMul weights), q4 (4-bit
                      MatMulNBits), a comma list, or all. With several, OUT.onnx names the fp32 file and the others
                      go beside it as transformers.js names them: model.onnx, model_fp16.onnx, model_q8.onnx, model_q4.onnx
  --weights ema|raw   which weights to export (default: ema, the averaged weights)
  --img_size PX       generate at PX instead of the trained size: training-free upsampling, every weight as trained
                      except those that depend on the size (LiquidFlow: the position table, resampled to the new
                      token grid, PX a multiple of patch_size; LiquidDiffusion: none, PX a multiple of 2^(stages-1))
  --upsample_guidance with --img_size m times the trained size (m an integer >= 2): the one model also runs the
                      trained-size network on the m x m average-pooled input and, where t >= 1 - eta, corrects the
                      low frequencies of the velocity toward it (inputs and outputs unchanged; see the README)
  --guidance_eta E    the share of the noisiest steps guided, in (0, 1] (default ${GUIDANCE_DEFAULTS.eta})
  --guidance_scale W  weight of the correction, > 0 (default ${GUIDANCE_DEFAULTS.scale}: the pooled velocity becomes the
                      trained-size model's estimate)
  --verify            run the graph on onnxruntime-node and the same weights in TensorFlow.js on one random batch at
                      the exported size; prints max_abs_err and exits 1 if it is over ${VERIFY_TOLERANCE} (with
                      --upsample_guidance, TF.js runs both sizes and the guidance formula)
  --batch N           batch size for --verify (default 4, t spread over [0, 1])
  -h, --help          show this help

Flags are --snake_case; kebab-case aliases (--img-size) are accepted.`;

const FLAGS = {
  weights: { type: 'string', default: 'ema', help: 'ema or raw' },
  img_size: { type: 'string', default: undefined, help: 'generate at this size' },
  dtype: { type: 'string', default: 'fp32', help: 'fp32, fp16, q8, q4, a comma list, or all' },
  upsample_guidance: { type: 'boolean', default: false, help: 'build upsample guidance into the graph' },
  guidance_eta: { type: 'number', default: undefined, help: `guided where t >= 1 - eta (default ${GUIDANCE_DEFAULTS.eta})` },
  guidance_scale: { type: 'number', default: undefined, help: `correction weight (default ${GUIDANCE_DEFAULTS.scale})` },
  verify: { type: 'boolean', default: false, help: 'check the graph against TF.js' },
  batch: { type: 'number', default: 4, help: 'batch size for --verify' },
} satisfies FlagSpec;

function parseArgs(argv: string[]) {
  if (argv.includes('-h') || argv.includes('--help')) {
    console.log(HELP);
    process.exit(0);
  }
  const { flags, positionals } = parseCommandLine(argv, FLAGS, 'liquidflow-export', 2);
  if (flags.weights !== 'ema' && flags.weights !== 'raw') throw new Error(`--weights must be ema or raw, got '${flags.weights}'`);
  const batch = flags.batch as number;
  if (!Number.isInteger(batch) || batch < 1) throw new Error('--batch must be a positive integer');
  const rawSize = flags.img_size as string | undefined;
  // The patch_size check needs the checkpoint; exportTarget makes it.
  if (rawSize !== undefined && (!/^\d+$/.test(rawSize) || Number(rawSize) < 1)) throw new Error(`--img_size must be a positive integer (pixels), got '${rawSize}'`);
  const imgSize = rawSize === undefined ? undefined : Number(rawSize);
  const v = String(flags.dtype);
  const list = v === 'all' ? [...MODEL_DTYPES] : v.split(',');
  if (list.length === 0 || list.some((d) => !(MODEL_DTYPES as readonly string[]).includes(d))) throw new Error(`--dtype must be ${MODEL_DTYPES.join(', ')}, a comma list of them, or all; got '${v}'`);
  if (positionals.length !== 2) throw new Error(`expected CKPT_DIR and OUT.onnx, got ${positionals.length} argument(s) (see --help)`);
  const guidance = guidanceArgs(flags.upsample_guidance as boolean, flags.guidance_eta as number | undefined, flags.guidance_scale as number | undefined, imgSize);
  return { ckpt: positionals[0], out: positionals[1], weights: flags.weights as WeightSet, verify: flags.verify as boolean, batch, imgSize, guidance, dtypes: [...new Set(list)] as ModelDtype[] };
}

/** --upsample_guidance and its two settings; the settings alone, or guidance without a new size, are errors. */
function guidanceArgs(on: boolean, eta: number | undefined, scale: number | undefined, imgSize: number | undefined): GuidanceOptions | undefined {
  if (!on) {
    if (eta !== undefined || scale !== undefined) throw new Error(`--guidance_eta and --guidance_scale need --upsample_guidance`);
    return undefined;
  }
  // The multiple-of-the-trained-size check needs the checkpoint; exportBytes makes it.
  if (imgSize === undefined) throw new Error('--upsample_guidance needs --img_size, a multiple (2x or more) of the trained size');
  const o = { eta: eta ?? GUIDANCE_DEFAULTS.eta, scale: scale ?? GUIDANCE_DEFAULTS.scale };
  checkGuidanceOptions(o);
  return o;
}

const mb = (n: number) => `${(n / 1e6).toFixed(2)} MB`;

/** Where each dtype goes: OUT itself for one dtype; beside OUT, by transformers.js's names, for several. */
function outputPaths(out: string, dtypes: ModelDtype[]): Map<ModelDtype, string> {
  if (dtypes.length === 1) return new Map([[dtypes[0], out]]);
  const base = basename(out).replace(/\.onnx$/, '');
  return new Map(dtypes.map((d) => [d, join(dirname(out), dtypeFileName(d, base))]));
}

/** Writes the other precisions of an fp32 model's bytes; prints one line each. */
async function writeDtypes(fp32: Uint8Array, paths: Map<ModelDtype, string>): Promise<void> {
  for (const [dtype, path] of paths) {
    if (dtype === 'fp32') continue;
    const r = convertDtype(fp32, dtype);
    await writeFileAtomic(path, r.bytes);
    console.log(`wrote ${path}: ${dtype}, ${r.converted} weights converted, ${r.bytes.length.toLocaleString('en-US')} bytes (${mb(r.bytes.length)}, ${((100 * r.bytes.length) / fp32.length).toFixed(1)}% of fp32)`);
  }
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const t0 = performance.now();
  const paths = outputPaths(args.out, args.dtypes);
  await mkdir(dirname(args.out), { recursive: true });
  if ((await stat(args.ckpt).catch(() => null))?.isFile()) {
    // An existing export: convert it.
    if (args.verify || args.imgSize !== undefined) throw new Error(`${args.ckpt}: --verify, --img_size and --upsample_guidance need a checkpoint directory, not a model file`);
    const bytes = new Uint8Array(await readFile(args.ckpt));
    const info = readLiquidFlowInfo(bytes, args.ckpt);
    if ((info.metadata['liquidflow.dtype'] ?? 'fp32') !== 'fp32') throw new Error(`${args.ckpt}: already ${info.metadata['liquidflow.dtype']}; convert the fp32 model`);
    if (paths.has('fp32')) throw new Error(`${args.ckpt} is the fp32 model already: --dtype lists only the precisions to write from it`);
    await writeDtypes(bytes, paths);
    return;
  }
  process.stderr.write(`exporting ${args.ckpt} (${args.weights} weights) ...\n`);
  const r = await exportCheckpointBytes(args.ckpt, args.weights, args.imgSize, args.guidance);
  const fp32Path = paths.get('fp32');
  if (fp32Path) await writeFileAtomic(fp32Path, r.bytes);
  const cfg = r.target.config;
  const size = cfg.img_size === r.target.trainedImgSize ? `${cfg.img_size}px` : `${cfg.img_size}px (trained at ${r.target.trainedImgSize}px, weights resized)`;
  const g = r.guidance;
  const guided = g ? `, upsample guidance (${g.trainedImgSize}px pass, eta ${g.eta}, scale ${g.scale})` : '';
  console.log(
    `${fp32Path ? `wrote ${fp32Path}` : 'built the fp32 graph'}: ${r.nodes} nodes, ${r.params.toLocaleString('en-US')} params, ${r.bytes.length.toLocaleString('en-US')} bytes (${mb(r.bytes.length)}), ` +
      `${cfg.arch} ${cfg.variant}, ${size}${guided}, step ${r.checkpoint.step}, ${args.weights} weights, ${((performance.now() - t0) / 1000).toFixed(1)} s`,
  );
  const bytes = r.bytes;
  await writeDtypes(bytes, paths);
  if (!args.verify) return;
  process.stderr.write(`${describeChoice(await selectBackend())}\nverifying the fp32 graph on a batch of ${args.batch} ...\n`);
  const v = g
    ? await verifyGuidedExport(bytes, exportTarget(r.checkpoint, args.weights), r.target, g, args.batch)
    : await verifyExport(bytes, cfg, r.target.weights, args.batch);
  console.log(`max_abs_err=${v.maxAbsErr.toExponential(3)} (max |v| ${v.maxAbsRef.toFixed(3)}, batch ${v.batch}, t=[${v.t.map((x) => x.toFixed(2)).join(', ')}])`);
  if (!(v.maxAbsErr <= VERIFY_TOLERANCE)) {
    console.error(`verify FAILED: max_abs_err ${v.maxAbsErr} is over ${VERIFY_TOLERANCE}`);
    process.exit(1);
  }
  console.log(`verify passed (tolerance ${VERIFY_TOLERANCE})`);
}

main().then(
  () => process.exit(0),
  (e: Error) => {
    console.error(`liquidflow-export: ${e.message}`);
    process.exit(1);
  },
);
