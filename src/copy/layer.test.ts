import fs from 'node:fs';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { contextSourceFs, copyToLayer, type CopySpec } from './index.js';
import { h, listTar, makeTree, removeTemp, tempDir } from './testing/helpers.js';

let tmp: string;

beforeEach(() => {
  tmp = tempDir();
});
afterEach(() => removeTemp(tmp));

async function layer(ctx: string, spec: CopySpec, sourceDateEpoch?: number) {
  const out = new PassThrough();
  const chunks: Buffer[] = [];
  out.on('data', (c: Buffer) => chunks.push(c));
  const result = await copyToLayer(spec, { source: contextSourceFs(ctx), tmpDir: tmp }, out, { compression: 'none', sourceDateEpoch });
  return { result, tar: Buffer.concat(chunks) };
}

const spec: CopySpec = { instruction: 'COPY', sources: ['app', 'README'], dest: '/srv/', chown: { user: '10', group: '20' } };

function context(dir: string, mtime: number): string {
  makeTree(dir, {
    'app/main.js': { data: 'console.log(1)\n', mtime },
    'app/lib/util.js': { data: 'export {}\n', mtime },
    'app/lib/same.js': { hardlink: 'app/lib/util.js' },
    'app/current': { symlink: 'main.js' },
    README: { data: 'read me\n', mtime },
  });
  return dir;
}

describe('copyToLayer', () => {
  test('writes the planned entries as a tar in one pass, contents streamed from the context', async () => {
    const ctx = context(path.join(tmp, 'ctx'), 1_500_000_000);
    const { result, tar } = await layer(ctx, spec);
    expect(result.uncompressedSize).toBe(tar.length);
    expect(result.entryCount).toBe(7);
    const lines = await listTar(tar);
    expect(lines.map((l) => l.replace(/ @\d+/, ''))).toEqual([
      'directory srv 0755 10:20',
      `file srv/README 0644 10:20 ${h('read me\n')}`,
      'symlink srv/current 0777 10:20 -> main.js',
      'directory srv/lib 0755 10:20',
      `file srv/lib/same.js 0644 10:20 ${h('export {}\n')}`,
      'hardlink srv/lib/util.js 0644 10:20 -> srv/lib/same.js',
      `file srv/main.js 0644 10:20 ${h('console.log(1)\n')}`,
    ]);
    expect(lines.find((l) => l.startsWith('file srv/main.js'))).toContain('@1500000000');
  });

  test('the same inputs give the same diffId; SOURCE_DATE_EPOCH makes contexts made at different times identical', async () => {
    const a = context(path.join(tmp, 'a'), 1_500_000_000);
    const b = context(path.join(tmp, 'b'), 1_700_000_000);
    const one = await layer(a, spec);
    const two = await layer(a, spec);
    expect(two.result.diffId).toBe(one.result.diffId);
    const other = await layer(b, spec);
    expect(other.result.diffId).not.toBe(one.result.diffId);
    // clamp both below their mtimes (directories created now, files in the past)
    const sa = await layer(a, spec, 1_400_000_000);
    const sb = await layer(b, spec, 1_400_000_000);
    expect(sb.result.diffId).toBe(sa.result.diffId);
    expect((await listTar(sa.tar)).every((l) => l.includes('@1400000000'))).toBe(true);
  });

  test('temporary files of ADD are removed after the layer is written', async () => {
    const ctx = path.join(tmp, 'ctx');
    makeTree(ctx, { 'p/f': 'F' });
    const { execFileSync } = await import('node:child_process');
    execFileSync('tar', ['-czf', path.join(ctx, 'a.tgz'), '-C', path.join(ctx, 'p'), 'f']);
    const work = path.join(tmp, 'work');
    fs.mkdirSync(work);
    const out = new PassThrough();
    const chunks: Buffer[] = [];
    out.on('data', (c: Buffer) => chunks.push(c));
    const r = await copyToLayer({ instruction: 'ADD', sources: ['a.tgz'], dest: '/x/' }, { source: contextSourceFs(ctx), tmpDir: work }, out, { compression: 'gzip', sourceDateEpoch: 1_000_000_000 });
    expect(fs.readdirSync(work)).toEqual([]);
    expect(r.mediaType).toBe('application/vnd.oci.image.layer.v1.tar+gzip');
    expect(await listTar(Buffer.concat(chunks))).toEqual(['directory x 0755 0:0 @1000000000', `file x/f 0644 0:0 @1000000000 ${h('F')}`]);
  });
});

describe('entriesDigest', () => {
  test('changes with contents, modes and names, not with mtimes', async () => {
    const { planCopy, entriesDigest } = await import('./index.js');
    const digestOf = async (ctx: string, more: Partial<CopySpec> = {}) => {
      const p = await planCopy({ ...spec, ...more }, { source: contextSourceFs(ctx) });
      return entriesDigest(p.entries);
    };
    const a = context(path.join(tmp, 'a'), 1_500_000_000);
    const b = context(path.join(tmp, 'b'), 1_700_000_000);
    const base = await digestOf(a);
    expect(base).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(await digestOf(b)).toBe(base);
    expect(await digestOf(a, { chmod: '600' })).not.toBe(base);
    expect(await digestOf(a, { dest: '/other/' })).not.toBe(base);
    fs.writeFileSync(path.join(b, 'README'), 'read me!\n');
    expect(await digestOf(b)).not.toBe(base);
  });
});
