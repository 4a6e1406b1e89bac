// The loss curve as a PNG (log-scale y, one line per loss term), drawn into an RGBA buffer with no plotting library.
// Per-step losses are noisy (each is one batch at random t), so each term is drawn twice: its logged values as a pale
// line, and over them a moving average, thick, in full color, which is the trend people read.
import { encodePng } from '@liquidflow/runtime-node';
import { drawText } from './pixel-font.js';

export interface CurveSeries {
  name: string;
  color: [number, number, number];
  points: { step: number; value: number }[];
}

/** Centered moving average over `window` points (fewer at the ends). */
export function movingAverage(points: { step: number; value: number }[], window: number): { step: number; value: number }[] {
  const half = Math.floor(window / 2);
  return points.map((p, i) => {
    const from = Math.max(0, i - half);
    const to = Math.min(points.length, i + half + 1);
    let sum = 0;
    for (let j = from; j < to; j++) sum += points[j].value;
    return { step: p.step, value: sum / (to - from) };
  });
}

/** The pale tint of a color that its logged values are drawn in. */
export const pale = ([r, g, b]: [number, number, number]): [number, number, number] => [r, g, b].map((v) => Math.round(v + (255 - v) * 0.7)) as [number, number, number];

const W = 640;
const H = 360;
/** Height of the quality panel drawn under the losses when the run evaluates sample quality. */
const QUALITY_H = 200;
const M = { left: 52, right: 12, top: 12, bottom: 28 };
type Rgb = [number, number, number];

/** Sample quality over training (trainer --eval_every): FD per evaluation, and the real-data floor as a line. */
export interface QualityCurve {
  points: { step: number; value: number }[];
  /** FD of held-out real images: the best a generator can reach. */
  floor: number;
}

export const FD_COLOR: Rgb = [203, 75, 22];

/**
 * One log-scale panel of the picture, rows top..top+height: decade grid and labels, step ticks, each series pale
 * (logged values) then thick (moving average, or the points themselves when `smooth` is off), optional dashed
 * horizontal line, legend top right.
 */
