// A grid of samples from the (EMA) model with a fixed seed, so grids from different steps are comparable.
import { encodePng, imageGrid, sample, toImages } from '@liquidflow/core';
import type { TfModel } from './tfjs-model.js';
import { tfjsVelocity } from './tfjs-velocity.js';

export async function sampleGridPng(model: TfModel, count = 16, steps = 25, seed = 0): Promise<Uint8Array> {
  const { in_channels, img_size } = model.config;
  const x = await sample(tfjsVelocity(model), { count, channels: in_channels, size: img_size, steps, seed, sampler: 'euler' });
  const grid = imageGrid(toImages(x, count, in_channels, img_size));
  return encodePng(grid.width, grid.height, grid.data);
}
