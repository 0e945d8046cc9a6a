import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { decodeFsName } from './fs-names.js';
import { F, identityOfFields, lstatFields, lstatFieldsVia, nsText } from './lstat-fields.js';
import { statIdentity } from './stat-identity.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

let root: string;
beforeAll(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'ocibuild-lstat-'));
  fs.mkdirSync(path.join(root, 'dir/sub'), { recursive: true });
  fs.writeFileSync(path.join(root, 'dir/file.txt'), 'file\n');
  fs.writeFileSync(path.join(root, 'dir/sub/exec.sh'), '#!/bin/sh\n', { mode: 0o755 });
  fs.linkSync(path.join(root, 'dir/file.txt'), path.join(root, 'dir/hard'));
  fs.symlinkSync('file.txt', path.join(root, 'dir/link'));
  execFileSync('mkfifo', [path.join(root, 'dir/fifo')]);
  fs.writeFileSync(path.join(root, 'old'), 'before 1970\n');
  fs.utimesSync(path.join(root, 'old'), -86400.25, -86400.25);
  fs.writeFileSync(path.join(root, 'epoch'), 'at 0.5 s\n');
  fs.utimesSync(path.join(root, 'epoch'), 0.5, 0.5);
  fs.writeFileSync(path.join(root, 'future'), 'in 2200\n');
  fs.utimesSync(path.join(root, 'future'), 1000000000.125, 7258118400); // atime apart from mtime: a field mixed up shows
  fs.writeFileSync(Buffer.concat([Buffer.from(root + '/dir/'), Buffer.from([0x62, 0xff])]), 'a name that is not UTF-8\n');
  fs.writeFileSync(path.join(root, 'dir/rep\uFFFDlaced'), 'valid UTF-8 holding U+FFFD\n');
});
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

const entries = () => ['', 'dir', 'dir/sub', 'dir/file.txt', 'dir/sub/exec.sh', 'dir/hard', 'dir/link', 'dir/fifo', 'old', 'epoch', 'future', 'dir/rep\uFFFDlaced', '/dev/null'];
const abs = (rel: string) => (rel.startsWith('/') ? rel : path.join(root, rel));

describe('lstatFields: lstat as numbers, the same as BigIntStats', () => {
  it('takes the binding in a plain Node 20 process (where the bench measured it), the public API when told to', () => {
    // Jest's own process object has no binding: this suite's other cases run the public API in
    // process, and the binding in child processes (below).
    const via = (env: NodeJS.ProcessEnv) =>
      execFileSync(process.execPath, ['--input-type=module', '-e', `const m = await import(${JSON.stringify(path.join(repo, 'dist/lstat-fields.js'))}); process.stdout.write(m.lstatFieldsVia())`], { env: { ...process.env, ...env }, encoding: 'utf8' });
    if (process.version.startsWith('v20.')) expect(via({ OCIBUILD_PUBLIC_LSTAT: '' })).toBe('binding');
    expect(via({ OCIBUILD_PUBLIC_LSTAT: '1' })).toBe('public');
    expect(via({ OCIBUILD_PUBLIC_LSTAT: '', NODE_OPTIONS: '--pending-deprecation' })).toBe('public');
  });

  it.each(entries())('%s: every field and the stat identity equal the public API', (rel) => {
    const p = abs(rel);
    const st = fs.lstatSync(p, { bigint: true });
    const f = lstatFields(p)!;
    expect({
      dev: f[F.dev],
      mode: f[F.mode],
      nlink: f[F.nlink],
      uid: f[F.uid],
      gid: f[F.gid],
      rdev: f[F.rdev],
      ino: f[F.ino],
      size: f[F.size],
      mtimeNs: nsText(f[F.mtimeSec]!, f[F.mtimeNsec]!),
      ctimeNs: nsText(f[F.ctimeSec]!, f[F.ctimeNsec]!),
    }).toEqual({
      dev: Number(st.dev),
      mode: Number(st.mode),
      nlink: Number(st.nlink),
      uid: Number(st.uid),
      gid: Number(st.gid),
      rdev: Number(st.rdev),
      ino: Number(st.ino),
      size: Number(st.size),
      mtimeNs: String(st.mtimeNs),
      ctimeNs: String(st.ctimeNs),
    });
    expect(identityOfFields(f)).toBe(statIdentity(st));
  });

  it('a name that is not UTF-8 (a Buffer path) goes through the public API with the same answer', () => {
    const p = Buffer.concat([Buffer.from(root + '/dir/'), Buffer.from([0x62, 0xff])]);
    expect(identityOfFields(lstatFields(p)!)).toBe(statIdentity(fs.lstatSync(p, { bigint: true })));
  });

  it('a missing entry is undefined; an error is the public API own', () => {
    expect(lstatFields(path.join(root, 'no-such'))).toBeUndefined();
    expect(() => lstatFields(path.join(root, 'dir/file.txt/below'))).toThrow(expect.objectContaining({ code: 'ENOTDIR', syscall: 'lstat' }));
  });

  it('nsText writes seconds and nanoseconds as BigIntStats does, before 1970 too', () => {
    expect(nsText(0, 5)).toBe('5');
    expect(nsText(1, 0)).toBe('1000000000');
    expect(nsText(1796633807, 553017703)).toBe('1796633807553017703');
    expect(nsText(-1, 999_999_999)).toBe('-1');
    expect(nsText(-2, 500_000_000)).toBe('-1500000000');
  });

  it('a field past 2^53 has no identity (the caller asks with bigints)', () => {
    const f = new Float64Array(18);
    f[F.ino] = 2 ** 53;
    expect(identityOfFields(f)).toBeUndefined();
    f[F.ino] = 2 ** 53 - 1;
    expect(identityOfFields(f)).toBe(`0:${2 ** 53 - 1}:0:0:0`);
  });
});