function panel(
  px: Uint8ClampedArray, top: number, height: number, series: CurveSeries[], maxStep: number, opts: { smooth: boolean; hline?: { value: number; label: string } },
): void {
  const dot = (x: number, y: number, [r, g, b]: Rgb) => {
    if (x < 0 || y < top || x >= W || y >= top + height) return;
    const i = (Math.round(y) * W + Math.round(x)) * 4;
    px[i] = r;
    px[i + 1] = g;
    px[i + 2] = b;
  };
  const line = (x0: number, y0: number, x1: number, y1: number, c: Rgb, dash = 0) => {
    const n = Math.max(1, Math.ceil(Math.max(Math.abs(x1 - x0), Math.abs(y1 - y0))));
    for (let i = 0; i <= n; i++) if (!dash || Math.floor(i / dash) % 2 === 0) dot(x0 + ((x1 - x0) * i) / n, y0 + ((y1 - y0) * i) / n, c);
  };
  const bottom = top + height - M.bottom;
  const pts = series.flatMap((s) => s.points).filter((p) => p.value > 0 && Number.isFinite(p.value));
  if (opts.hline && opts.hline.value > 0) pts.push({ step: 0, value: opts.hline.value });
  const grey: Rgb = [200, 200, 200];
  line(M.left, bottom, W - M.right, bottom, [0, 0, 0]);
  line(M.left, top + M.top, M.left, bottom, [0, 0, 0]);
  if (pts.length) {
    const lo = Math.floor(Math.log10(Math.min(...pts.map((p) => p.value))));
    const hi = Math.ceil(Math.log10(Math.max(...pts.map((p) => p.value)))) || lo + 1;
    const sx = (step: number) => M.left + ((W - M.left - M.right) * step) / maxStep;
    const sy = (v: number) => bottom - ((bottom - top - M.top) * (Math.log10(v) - lo)) / Math.max(1, hi - lo);
    const black: Rgb = [0, 0, 0];
    for (let d = lo; d <= hi; d++) {
      line(M.left, sy(10 ** d), W - M.right, sy(10 ** d), grey); // decade grid
      drawText(`1e${d}`, 6, sy(10 ** d) - 5, 2, (x, y) => dot(x, y, black));
    }
    // Round step ticks (1, 2 or 5 x 10^k apart, about four of them), labels centered on them.
    const rough = maxStep / 4;
    const decade = 10 ** Math.floor(Math.log10(Math.max(1, rough)));
    const every = [1, 2, 5, 10].map((m) => m * decade).find((d) => d >= rough) ?? 10 * decade;
    for (let step = 0; step <= maxStep; step += every) {
      const label = String(step);
      const x = Math.min(W - label.length * 8, Math.max(M.left - label.length * 4, sx(step) - label.length * 4));
      line(sx(step), bottom, sx(step), bottom + 4, black);
      drawText(label, x, bottom + 8, 2, (px2, py) => dot(px2, py, black));
    }
    drawText('step', (W - 32) / 2, top + height - 10, 2, (x, y) => dot(x, y, [120, 120, 120]));
    if (opts.hline && opts.hline.value > 0) {
      const y = sy(opts.hline.value);
      line(M.left, y, W - M.right, y, [90, 90, 90], 4);
      drawText(opts.hline.label, M.left + 6, y - 12, 2, (x, yy) => dot(x, yy, [90, 90, 90]));
    }
    const visible = series.map((s) => s.points.filter((p) => p.value > 0 && Number.isFinite(p.value)));
    // About 40 averages across the plot's width, whatever the run's length.
    const window = opts.smooth ? Math.max(1, Math.round(Math.max(...visible.map((ps) => ps.length)) / 40)) : 1;
    // Reversed: the first series (the total) is drawn last, on top. All pale lines go under all averages.
    for (const [k, ps] of [...visible.entries()].reverse()) {
      for (let i = 1; i < ps.length; i++) line(sx(ps[i - 1].step), sy(ps[i - 1].value), sx(ps[i].step), sy(ps[i].value), pale(series[k].color));
    }
    for (const [k, ps] of [...visible.entries()].reverse()) {
      const avg = movingAverage(ps, window);
      for (let i = 1; i < avg.length; i++) {
        for (const dy of [0, 1]) line(sx(avg[i - 1].step), sy(avg[i - 1].value) + dy, sx(avg[i].step), sy(avg[i].value) + dy, series[k].color);
      }
      if (!opts.smooth) for (const p of avg) for (let dx = -2; dx <= 2; dx++) for (let dy = -2; dy <= 2; dy++) dot(sx(p.step) + dx, sy(p.value) + dy, series[k].color);
    }
  }
  // Legend, top right: a colored bar and the series name.
  series.forEach((s, i) => {
    const y = top + M.top + 6 + i * 14;
    for (let dx = 0; dx < 20; dx++) for (let dy = 0; dy < 3; dy++) dot(W - M.right - 80 + dx, y + 3 + dy, s.color);
    drawText(s.name, W - M.right - 54, y, 2, (x, yy) => dot(x, yy, s.color));
  });
}

/** The losses on a log scale; with `quality` (at least one evaluation), FD over the same steps in a panel below. */
export function lossCurvePng(series: CurveSeries[], quality?: QualityCurve): Uint8Array {
  const withQuality = !!quality && quality.points.length > 0;
  const height = H + (withQuality ? QUALITY_H : 0);
  const px = new Uint8ClampedArray(W * height * 4).fill(255);
  const steps = [...series.flatMap((s) => s.points), ...(withQuality ? quality.points : [])].map((p) => p.step);
  const maxStep = Math.max(1, ...steps);
  panel(px, 0, H, series, maxStep, { smooth: true });
  if (withQuality) {
    panel(px, H, QUALITY_H, [{ name: 'FD', color: FD_COLOR, points: quality.points }], maxStep, {
      smooth: false, hline: { value: quality.floor, label: `real data ${quality.floor.toPrecision(3)}` },
    });
  }
  return encodePng(W, height, px);
}
