// The rectified-flow time convention, stated once for the trainer and the samplers:
//   x_t = (1 - t) * x0 + t * noise,  t = 0 is data, t = 1 is pure noise,
//   the network predicts v = dx_t/dt = noise - x0,
//   so sampling integrates from t = 1 down to t = 0: x_{t - h} = x_t - h * v(x_t, t).
export const DATA_T = 0;
export const NOISE_T = 1;
