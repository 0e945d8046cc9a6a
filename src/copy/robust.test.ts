import fs from 'node:fs';
import path from 'node:path';
import { OcibuildError } from '../errors.js';
import { contextSourceFs, directoryDestFs, ignoreViewFromPatterns, planCopy, type CopySpec } from './index.js';
import { makeTree, removeTemp, tempDir } from './testing/helpers.js';
import { createRng } from '../../test/fuzz-inputs.js';

/** Deterministic PRNG (mulberry32) so failures reproduce. */
const rng = createRng;

const PIECES = ['a', 'b.txt', 'dir', 'dir/sub', '*', '?', '[a-c]', '[', '\\', '..', '.', '/', '//', 'link', 'loop', 'out', 'x/./y', '**', '!', ' ', 'é', '.wh.', 'missing'];
const CHMODS = [undefined, '755', '0644', '7777', '8', '+x', 'u=rwX,go=rX', 'g=u', 'a', '=', 'u+', '+q', ''];

test('planCopy fails only with OcibuildError on random specs (seeded, 2000 cases)', async () => {
  const tmp = tempDir();
  try {
    const ctx = path.join(tmp, 'ctx');
    makeTree(ctx, {
      a: 'a',
      'b.txt': 'b',
      'dir/sub/f': 'f',
      'dir/g.txt': 'g',
      link: { symlink: 'dir' },
      loop: { symlink: 'loop' },
      esc: { symlink: '../../../../etc' },
      'x/y/z.txt': 'z',
    });
    const root = path.join(tmp, 'rootfs');
    makeTree(root, { 'etc/passwd': 'u:x:1:2::/:/bin/sh\n', 'usr/bin': { dir: true }, bin: { symlink: 'usr/bin' }, file: 'f' });
    const rand = rng(20261123);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
    const word = () => Array.from({ length: 1 + Math.floor(rand() * 3) }, () => pick(PIECES)).join(pick(['', '/', '']));
    let ok = 0;
    let failed = 0;
    for (let i = 0; i < 2000; i++) {
      const spec: CopySpec = {
        instruction: rand() < 0.3 ? 'ADD' : 'COPY',
        sources: Array.from({ length: Math.floor(rand() * 3) }, word),
        dest: pick(['/out/', '/out', 'rel', '.', '/', '/bin/', '/file', '/file/', word()]),
        workdir: pick(['/', '/w', '/bin']),
        chmod: pick(CHMODS),
        chown: rand() < 0.2 ? { user: pick(['u', '1', 'nobody', 'root', '']), group: pick([undefined, '2', 'g', '']) } : undefined,
        parents: rand() < 0.2,
        link: rand() < 0.2,
        excludes: rand() < 0.2 ? [word()] : undefined,
        inline: rand() < 0.1 ? [{ name: word(), data: 'x' }] : undefined,
      };
      const ignore = rand() < 0.3 ? ignoreViewFromPatterns([pick(['*.txt', 'dir', '!dir/g.txt', 'x'])]) : undefined;
      try {
        const p = await planCopy(spec, { source: contextSourceFs(ctx, ignore), dest: directoryDestFs(root), tmpDir: tmp });
        for (const e of p.entries) {
          expect(e.path).not.toMatch(/^\/|\/$|(^|\/)\.\.?(\/|$)/);
          expect(e.mode).toBeLessThanOrEqual(0o7777);
        }
        await p.dispose();
        ok++;
      } catch (e) {
        if (!(e instanceof OcibuildError)) throw new Error(`case ${i} ${JSON.stringify(spec)}: ${(e as Error).stack}`);
        failed++;
      }
    }
    expect(ok).toBeGreaterThan(100); // both paths are exercised
    expect(failed).toBeGreaterThan(100);
    expect(fs.readdirSync(tmp).sort()).toEqual(['ctx', 'rootfs']);
  } finally {
    removeTemp(tmp);
  }
});
