import { readFileSync } from 'node:fs';

/**
 * ocibuild's version, from its own package.json (`src/cli` and `dist/cli` both
 * sit two levels below it): what `ocibuild --version` prints.
 */
export function ocibuildVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: unknown };
  return typeof pkg.version === 'string' ? pkg.version : 'unknown';
}
