/**
 * Which module bin/ocibuild runs `main` from (issue 8: start-up).
 *
 * `npm run build` bundles the compiled CLI into one file beside main.js
 * (scripts/bundle.mjs): `main.bundle-<stamp>.mjs`, where <stamp> is the mtime
 * (ns) of the main.js it was made from. Loading that one file instead of
 * resolving and linking ~230 modules takes ~0.13 s off every command that
 * builds. It is used only when its stamp is the main.js that is there now, so a
 * dist/ recompiled without bundling runs as compiled, never stale.
 * `--version` and `--help` stay on main.js, which answers them without loading
 * the commands; `OCIBUILD_BUNDLE=0` turns the bundle off.
 */
import { existsSync, statSync } from 'node:fs';
import { helpRequest } from './help-snapshot.js';

export function mainModuleUrl(argv: readonly string[], env: Record<string, string | undefined>, here: string = import.meta.url): string {
  const main = new URL('main.js', here);
  if (env.OCIBUILD_BUNDLE === '0') return main.href;
  if ((argv.length === 1 && argv[0] === '--version') || helpRequest(argv) !== undefined) return main.href;
  try {
    const bundle = new URL(`main.bundle-${statSync(main, { bigint: true }).mtimeNs}.mjs`, here);
    if (existsSync(bundle)) return bundle.href;
  } catch {
    // No main.js beside us (a test importing from src): the plain module.
  }
  return main.href;
}
