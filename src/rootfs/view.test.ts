/**
 * The union view read from kept header indexes equals the view read from
 * the layers' bytes, opens no layer, and is only kept for verified layers.
 */
import { PassThrough, Readable } from 'node:stream';
import { writeLayer } from '../layers/index.js';
import type { LayerEntry } from '../layers/types.js';
import { decodeFsName } from '../fs-names.js';
import { indexedHeaders, RootfsView, type IndexedHeader, type LayerIndex } from './view.js';

const base = { mode: 0o755, uid: 0, gid: 0, mtime: 1 };
const file = (p: string, text: string, extra: Partial<LayerEntry> = {}): LayerEntry => ({ ...base, mode: 0o644, path: p, type: 'file', size: text.length, source: { kind: 'buffer', data: Buffer.from(text) }, ...extra });

async function tarOf(entries: LayerEntry[]): Promise<{ bytes: Buffer; diffId: string }> {
  const out = new PassThrough();
  const chunks: Buffer[] = [];
  out.on('data', (c: Buffer) => chunks.push(c));
  const r = await writeLayer(entries, out, { compression: 'gzip' });
  return { bytes: Buffer.concat(chunks), diffId: r.diffId };
}

const odd = decodeFsName(Buffer.from([0x6e, 0xff, 0x6f])); // "n\xffo": not UTF-8

async function layers() {
  return [
    await tarOf([
      { ...base, path: 'etc', type: 'directory' },
      file('etc/passwd', 'root:x:0:0::/root:/bin/sh\n'),
      { ...base, path: 'usr', type: 'directory' },
      { ...base, path: 'usr/lib', type: 'directory', uid: 7, gid: 8, mode: 0o2775 },
      file('usr/lib/a.so', 'aaa'),
      { ...base, path: 'usr/lib/hl', type: 'hardlink', linkname: 'usr/lib/a.so', mode: 0o644 },
      { ...base, path: 'lib', type: 'symlink', linkname: 'usr/lib', mode: 0o777 },
      { ...base, path: 'gone', type: 'directory' },
      file('gone/x', 'x'),
      { ...base, path: 'opq', type: 'directory' },
      file('opq/old', 'o'),
      { ...base, path: 'dev', type: 'directory' },
      { ...base, path: 'dev/null', type: 'char', devmajor: 1, devminor: 3, mode: 0o666 },
      { ...base, path: 'dev/fifo', type: 'fifo', mode: 0o600 },
      file(odd, 'odd name'),
    ]),
    await tarOf([
      { ...base, path: 'gone', type: 'whiteout' },
      { ...base, path: 'opq', type: 'directory' },
      { ...base, path: 'opq', type: 'opaque' },
      file('opq/new', 'n'),
      file('lib/b.so', 'bb'), // through the symlink: /usr/lib/b.so
    ]),
  ];
}

function dump(v: RootfsView): unknown[] {
  const out: unknown[] = [];
  const walk = (p: string) => {
    out.push([p, v.entry(p), v.isLinkTarget(p)]);
    for (const k of v.readdir(p)) walk(p === '/' ? `/${k}` : `${p}/${k}`);
  };
  walk('/');
  return out;
}

function memoryIndex(): LayerIndex & { kept: Map<number, IndexedHeader[]>; puts: number } {
  const kept = new Map<number, IndexedHeader[]>();
  const idx = {
    kept,
    puts: 0,
    get: async (i: number) => {
      const h = kept.get(i);
      // Through JSON, as the store keeps them.
      return h && indexedHeaders(JSON.parse(JSON.stringify(h)) as unknown[]);
    },
    put: async (i: number, headers: IndexedHeader[]) => {
      idx.puts++;
      kept.set(i, headers);
    },
  };
  return idx;
}

describe('RootfsView header index', () => {
  it('reads the same view from the kept indexes as from the layers, opening no layer', async () => {
    const ls = await layers();
    const opens: number[] = [];
    const open = async (i: number) => {
      opens.push(i);
      return Readable.from([ls[i]!.bytes]);
    };
    const diffIdOf = (i: number) => ls[i]?.diffId;
    const index = memoryIndex();
    const first = await RootfsView.load(2, open, { diffIdOf, index });
    expect(opens).toEqual([0, 1]);
    expect(index.puts).toBe(2);
    const plain = await RootfsView.load(2, open, { diffIdOf });
    const again = await RootfsView.load(2, async () => {
      throw new Error('no layer may be opened');
    }, { diffIdOf, index });
    expect(dump(again)).toEqual(dump(first));
    expect(dump(again)).toEqual(dump(plain));
    expect(again.entry('/gone')).toBeUndefined();
    expect(again.readdir('/opq')).toEqual(['new']);
    expect(again.entry('/usr/lib/b.so')?.layer).toBe(1);
    expect(again.entry(`/${odd}`)?.type).toBe('file');
    expect(again.isLinkTarget('/usr/lib/a.so')).toBe(true);
  });

  it('keeps no index for a layer that does not hash to its diffId, nor without a diffId to check', async () => {
    const ls = await layers();
    const open = async (i: number) => Readable.from([ls[i]!.bytes]);
    const index = memoryIndex();
    await expect(RootfsView.load(2, open, { diffIdOf: (i) => ls[1 - i]!.diffId, index })).rejects.toMatchObject({ code: 'DIGEST_MISMATCH' });
    expect(index.puts).toBe(0);
    await RootfsView.load(2, open, { index });
    expect(index.puts).toBe(0);
  });

  it('does not consult an index without a diffId to check', async () => {
    const ls = await layers();
    const index = memoryIndex();
    index.kept.set(0, [['planted', 'file', 0o644, 0, 0, 0, undefined, 1]]);
    const v = await RootfsView.load(1, async () => Readable.from([ls[0]!.bytes]), { index });
    expect(v.entry('/planted')).toBeUndefined();
    expect(v.entry('/etc/passwd')?.type).toBe('file');
  });

  it('rejects malformed kept entries (the layer is read again)', () => {
    expect(indexedHeaders([['a', 'file', 420, 0, 0, null, null, 1]])).toEqual([['a', 'file', 420, 0, 0, undefined, undefined, 1]]);
    for (const bad of [['a'], ['a', 'socket', 420, 0, 0, 0, null, 1], ['a', 'file', '420', 0, 0, 0, null, 1], [1, 'file', 420, 0, 0, 0, null, 1], ['a', 'file', 420, 0, 0, 'x', null, 1], 'a']) {
      expect(indexedHeaders([bad])).toBeUndefined();
    }
  });
});
