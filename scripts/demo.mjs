// `npm start`: the main job on a built-in default, no flags and no downloads. Makes a tiny checkpoint at 32 px,
// exports it to ONNX and checks the export against TensorFlow.js, using the same CLIs a user runs.
import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(fileURLToPath(new URL('..', import.meta.url)));
const out = join(root, 'out', 'demo');
mkdirSync(out, { recursive: true });

function run(title, cli, args) {
  console.log(`\n$ ${cli.split('/').slice(-3).join('/')} ${args.join(' ')}    # ${title}`);
  const r = spawnSync(process.execPath, [join(root, cli), ...args], { stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status ?? 1);
}

const ckpt = join(out, 'ckpt');
const onnx = join(out, 'tiny.onnx');
run('a freshly initialized tiny checkpoint', 'packages/trainer/dist/cli.js', ['--model_size', 'tiny', '--img_size', '32', '--steps', '0', '--seed', '0', '--out', ckpt]);
run('hand-built ONNX graph, verified against TF.js', 'packages/exporter/dist/cli.js', [ckpt, onnx, '--verify']);
console.log(`\ndone: ${ckpt} and ${onnx}`);
