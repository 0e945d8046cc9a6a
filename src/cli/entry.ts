/**
 * Where bin/ocibuild takes `main` from (issue 8: start-up).
 *
 * `npm run build` bundles the compiled CLI into one CommonJS file beside
 * main.js (scripts/bundle.mjs): `main.bundle-<stamp>.cjs`, where <stamp> is
 * the mtime (ns) of the main.js it was made from, with a V8 code cache
 * (`.cache`: the SHA-256 of the bundle, then the cache) made by running a
 * build once. Compiling one file from its code cache instead of resolving,
 * linking and compiling ~230 modules takes ~0.15 s off every command that
 * builds. The bundle is used only when its stamp is the main.js that is there
 * now (a dist/ recompiled without bundling runs as compiled, never stale); the
 * cache only when its digest is the bundle's (V8 itself checks no more than the
 * source's length) and V8 accepts it (the same V8 and flags), else the bundle
 * compiles without it. `--version` and `--help` stay on main.js, which
 * answers them without loading the commands; `OCIBUILD_BUNDLE=0` turns the
 * bundle off.
 *
 * bin/ocibuild (CommonJS) requires this module as bundled beside main.js
 * (`entry.bundle-<stamp>.cjs`, made by the same script), else imports it.
 *
 * A command line that starts with `push` or `pull` runs
 * `registry-main.bundle-<stamp>.cjs` instead (the same CLI with only those two
 * commands: src/cli/registry-main.ts), when it is there; else the whole one.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import vm from 'node:vm';
import { helpRequest } from './help-snapshot.js';

export type Main = (argv: string[]) => Promise<number>;

/** The first words of the command lines registry-main.bundle answers (src/cli/registry-main.ts registers exactly these). */
export const REGISTRY_COMMANDS: readonly string[] = ['push', 'pull'];

/** The bundle made from the main.js beside `here` for this command line, when there is one. */
export function bundlePath(argv: readonly string[], env: Record<string, string | undefined>, here: string = import.meta.url): string | undefined {
  if (env.OCIBUILD_BUNDLE === '0') return undefined;
  if ((argv.length === 1 && argv[0] === '--version') || helpRequest(argv) !== undefined) return undefined;
  let stamp: bigint;
  try {
    stamp = statSync(new URL('main.js', here), { bigint: true }).mtimeNs;
  } catch {
    return undefined; // no main.js beside us (a test importing from src): the plain module
  }
  const names = REGISTRY_COMMANDS.includes(argv[0] ?? '') ? ['registry-main', 'main'] : ['main'];
  for (const name of names) {
    const file = fileURLToPath(new URL(`${name}.bundle-${stamp}.cjs`, here));
    if (existsSync(file)) return file;
  }
  return undefined;
}

/** The code cache kept for `source` (undefined when absent or made for other bytes). */
function codeCache(file: string, source: string): Buffer | undefined {
  let kept: Buffer;
  try {
    kept = readFileSync(`${file}.cache`);
  } catch {
    return undefined;
  }
  if (kept.length <= 32 || !kept.subarray(0, 32).equals(createHash('sha256').update(source).digest())) return undefined;
  return kept.subarray(32);
}

/**
 * Compiles and runs a CommonJS bundle as `require` would (from its code cache when it was
 * made for its bytes); `script` is given back for making that cache. The library's facade
 * (dist/lib/index.mjs, written by scripts/bundle.mjs) does the same in its own few lines, so
 * that the library's import loads no module of the CLI.
 */
export function runBundle(file: string, useCache = true): { exports: Record<string, unknown>; script: vm.Script } {
  const source = readFileSync(file, 'utf8');
  const cachedData = useCache ? codeCache(file, source) : undefined;
  const script = new vm.Script(`(function (exports, require, module, __filename, __dirname) {${source}\n})`, { filename: file, ...(cachedData ? { cachedData } : {}) });
  const module = { exports: {} as Record<string, unknown> };
  (script.runInThisContext() as (...a: unknown[]) => void)(module.exports, createRequire(file), module, file, path.dirname(file));
  return { exports: module.exports, script };
}

/** Compiles and runs the CLI's CommonJS bundle; `script` is given back for making its code cache. */
export function loadBundle(file: string, useCache = true): { main: Main; script: vm.Script } {
  const { exports, script } = runBundle(file, useCache);
  if (typeof exports.main !== 'function') throw new Error(`${file} has no main`);
  return { main: exports.main as Main, script };
}

/** `main` from the bundle when it is current, else from main.js. */
export async function loadMain(argv: readonly string[], env: Record<string, string | undefined>, here: string = import.meta.url): Promise<Main> {
  const bundle = bundlePath(argv, env, here);
  if (bundle !== undefined) return loadBundle(bundle).main;
  return ((await import(new URL('main.js', here).href)) as { main: Main }).main;
}
