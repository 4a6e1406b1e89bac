// The loss curve as a PNG (log-scale y, one line per loss term), drawn into an RGBA buffer with no plotting library.
import { encodePng } from '@liquidflow/core';
import { drawText } from './pixel-font.js';

export interface CurveSeries {
  name: string;
  color: [number, number, number];
  points: { step: number; value: number }[];
}

const W = 640;
const H = 360;
const M = { left: 52, right: 12, top: 12, bottom: 28 };

export function lossCurvePng(series: CurveSeries[]): Uint8Array {
  const px = new Uint8ClampedArray(W * H * 4).fill(255);
  const dot = (x: number, y: number, [r, g, b]: [number, number, number]) => {
    if (x < 0 || y < 0 || x >= W || y >= H) return;
    const i = (Math.round(y) * W + Math.round(x)) * 4;
    px[i] = r;
    px[i + 1] = g;
    px[i + 2] = b;
  };
  const line = (x0: number, y0: number, x1: number, y1: number, c: [number, number, number]) => {
    const n = Math.max(1, Math.ceil(Math.max(Math.abs(x1 - x0), Math.abs(y1 - y0))));
    for (let i = 0; i <= n; i++) dot(x0 + ((x1 - x0) * i) / n, y0 + ((y1 - y0) * i) / n, c);
  };
  const pts = series.flatMap((s) => s.points).filter((p) => p.value > 0 && Number.isFinite(p.value));
  const grey: [number, number, number] = [200, 200, 200];
  line(M.left, H - M.bottom, W - M.right, H - M.bottom, [0, 0, 0]);
  line(M.left, M.top, M.left, H - M.bottom, [0, 0, 0]);
  if (pts.length) {
    const maxStep = Math.max(1, ...pts.map((p) => p.step));
    const lo = Math.floor(Math.log10(Math.min(...pts.map((p) => p.value))));
    const hi = Math.ceil(Math.log10(Math.max(...pts.map((p) => p.value)))) || lo + 1;
    const sx = (step: number) => M.left + ((W - M.left - M.right) * step) / maxStep;
    const sy = (v: number) => H - M.bottom - ((H - M.top - M.bottom) * (Math.log10(v) - lo)) / Math.max(1, hi - lo);
    const black: [number, number, number] = [0, 0, 0];
    for (let d = lo; d <= hi; d++) {
      line(M.left, sy(10 ** d), W - M.right, sy(10 ** d), grey); // decade grid
      drawText(`1e${d}`, 6, sy(10 ** d) - 5, 2, (x, y) => dot(x, y, black));
    }
    for (let i = 0; i <= 4; i++) {
      const step = Math.round((maxStep * i) / 4);
      const label = String(step);
      drawText(label, sx(step) - (i === 4 ? label.length * 8 : i === 0 ? 0 : label.length * 4), H - M.bottom + 8, 2, (x, y) => dot(x, y, black));
    }
    drawText('step', (W - 32) / 2, H - 10, 2, (x, y) => dot(x, y, [120, 120, 120]));
    for (const s of [...series].reverse()) {
      // reversed: the first series (the total) is drawn last, on top
      const ps = s.points.filter((p) => p.value > 0 && Number.isFinite(p.value));
      for (let i = 1; i < ps.length; i++) line(sx(ps[i - 1].step), sy(ps[i - 1].value), sx(ps[i].step), sy(ps[i].value), s.color);
    }
  }
  // Legend, top right: a colored bar and the series name.
  series.forEach((s, i) => {
    const y = M.top + 6 + i * 14;
    for (let dx = 0; dx < 20; dx++) for (let dy = 0; dy < 3; dy++) dot(W - M.right - 80 + dx, y + 3 + dy, s.color);
    drawText(s.name, W - M.right - 54, y, 2, (x, yy) => dot(x, yy, s.color));
  });
  return encodePng(W, H, px);
}
