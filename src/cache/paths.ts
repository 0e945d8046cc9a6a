import path from 'node:path';
import { OcibuildError } from '../errors.js';

/**
 * Where the store lives: `$OCIBUILD_HOME`, else `$XDG_CACHE_HOME/ocibuild`
 * (XDG requires an absolute path; a relative one is ignored), else
 * `$HOME/.cache/ocibuild`. Pure: pass the environment (and the home directory
 * when `HOME` may be unset). Throws USAGE when none is known.
 */
export function defaultStoreRoot(env: Record<string, string | undefined>, homedir?: string): string {
  const explicit = env.OCIBUILD_HOME;
  if (explicit) return path.resolve(explicit);
  const xdg = env.XDG_CACHE_HOME;
  if (xdg && path.isAbsolute(xdg)) return path.join(xdg, 'ocibuild');
  const home = env.HOME || homedir;
  if (home) return path.join(home, '.cache', 'ocibuild');
  throw new OcibuildError('USAGE', 'cannot tell where the ocibuild store lives: set OCIBUILD_HOME (or HOME)');
}
