export * from './json.js';
export * from './platform.js';
export * from './names.js';
export * from './manifest.js';
export * from './read.js';
export * from './tar.js';
export * from './outputs.js';
export * from './local.js';
