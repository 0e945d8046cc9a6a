/**
 * Tests that run bin/ocibuild or pack the package need dist/ (`npm run build`).
 * `ensureDist()` compiles it when it is missing or older than a source file,
 * one process at a time (a lock directory beside it).
 */
import { execFile } from 'node:child_process';
import { mkdir, readdir, rmdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const exec = promisify(execFile);
export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

async function newestSource(dir: string): Promise<number> {
  let newest = 0;
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) newest = Math.max(newest, await newestSource(p));
    else if (e.name.endsWith('.ts') && !e.name.endsWith('.test.ts')) newest = Math.max(newest, (await stat(p)).mtimeMs);
  }
  return newest;
}

async function builtAt(): Promise<number> {
  try {
    return (await stat(path.join(repoRoot, 'dist/cli/main.js'))).mtimeMs;
  } catch {
    return 0;
  }
}

export async function ensureDist(): Promise<void> {
  const lock = path.join(repoRoot, '.dist-build.lock');
  for (let i = 0; ; i++) {
    try {
      await mkdir(lock);
      break;
    } catch {
      if (i > 600) throw new Error(`${lock} held for 5 minutes: remove it if no build runs`);
      await new Promise((r) => setTimeout(r, 500));
    }
  }
  try {
    if ((await builtAt()) >= (await newestSource(path.join(repoRoot, 'src')))) return;
    await exec(process.execPath, [path.join(repoRoot, 'node_modules/typescript/bin/tsc'), '-p', path.join(repoRoot, 'tsconfig.build.json')], { cwd: repoRoot });
    await exec(process.execPath, [path.join(repoRoot, 'scripts/bundle.mjs')], { cwd: repoRoot });
    await exec(process.execPath, [path.join(repoRoot, 'scripts/help-snapshot.mjs')], { cwd: repoRoot });
  } finally {
    await rmdir(lock);
  }
}
