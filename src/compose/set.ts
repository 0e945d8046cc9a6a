/**
 * `--set SERVICE.KEY[.SUBKEY]=VALUE` as docker buildx bake takes it, on
 * Compose's build keys: `web.args.VERSION=2`, `*.platforms=linux/amd64,linux/arm64`,
 * `api.no_cache=true`, `web.image=registry/app:2`. SERVICE may hold `*` and
 * `?` wildcards. A list key takes a comma-separated list (it replaces the
 * file's); a mapping key takes one entry per `--set`.
 */
import { OcibuildError } from '../errors.js';
import { buildServiceNames } from './model.js';
import type { LoadedProject } from './load.js';

const LIST_KEYS = new Set(['tags', 'platforms', 'cache_from', 'cache_to', 'secrets', 'ssh', 'extra_hosts', 'entitlements']);
const MAP_KEYS = new Set(['args', 'labels', 'additional_contexts']);
const SCALAR_KEYS = new Set(['context', 'dockerfile', 'dockerfile_inline', 'target', 'network', 'no_cache', 'pull', 'shm_size', 'privileged']);
/** bake's spellings of the same keys. */
const ALIASES: Record<string, string> = {
  'cache-from': 'cache_from',
  'cache-to': 'cache_to',
  'no-cache': 'no_cache',
  platform: 'platforms',
  contexts: 'additional_contexts',
  'additional-contexts': 'additional_contexts',
  'extra-hosts': 'extra_hosts',
  'shm-size': 'shm_size',
};

function globRegExp(pattern: string): RegExp {
  return new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`);
}

/**
 * Applies `--set` values to the project's data (in place), in order; a
 * value set here is checked like one from the file.
 */
export function applyComposeSets(project: LoadedProject, sets: readonly string[]): void {
  const services = buildServiceNames(project);
  for (const text of sets) {
    const usage = (m: string) => new OcibuildError('USAGE', `--set ${JSON.stringify(text)}: ${m}`);
    const eq = text.indexOf('=');
    if (eq < 0) throw usage('expected SERVICE.KEY=VALUE');
    const [pattern, rawKey, ...rest] = text.slice(0, eq).split('.');
    const value = text.slice(eq + 1);
    if (!pattern || !rawKey) throw usage('expected SERVICE.KEY=VALUE');
    const key = ALIASES[rawKey] ?? rawKey;
    const re = globRegExp(pattern);
    const matched = services.filter((s) => re.test(s));
    if (matched.length === 0) throw usage(`no service with a build section matches ${JSON.stringify(pattern)} (services: ${services.join(', ') || 'none'})`);
    for (const name of matched) {
      const service = (project.data.services as Record<string, Record<string, unknown>>)[name]!;
      const build = service.build as Record<string, unknown>;
      if (key === 'image') {
        if (rest.length > 0) throw usage('image takes no subkey');
        service.image = value;
        project.replaced(['services', name, 'image']);
      } else if (MAP_KEYS.has(key)) {
        if (rest.length === 0) throw usage(`${key} takes a name: ${pattern}.${key}.NAME=VALUE`);
        const current = build[key];
        project.replaced(['services', name, 'build', key, rest.join('.')]);
        build[key] = { ...(typeof current === 'object' && current !== null && !Array.isArray(current) ? current : {}), [rest.join('.')]: value };
      } else if (LIST_KEYS.has(key)) {
        if (rest.length > 0) throw usage(`${key} takes no subkey`);
        project.replaced(['services', name, 'build', key]);
        build[key] = value.split(',').map((v) => v.trim()).filter(Boolean);
      } else if (SCALAR_KEYS.has(key)) {
        if (rest.length > 0) throw usage(`${key} takes no subkey`);
        build[key] = value;
        project.replaced(['services', name, 'build', key]);
        if (key === 'dockerfile') delete build.dockerfile_inline;
        if (key === 'dockerfile_inline') delete build.dockerfile;
      } else {
        throw usage(`unknown key ${JSON.stringify(rawKey)} (one of image, ${[...MAP_KEYS, ...LIST_KEYS, ...SCALAR_KEYS].join(', ')})`);
      }
    }
  }
}
