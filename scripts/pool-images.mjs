#!/usr/bin/env node
// node scripts/pool-images.mjs IN_DIR OUT_DIR FACTOR
// Average-pools every PNG in IN_DIR by FACTOR x FACTOR (what upsample guidance compares at) into OUT_DIR, so images
// generated above the trained size can be scored by liquidflow-eval at the size its feature network reads.
import { mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { deflateSync } from 'node:zlib';
import { join } from 'node:path';
import pngjs from 'pngjs';
import { encodePng } from '@liquidflow/core';
import { writeFileAtomic } from '@liquidflow/checkpoint';

const [inDir, outDir, factorArg] = process.argv.slice(2);
const m = Number(factorArg);
if (!inDir || !outDir || !Number.isInteger(m) || m < 1) {
  console.error('usage: node scripts/pool-images.mjs IN_DIR OUT_DIR FACTOR (an integer >= 1)');
  process.exit(1);
}
mkdirSync(outDir, { recursive: true });
const files = readdirSync(inDir).filter((f) => f.endsWith('.png')).sort();
for (const f of files) {
  const png = pngjs.PNG.sync.read(readFileSync(join(inDir, f)));
  const { width: W, height: H, data } = png;
  if (W % m || H % m) throw new Error(`${join(inDir, f)}: ${W}x${H} is not a multiple of ${m}`);
  const w = W / m;
  const h = H / m;
  const out = new Uint8Array(w * h * 4);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      for (let c = 0; c < 4; c++) {
        let sum = 0;
        for (let i = 0; i < m; i++) for (let j = 0; j < m; j++) sum += data[((y * m + i) * W + x * m + j) * 4 + c];
        out[(y * w + x) * 4 + c] = Math.round(sum / (m * m));
      }
    }
  }
  await writeFileAtomic(join(outDir, f), encodePng(w, h, out, deflateSync));
}
console.log(`pooled ${files.length} images ${m}x${m} from ${inDir} into ${outDir}`);
