export * from './digest.js';
export * from './media-types.js';
export * from './types.js';
export * from './platform.js';
