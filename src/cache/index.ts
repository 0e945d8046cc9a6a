export * from './store.js';
export * from './lock.js';
export * from './paths.js';
export * from './units.js';
export * from './commands.js';
export * from './step-cache.js';
