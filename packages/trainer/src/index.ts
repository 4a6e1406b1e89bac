export * from './ops-tfjs.js';
export * from './backend.js';
export * from './tfjs-model.js';
export * from './atomic-write.js';
export * from './checkpoint.js';
export * from './adamw.js';
export * from './flow-loss.js';
export * from './init-checkpoint.js';
