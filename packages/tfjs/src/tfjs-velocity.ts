// The TF.js model as a VelocityFn, so the trainer samples with the same core sampler the ORT runtimes use.
import * as tf from '@tensorflow/tfjs';
import type { VelocityFn } from '@liquidflow/core';
import type { TfModel } from './tfjs-model.js';

export function tfjsVelocity(model: TfModel): VelocityFn {
  return async (x, t, shape) => {
    const v = tf.tidy(() => model.forward(tf.tensor(x, [...shape]), tf.tensor1d(t)));
    const data = (await v.data()) as Float32Array;
    v.dispose();
    return data;
  };
}