describe('the copy source answers the same whichever way lstat goes', () => {
  // Every answer the copy planner can get from a source over the tree (a walk of lstat and
  // readdir), in a process of its own: with the binding, and with OCIBUILD_PUBLIC_LSTAT=1. Each
  // lstat answer also as the copy memo's row, made straight from the lstat (lstatRowSync) and
  // from the SourceStat (rowOfStat): the two must be the same bytes.
  const script = (options: string) => `
    const { contextSourceFs, directorySourceFs } = await import(${JSON.stringify(path.join(repo, 'dist/copy/source-fs.js'))});
    const { ignoreViewFromPatterns } = await import(${JSON.stringify(path.join(repo, 'dist/copy/ignore.js'))});
    const { rowOfStat, ROW_LENGTH } = await import(${JSON.stringify(path.join(repo, 'dist/copy/answer-row.js'))});
    const { lstatFieldsVia } = await import(${JSON.stringify(path.join(repo, 'dist/lstat-fields.js'))});
    const root = ${JSON.stringify(root)};
    const sources = {
      context: () => contextSourceFs(root),
      'context-ignoring': () => contextSourceFs(root, ignoreViewFromPatterns(['dir/sub', '*.sh', 'old'])),
      'context-ignoring-nothing': () => contextSourceFs(root, ignoreViewFromPatterns([])),
      preserve: () => directorySourceFs(root),
      git: () => directorySourceFs(root, { modes: 'git' }),
      'fixed-mtime': () => directorySourceFs(root, { mtime: 1234 }),
    };
    const src = sources[${JSON.stringify(options)}]();
    const out = [];
    const walk = async (rel) => {
      const st = await src.lstat(rel);
      const direct = new Float64Array(ROW_LENGTH);
      const made = new Float64Array(ROW_LENGTH);
      const exact = [src.lstatRowSync(rel, direct), rowOfStat(st, made)];
      out.push(rel + '\t' + JSON.stringify(st ?? null) + '\t' + JSON.stringify({ exact, direct: [...direct], made: [...made] }));
      if (st?.type === 'directory') for (const name of await src.readdir(rel)) await walk(rel === '' ? name : rel + '/' + name);
    };
    await walk('');
    process.stdout.write(JSON.stringify({ via: lstatFieldsVia(), answers: out }));
  `;

  it.each(['context', 'context-ignoring', 'context-ignoring-nothing', 'preserve', 'git', 'fixed-mtime'])('%s: the binding and the public API give the same answers', (options) => {
    const run = (env: NodeJS.ProcessEnv) =>
      JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', script(options)], { env: { ...process.env, ...env }, encoding: 'utf8' })) as { via: string; answers: string[] };
    const viaBinding = run({ OCIBUILD_PUBLIC_LSTAT: '' });
    const viaPublic = run({ OCIBUILD_PUBLIC_LSTAT: '1' });
    if (process.version.startsWith('v20.')) expect(viaBinding.via).toBe('binding');
    expect(viaPublic.via).toBe('public');
    expect(viaBinding.answers).toEqual(viaPublic.answers);
    // The walk saw the tree: the hard link, the fifo, the names that are not UTF-8 or hold U+FFFD.
    const seen = viaBinding.answers.map((a) => a.split('\t')[0]);
    if (options !== 'context-ignoring') expect(seen).toEqual(expect.arrayContaining(['dir/hard', 'dir/fifo', 'dir/sub/exec.sh', 'dir/rep\uFFFDlaced', `dir/${decodeFsName(Buffer.from([0x62, 0xff]))}`]));
    expect(seen.length).toBeGreaterThan(8);
    for (const line of viaBinding.answers) {
      const rows = JSON.parse(line.split('\t')[2]!) as { exact: boolean[]; direct: number[]; made: number[] };
      expect({ line, exact: rows.exact, direct: rows.direct }).toEqual({ line, exact: [true, true], direct: rows.made });
    }
    // The rows tell the kinds apart, and the identity is in them.
    const rowOf = (rel: string) => (JSON.parse(viaBinding.answers.find((a) => a.startsWith(`${rel}\t`))!.split('\t')[2]!) as { direct: number[] }).direct;
    if (options === 'context') {
      expect(rowOf('dir/file.txt').slice(0, 1)).toEqual([1]);
      expect(rowOf('dir/fifo').slice(0, 1)).toEqual([4]);
      const st = fs.lstatSync(path.join(root, 'dir/hard'), { bigint: true });
      expect(rowOf('dir/hard').slice(7, 9)).toEqual([Number(st.dev), Number(st.ino)]);
      expect(rowOf('dir/hard')[6]! & 4).toBe(4); // linked
    }
  });
});
