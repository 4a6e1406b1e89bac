export * from './atomic-write.js';
export * from './checkpoint.js';
export * from './init-checkpoint.js';
