/**
 * The help snapshot made by `npm run build` (scripts/help-snapshot.mjs) says
 * exactly what yargs says, for every command it keeps (issue 8: start-up).
 */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { ensureDist } from '../dist.js';

const exec = promisify(execFile);
const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const bin = path.join(repoRoot, 'bin/ocibuild');

beforeAll(async () => {
  await ensureDist();
}, 300_000);

it('every kept help text (width 100, as off a terminal) equals yargs\' own output', async () => {
  const snap = JSON.parse(await readFile(path.join(repoRoot, 'dist/cli/help-snapshot.json'), 'utf8')) as { texts: Record<string, Record<string, string>> };
  const commands = Object.keys(snap.texts['100']!);
  expect(commands).toEqual(expect.arrayContaining(['', 'build', 'compose', 'pull', 'push', 'check']));
  for (const c of commands) {
    const args = c === '' ? ['--help'] : [c, '--help'];
    const env = { ...process.env };
    delete env.NODE_OPTIONS;
    const fast = await exec(process.execPath, [bin, ...args], { env });
    const slow = await exec(process.execPath, [bin, ...args], { env: { ...env, OCIBUILD_HELP_SNAPSHOT: '0' } });
    expect([c, fast.stdout]).toEqual([c, slow.stdout]);
    expect(fast.stdout).toBe(snap.texts['100']![c]);
  }
}, 120_000);
