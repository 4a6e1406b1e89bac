#!/usr/bin/env node
// liquidflow-export CKPT_DIR OUT.onnx [--weights ema|raw] [--img_size PX] [--verify] [--batch N]
import { readFile } from 'node:fs/promises';
import { selectBackend, describeChoice } from '@liquidflow/tfjs';
import { exportCheckpoint, type WeightSet } from './export-model.js';
import { VERIFY_TOLERANCE, verifyExport } from './verify.js';

const HELP = `Usage: liquidflow-export CKPT_DIR OUT.onnx [options]

Builds the model's ONNX graph (opset 17, inputs x [N,C,H,W] and t [N], output v) from a checkpoint directory.

Options:
  --weights ema|raw   which weights to export (default: ema, the averaged weights)
  --img_size PX       generate at PX instead of the trained size: training-free upsampling, every weight as trained
                      except those that depend on the size (LiquidFlow: the position table, resampled to the new
                      token grid; PX a multiple of patch_size)
  --verify            run the graph on onnxruntime-node and the same weights in TensorFlow.js on one random batch at
                      the exported size; prints max_abs_err and exits 1 if it is over ${VERIFY_TOLERANCE}
  --batch N           batch size for --verify (default 4, t spread over [0, 1])
  -h, --help          show this help

Flags are --snake_case; kebab-case aliases (--img-size) are accepted.`;

function parseArgs(argv: string[]) {
  const positional: string[] = [];
  const opts = { weights: 'ema' as WeightSet, verify: false, batch: 4, imgSize: undefined as number | undefined };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const eq = a.startsWith('--') ? a.indexOf('=') : -1;
    const raw = eq < 0 ? a : a.slice(0, eq);
    const flag = raw.startsWith('--') ? `--${raw.slice(2).replace(/-/g, '_')}` : raw; // kebab-case aliases, as in liquidflow-train
    const inline = eq < 0 ? undefined : a.slice(eq + 1);
    const value = () => {
      const v = inline ?? argv[++i];
      if (v === undefined) throw new Error(`${flag} needs a value`);
      return v;
    };
    if (flag === '-h' || flag === '--help') {
      console.log(HELP);
      process.exit(0);
    } else if (flag === '--weights') {
      const w = value();
      if (w !== 'ema' && w !== 'raw') throw new Error(`--weights must be ema or raw, got '${w}'`);
      opts.weights = w;
    } else if (flag === '--verify') opts.verify = true;
    else if (flag === '--batch') {
      opts.batch = Number(value());
      if (!Number.isInteger(opts.batch) || opts.batch < 1) throw new Error('--batch must be a positive integer');
    } else if (flag === '--img_size') {
      const v = value();
      opts.imgSize = Number(v);
      // The patch_size check needs the checkpoint; exportTarget makes it.
      if (!/^\d+$/.test(v) || opts.imgSize < 1) throw new Error(`--img_size must be a positive integer (pixels), got '${v}'`);
    } else if (flag.startsWith('-')) throw new Error(`unknown option '${raw}' (see --help)`);
    else positional.push(a);
  }
  if (positional.length !== 2) throw new Error(`expected CKPT_DIR and OUT.onnx, got ${positional.length} argument(s) (see --help)`);
  return { ckpt: positional[0], out: positional[1], ...opts };
}

const mb = (n: number) => `${(n / 1e6).toFixed(2)} MB`;

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const t0 = performance.now();
  process.stderr.write(`exporting ${args.ckpt} (${args.weights} weights) ...\n`);
  const r = await exportCheckpoint(args.ckpt, args.out, args.weights, args.imgSize);
  const cfg = r.target.config;
  const size = cfg.img_size === r.target.trainedImgSize ? `${cfg.img_size}px` : `${cfg.img_size}px (trained at ${r.target.trainedImgSize}px, weights resized)`;
  console.log(
    `wrote ${r.path}: ${r.nodes} nodes, ${r.params.toLocaleString('en-US')} params, ${r.bytes.toLocaleString('en-US')} bytes (${mb(r.bytes)}), ` +
      `${cfg.arch} ${cfg.variant}, ${size}, step ${r.checkpoint.step}, ${args.weights} weights, ${((performance.now() - t0) / 1000).toFixed(1)} s`,
  );
  if (!args.verify) return;
  process.stderr.write(`${describeChoice(await selectBackend())}\nverifying on a batch of ${args.batch} ...\n`);
  const bytes = new Uint8Array(await readFile(args.out));
  const v = await verifyExport(bytes, cfg, r.target.weights, args.batch);
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
