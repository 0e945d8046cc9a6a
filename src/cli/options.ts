import { OcibuildError } from '../errors.js';

/**
 * `KEY=VALUE` flags (`--build-arg`, `--label`) into a record. A bare `KEY`
 * takes its value from the environment, as docker build does for --build-arg.
 */
export function parseKeyValues(values: readonly string[], flag: string, env?: Record<string, string | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const v of values) {
    const i = v.indexOf('=');
    if (i === 0) throw new OcibuildError('USAGE', `${flag} ${JSON.stringify(v)}: the name is empty`);
    if (i < 0) {
      if (!env) throw new OcibuildError('USAGE', `${flag} ${JSON.stringify(v)}: expected KEY=VALUE`);
      const fromEnv = env[v];
      if (fromEnv !== undefined) out[v] = fromEnv;
      continue;
    }
    out[v.slice(0, i)] = v.slice(i + 1);
  }
  return out;
}
