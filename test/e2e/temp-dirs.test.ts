/**
 * Issue 7: every temp dir of a build lives under the store (so a killed
 * build's leftovers are removed when the store is next opened), never in the
 * system temp dir.
 */
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { build } from '../../src/build.js';
import { Store } from '../../src/cache/store.js';
import { run } from '../registry/harness.js';
import { runCli } from '../cli-io.js';

describe('issue 7: build temp dirs', () => {
  let tmp: string;
  const savedTmpdir = process.env.TMPDIR;
  beforeAll(async () => {
    tmp = await mkdtemp(path.join(os.tmpdir(), 'ocibuild-tempdirs-'));
  });
  afterAll(async () => {
    if (savedTmpdir === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = savedTmpdir;
    await rm(tmp, { recursive: true, force: true });
  });

  it('ADD of a local archive works in a temp dir under the store; the system temp dir is not used', async () => {
    const ctx = path.join(tmp, 'ctx');
    await mkdir(path.join(ctx, 'src'), { recursive: true });
    await writeFile(path.join(ctx, 'src', 'a'), 'a');
    await run('tar', ['-C', path.join(ctx, 'src'), '-cf', path.join(ctx, 'a.tar'), 'a']);
    await writeFile(path.join(ctx, 'Dockerfile'), 'FROM scratch\nADD a.tar /x/\n');
    const store = await Store.open(path.join(tmp, 'store'));
    const made: string[] = [];
    const tempDir = store.tempDir.bind(store);
    store.tempDir = async (prefix?: string) => {
      const d = await tempDir(prefix);
      made.push(d);
      return d;
    };
    // A private system temp dir: nothing of the build may appear there.
    const systemTmp = path.join(tmp, 'system-tmp');
    await mkdir(systemTmp);
    process.env.TMPDIR = systemTmp;
    await build({ context: ctx, file: path.join(ctx, 'Dockerfile'), store, env: {}, platforms: ['linux/amd64'] });
    expect(made.length).toBeGreaterThan(0);
    for (const d of made) expect(d.startsWith(path.join(store.root, 'tmp') + path.sep)).toBe(true);
    expect(await readdir(systemTmp)).toEqual([]);
    // Cleaned up afterwards.
    const left = new Set(await readdir(path.join(store.root, 'tmp')));
    expect(made.filter((d) => left.has(path.basename(d)))).toEqual([]);
  });

  it('`ocibuild -` (Dockerfile on stdin) makes its empty context under the store, not in the system temp dir', async () => {
    const home = path.join(tmp, 'stdin-home');
    const systemTmp = path.join(tmp, 'stdin-system-tmp');
    await mkdir(systemTmp);
    process.env.TMPDIR = systemTmp;
    const r = await runCli(['-', '-t', 'stdin:1', '-q'], {
      cwd: tmp,
      env: { ...process.env, OCIBUILD_HOME: home, TMPDIR: systemTmp },
      stdin: 'FROM scratch\nLABEL from=stdin\n',
    });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^sha256:[0-9a-f]{64}\n$/);
    expect(await readdir(systemTmp)).toEqual([]);
    // The store was used (the tag is there), and the empty context was removed from its tmp/ afterwards.
    expect((await readdir(home)).sort()).toContain('tmp');
    expect(await readdir(path.join(home, 'tmp'))).toEqual([]);
    // --dry-run too.
    const plan = await runCli(['-', '--dry-run'], { cwd: tmp, env: { ...process.env, OCIBUILD_HOME: home, TMPDIR: systemTmp }, stdin: 'FROM scratch\nLABEL a=b\n' });
    expect(plan.code).toBe(0);
    expect(await readdir(systemTmp)).toEqual([]);
    expect(await readdir(path.join(home, 'tmp'))).toEqual([]);
    // A temp dir made and removed during the build would leave the dir empty too (and jest's
    // process.env is not the one os.tmpdir() reads): with the system temp dir a file, any use of
    // it fails (even as root), and the build must still work.
    const notADir = path.join(tmp, 'stdin-tmpdir-is-a-file');
    await writeFile(notADir, '');
    const tmpdir = os.tmpdir;
    os.tmpdir = () => notADir;
    let again;
    try {
      again = await runCli(['-', '-q'], { cwd: tmp, env: { ...process.env, OCIBUILD_HOME: home, TMPDIR: notADir }, stdin: 'FROM scratch\nLABEL from=stdin2\n' });
    } finally {
      os.tmpdir = tmpdir;
    }
    expect(again.stderr).toBe('');
    expect(again.code).toBe(0);
    expect(await readdir(path.join(home, 'tmp'))).toEqual([]);
  });
});
