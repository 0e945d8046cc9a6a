/**
 * Compose files as build input: load and merge them (`.env`, interpolation,
 * Compose's merge rules), apply `--set`, and type each service's `build:`
 * section with every value located. Knows nothing of the build itself.
 */
export { loadComposeProject, normalizeProjectName, DEFAULT_COMPOSE_FILES, composeError, type LoadedProject, type LoadComposeOptions, type ComposeLocation, type ComposeWarning, type ComposePath } from './load.js';
export { serviceBuild, buildServiceNames, type ComposeBuild, type ComposeSecretSource } from './model.js';
export { applyComposeSets } from './set.js';
export { interpolate, InterpolationError } from './interpolate.js';
export { parseEnvFile } from './env-file.js';
