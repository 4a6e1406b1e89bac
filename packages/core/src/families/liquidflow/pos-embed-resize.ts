// LiquidFlow at another image size (DiM: weak-to-strong training, training-free upsampling at export). Every weight
// carries over unchanged except the position table, which is resampled (bilinear) from the old token grid to the new
// one; zigzag orders, scan chunks and the convs' maps all follow from img_size. The padding tokens (pad_tokens) are one
// vector per padding row and column, whatever the grid's size, so they carry over unchanged too (as in DiM).
import type { Weights } from '../../param-init.js';
import { type LiquidFlowConfig, liquidFlowDims } from './config.js';

export function resizePosEmbed(table: Float32Array, from: number, to: number, dim: number): Float32Array {
  const out = new Float32Array(to * to * dim);
  for (let y = 0; y < to; y++) {
    for (let x = 0; x < to; x++) {
      // Align cell centres of both grids.
      const fy = Math.min(from - 1, Math.max(0, ((y + 0.5) * from) / to - 0.5));
      const fx = Math.min(from - 1, Math.max(0, ((x + 0.5) * from) / to - 0.5));
      const y0 = Math.floor(fy);
      const x0 = Math.floor(fx);
      const y1 = Math.min(from - 1, y0 + 1);
      const x1 = Math.min(from - 1, x0 + 1);
      const dy = fy - y0;
      const dx = fx - x0;
      for (let d = 0; d < dim; d++) {
        const at = (yy: number, xx: number) => table[(yy * from + xx) * dim + d];
        out[(y * to + x) * dim + d] = (1 - dy) * ((1 - dx) * at(y0, x0) + dx * at(y0, x1)) + dy * ((1 - dx) * at(y1, x0) + dx * at(y1, x1));
      }
    }
  }
  return out;
}

export function resizeLiquidFlowWeights(weights: Weights, from: LiquidFlowConfig, to: LiquidFlowConfig): Weights {
  const out: Weights = { ...weights };
  out.pos_embed = resizePosEmbed(weights.pos_embed, liquidFlowDims(from).grid, liquidFlowDims(to).grid, from.dim);
  return out;
}
