// The plain sequential recurrence in float64, the definition selectiveScan is tested against.

export interface ScanInputs {
  batch: number;
  len: number;
  heads: number;
  headDim: number;
  state: number;
  x: Float32Array; // [B, L, heads*P]
  dt: Float32Array; // [B, L, heads]
  A: Float32Array; // [heads]
  B: Float32Array; // [B, L, N]
  C: Float32Array; // [B, L, N]
}

export function sequentialScan(s: ScanInputs): Float64Array {
  const { batch, len, heads, headDim: p, state: n } = s;
  const inner = heads * p;
  const y = new Float64Array(batch * len * inner);
  const h = new Float64Array(heads * p * n);
  for (let b = 0; b < batch; b++) {
    h.fill(0);
    for (let t = 0; t < len; t++) {
      const bt = b * len + t;
      for (let hd = 0; hd < heads; hd++) {
        const dt = s.dt[bt * heads + hd];
        const decay = Math.exp(dt * s.A[hd]);
        for (let i = 0; i < p; i++) {
          const xi = s.x[bt * inner + hd * p + i] * dt;
          let acc = 0;
          for (let k = 0; k < n; k++) {
            const idx = (hd * p + i) * n + k;
            h[idx] = decay * h[idx] + xi * s.B[bt * n + k];
            acc += h[idx] * s.C[bt * n + k];
          }
          y[bt * inner + hd * p + i] = acc;
        }
      }
    }
  }
  return y;
}

/** Mamba-1's form (selective-scan-channel.ts): dt per channel, A per (channel, state). */
export interface ChannelScanInputs {
  batch: number;
  len: number;
  inner: number;
  state: number;
  x: Float32Array; // [B, L, inner]
  dt: Float32Array; // [B, L, inner]
  A: Float32Array; // [inner, N]
  B: Float32Array; // [B, L, N]
  C: Float32Array; // [B, L, N]
}

export function sequentialScanChannel(s: ChannelScanInputs): Float64Array {
  const { batch, len, inner, state: n } = s;
  const y = new Float64Array(batch * len * inner);
  const h = new Float64Array(inner * n);
  for (let b = 0; b < batch; b++) {
    h.fill(0);
    for (let t = 0; t < len; t++) {
      const bt = b * len + t;
      for (let d = 0; d < inner; d++) {
        const dt = s.dt[bt * inner + d];
        const xd = s.x[bt * inner + d] * dt;
        let acc = 0;
        for (let k = 0; k < n; k++) {
          const idx = d * n + k;
          h[idx] = Math.exp(dt * s.A[idx]) * h[idx] + xd * s.B[bt * n + k];
          acc += h[idx] * s.C[bt * n + k];
        }
        y[bt * inner + d] = acc;
      }
    }
  }
  return y;
}
