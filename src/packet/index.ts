export * from './codec.js';
export * from './options.js';
