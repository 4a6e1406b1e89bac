// The one check of liquidflow-train's options, for the values given as flags and for those a --resume takes from the
// checkpoint's config.json (train record): both reach the same allocations and loops, so both get the same limits.
import { LIQUIDFLOW_LIMITS, MAX_COUNT, MAX_STEPS, SCAN_SCHEDULES, SMOOTHERS, SSM_FORMS } from '@liquidflow/core';

type Rule = { kind: 'int'; min: number; max?: number } | { kind: 'number'; min: number; max?: number } | { kind: 'boolean' } | { kind: 'string' }
  | { kind: 'enum'; values: readonly string[] };

/** Images per training batch: 4096 at 128 px is already a 0.8 GB batch tensor. */
export const MAX_BATCH_SIZE = 4096;

const RULES: Record<string, Rule> = {
  epochs: { kind: 'int', min: 1 },
  batch_size: { kind: 'int', min: 1, max: MAX_BATCH_SIZE },
  log_every: { kind: 'int', min: 1 },
  sample_every: { kind: 'int', min: 1 },
  save_every: { kind: 'int', min: 1 },
  // Sample grids go through the sampler, whose limits they share.
  sample_count: { kind: 'int', min: 1, max: MAX_COUNT },
  sample_steps: { kind: 'int', min: 1, max: MAX_STEPS },
  eval_every: { kind: 'int', min: 0 },
  // Every evaluation embeds this many generated, reference and held-out images and compares them pairwise.
  eval_count: { kind: 'int', min: 4, max: 50_000 },
  seed: { kind: 'int', min: -Infinity },
  steps: { kind: 'int', min: 0 },
  // The upper limit of img_size is the config's (validateConfig), checked when the config is resolved.
  img_size: { kind: 'int', min: 1 },
  warmup_steps: { kind: 'int', min: 0 },
  lr_decay_steps: { kind: 'int', min: 0 },
  physics_warmup: { kind: 'int', min: 0 },
  prefetch: { kind: 'int', min: 0, max: 64 },
  threads: { kind: 'int', min: 0, max: 256 },
  lr: { kind: 'number', min: 0 },
  weight_decay: { kind: 'number', min: 0 },
  grad_clip: { kind: 'number', min: 0 },
  ema_decay: { kind: 'number', min: 0, max: 1 },
  lambda_smooth: { kind: 'number', min: 0 },
  lambda_tv: { kind: 'number', min: 0 },
  flip: { kind: 'boolean' },
  dataset: { kind: 'string' },
  data_dir: { kind: 'string' },
  eval_features: { kind: 'string' },
  // LiquidFlow's architecture overrides (the config's own check bounds them again, with the model's other fields).
  pad_tokens: { kind: 'int', min: 0, max: LIQUIDFLOW_LIMITS.pad_tokens },
  smoothers: { kind: 'enum', values: SMOOTHERS },
  scan_schedule: { kind: 'enum', values: SCAN_SCHEDULES },
  ssm: { kind: 'enum', values: SSM_FORMS },
};

/**
 * Checks every option present in `values` (undefined means unset) and throws an Error from `makeError` whose message
 * starts with `name(option)`: '--batch_size' for a flag, "ckpt/config.json: field 'train.batch_size'" for a resume.
 */
export function checkTrainOptions(
  values: Readonly<Record<string, unknown>>, name: (option: string) => string, makeError: (message: string) => Error = (m) => new Error(m),
): void {
  for (const [k, v] of Object.entries(values)) {
    const rule = RULES[k];
    if (!rule || v === undefined) continue;
    const fail = (expected: string) => {
      throw makeError(`${name(k)} must be ${expected}, got ${typeof v === 'string' ? `'${v}'` : JSON.stringify(v) ?? String(v)}`);
    };
    if (rule.kind === 'enum') {
      if (typeof v !== 'string' || !rule.values.includes(v)) fail(`one of ${rule.values.join(', ')}`);
      continue;
    }
    if (rule.kind === 'boolean' || rule.kind === 'string') {
      if (typeof v !== rule.kind) fail(`a ${rule.kind}`);
      continue;
    }
    const what = rule.kind === 'int'
      ? rule.min === 1 ? 'a positive integer' : rule.min === 0 ? 'a non-negative integer' : 'an integer'
      : rule.min === 0 ? 'a non-negative number' : 'a number';
    if (typeof v !== 'number' || !Number.isFinite(v) || (rule.kind === 'int' && !Number.isInteger(v)) || v < rule.min) fail(what);
    if (rule.max !== undefined && (v as number) > rule.max) throw makeError(`${name(k)} is ${v}, above the limit of ${rule.max}`);
  }
}
