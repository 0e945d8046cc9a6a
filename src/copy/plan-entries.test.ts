import type { LayerEntry } from '../layers/types.js';
import { PlanTable } from './plan-entries.js';

const file = (path: string, src: string, extra: Partial<LayerEntry> = {}): LayerEntry => ({
  path,
  type: 'file',
  mode: 0o644,
  uid: 0,
  gid: 0,
  mtime: 1_700_000_000,
  size: 3,
  source: { kind: 'path', path: src, identity: `1:${path.length}:3:0:0` },
  ...extra,
});

describe('PlanTable / PlannedEntries', () => {
  it('gives back each entry as planned, in planned order (one planned again keeps its place, one removed and planned again goes last)', () => {
    const t = new PlanTable();
    const entries: LayerEntry[] = [
      { path: 'd', type: 'directory', mode: 0o755, uid: 1, gid: 2, mtime: undefined },
      file('d/a', '/ctx/d/a'),
      file('d/b', '/ctx/d/b', { uid: 4_000_000_000, mtime: -5 }),
      // A source that is not the entry's own name in a source directory (COPY a.txt /d/c).
      file('d/c', '/ctx/a.txt'),
      { path: 'd/l', type: 'symlink', mode: 0o777, uid: 0, gid: 0, linkname: '../x' },
      { path: 'd/h', type: 'hardlink', mode: 0o644, uid: 0, gid: 0, linkname: 'd/a' },
      { path: 'dev', type: 'char', mode: 0o600, uid: 0, gid: 0, devmajor: 1, devminor: 3 },
      { path: 'buf', type: 'file', mode: 0o600, uid: 0, gid: 0, size: 2, source: { kind: 'buffer', data: new Uint8Array([1, 2]) } },
    ];
    for (const e of entries) t.set(e, false);
    // Planned again at its path: the new entry, in the old one's place.
    const again = file('d/a', '/ctx/other/a', { mode: 0o600 });
    t.set(again, true);
    t.delete('d/b');
    const b2 = file('d/b', '/ctx/d/b');
    t.set(b2, false);
    expect(t.typeAt('d/a')).toBe('file');
    expect(t.existingAt('d/a')).toBe(true);
    expect(t.existingAt('d/c')).toBe(false);
    expect(t.linknameAt('d/l')).toBe('../x');
    expect(t.typeAt('d/x')).toBeUndefined();
    const list = t.finish();
    const want = [entries[0], again, entries[3], entries[4], entries[5], entries[6], entries[7], b2];
    expect(list.length).toBe(want.length);
    expect([...list]).toEqual(want);
    expect(Array.from({ length: list.length }, (_, i) => list.at(i))).toEqual(want);
    expect(list.at(-1)).toBeUndefined();
    expect(list.at(list.length)).toBeUndefined();
    expect(list.path(1)).toBe('d/a');
    expect(list.size(0)).toBeUndefined();
    expect(list.hasStreams()).toBe(false);
    // An identity found after planning is kept.
    list.setIdentity(1, '9:9:9:9:9');
    expect(list.source(1)).toEqual({ kind: 'path', path: '/ctx/other/a', identity: '9:9:9:9:9' });
    list.setIdentity(2, '8:8:8:8:8');
    expect(list.at(2)!.source).toEqual({ kind: 'path', path: '/ctx/a.txt', identity: '8:8:8:8:8' });
  });

  it('removes a tree and what is below it', () => {
    const t = new PlanTable();
    for (const p of ['a', 'a/b', 'a/b/c', 'ab', 'a-b/c']) t.set(p.includes('/') || p === 'ab' ? file(p, `/s/${p}`) : { path: p, type: 'directory', mode: 0o755, uid: 0, gid: 0 }, false);
    t.deleteTree('a');
    expect([...t.finish()].map((e) => e.path)).toEqual(['ab', 'a-b/c']);
  });
});
