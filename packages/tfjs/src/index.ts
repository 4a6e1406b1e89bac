export * from './backend.js';
export * from './ops-tfjs.js';
export * from './tfjs-model.js';
export * from './tfjs-velocity.js';
