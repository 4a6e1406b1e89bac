// loss.png: the trend of a noisy loss is readable. Each term's logged values are drawn pale and their moving average
// thick in the term's own color, on a log-scale y axis.
import { describe, expect, it } from 'vitest';
import { PNG } from 'pngjs';
import { encodePng, resolveConfig } from '@liquidflow/core';
import { lossCurvePng, movingAverage, pale, sampleGridPng } from '@liquidflow/trainer';

describe('movingAverage', () => {
  it('averages a centered window, with fewer points at the ends', () => {
    const pts = [1, 2, 3, 4, 5].map((v, i) => ({ step: i * 10, value: v }));
    expect(movingAverage(pts, 3)).toEqual([1.5, 2, 3, 4, 4.5].map((v, i) => ({ step: i * 10, value: v })));
    expect(movingAverage(pts, 1)).toEqual(pts);
  });
});

describe('lossCurvePng', () => {
  it('draws a loss that alternates between 0.1 and 1 as its average (0.55) in full color over pale raw values', () => {
    const red: [number, number, number] = [220, 50, 47];
    const points = Array.from({ length: 400 }, (_, i) => ({ step: (i + 1) * 10, value: i % 2 ? 1 : 0.1 }));
    const png = PNG.sync.read(Buffer.from(lossCurvePng([{ name: 'loss', color: red, points }])));
    expect([png.width, png.height]).toEqual([640, 360]);
    // The plot spans 1e-1 (bottom, y = 332) to 1e0 (top, y = 12). An 11-point window over alternating values
    // averages 6 of one and 5 of the other: 0.509 or 0.591.
    const sy = (v: number) => 332 - (332 - 12) * (Math.log10(v) + 1);
    // Rows holding a color in columns 330-349, mid-plot and away from the legend (a steep segment crosses a column
    // for only part of its height, so one column is not enough for the raw line).
    const rowsWith = (rgb: number[]) => {
      const ys: number[] = [];
      for (let x = 330; x < 350; x++) {
        for (let y = 0; y < png.height; y++) {
          const i = (y * png.width + x) * 4;
          if (png.data[i] === rgb[0] && png.data[i + 1] === rgb[1] && png.data[i + 2] === rgb[2]) ys.push(y);
        }
      }
      return ys;
    };
    const full = rowsWith(red);
    expect(full.length).toBeGreaterThan(0);
    for (const y of full) {
      expect(y).toBeGreaterThanOrEqual(Math.floor(sy(0.591)));
      expect(y).toBeLessThanOrEqual(Math.ceil(sy(0.509)) + 1); // the line is 2 px thick
    }
    const paleRows = rowsWith(pale(red));
    expect(Math.min(...paleRows)).toBeLessThanOrEqual(14); // the raw line reaches 1 (top) ...
    expect(Math.max(...paleRows)).toBeGreaterThanOrEqual(330); // ... and 0.1 (bottom)
  });
});

describe('the PNGs a training run writes are compressed', () => {
  /** The same pixels in the stored (uncompressed) encoding, for comparison. */
  const storedSize = (png: PNG) => encodePng(png.width, png.height, png.data).length;

  it('loss.png', () => {
    const points = Array.from({ length: 400 }, (_, i) => ({ step: i + 1, value: 1 / (1 + i / 50) }));
    const bytes = lossCurvePng([{ name: 'loss', color: [220, 50, 47], points }]);
    const png = PNG.sync.read(Buffer.from(bytes));
    expect(bytes.length).toBeLessThan(storedSize(png) / 10);
  });

  it('sample grids', async () => {
    // A velocity whose flow ends on a smooth horizontal ramp (v = (x - x0) / t), like a trained model's smooth images.
    const cfg = resolveConfig('tiny', { img_size: 16 });
    const velocity = async (x: Float32Array, t: Float32Array, shape: readonly [number, number, number, number]) => {
      const per = shape[1] * shape[2] * shape[3];
      return x.map((v, i) => (v - (((i % per) % shape[3]) / (shape[3] - 1)) * 2 + 1) / Math.max(t[Math.floor(i / per)], 1e-3));
    };
    const bytes = await sampleGridPng(velocity, cfg, 16, 4, 0);
    const png = PNG.sync.read(Buffer.from(bytes));
    expect([png.width, png.height]).toEqual([4 * 16 + 5 * 2, 4 * 16 + 5 * 2]);
    expect(bytes.length).toBeLessThan(storedSize(png) / 4);
  });
});
