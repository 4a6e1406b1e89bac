// A grid of samples from the (EMA) model with a fixed seed, so grids from different steps are comparable.
import { type ModelConfig, type VelocityFn, imageGrid, sample, toImages } from '@liquidflow/core';
import { encodePng } from '@liquidflow/runtime-node';

export async function sampleGridPng(velocity: VelocityFn, config: ModelConfig, count = 16, steps = 25, seed = 0): Promise<Uint8Array> {
  const { in_channels, img_size } = config;
  const x = await sample(velocity, { count, channels: in_channels, size: img_size, steps, seed, sampler: 'euler' });
  const grid = imageGrid(toImages(x, count, in_channels, img_size));
  return encodePng(grid.width, grid.height, grid.data);
}
