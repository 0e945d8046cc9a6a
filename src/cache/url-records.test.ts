import { mkdtemp, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Digest } from '../oci/digest.js';
import { Store } from './store.js';
import { readUrlRecord, urlRecordSlot, writeUrlRecord } from './url-records.js';

let tmp: string;
let store: Store;
beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'ocibuild-url-records-'));
  store = await Store.open(path.join(tmp, 'store'));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

const digest = `sha256:${'ab'.repeat(32)}` as Digest;

test('a record reads back as written; slots differ by URL and by headers', async () => {
  const slot = urlRecordSlot(['https://example.com/a.tgz', '{}']);
  expect(slot).not.toBe(urlRecordSlot(['https://example.com/a.tgz', '{"authorization":"x"}']));
  expect(await readUrlRecord(store, slot)).toBeUndefined();
  await writeUrlRecord(store, slot, { etag: '"v1"', digest, mtime: 1700000000 });
  expect(await readUrlRecord(store, slot)).toEqual({ etag: '"v1"', digest, mtime: 1700000000 });
  await writeUrlRecord(store, slot, { etag: 'W/"v2"', digest, mtime: null });
  expect(await readUrlRecord(store, slot)).toEqual({ etag: 'W/"v2"', digest, mtime: null });
});

test('a torn, foreign or malformed record is no record (the step downloads)', async () => {
  const slot = urlRecordSlot(['https://example.com/b', '{}']);
  const file = path.join(store.root, 'urls', `${slot}.json`);
  for (const text of ['{"v":1,"etag":"x","dig', '{"v":2,"etag":"x","digest":"' + digest + '","mtime":null}', '{"v":1,"etag":"","digest":"' + digest + '","mtime":null}', '{"v":1,"etag":"x","digest":"sha256:12","mtime":null}', '{"v":1,"etag":"x","digest":"' + digest + '","mtime":1.5}']) {
    await writeFile(file, text);
    expect(await readUrlRecord(store, slot)).toBeUndefined();
  }
});

test('at most 256 records are kept, the least recently written go first', async () => {
  const dir = path.join(store.root, 'urls');
  await rm(dir, { recursive: true, force: true });
  const slots = Array.from({ length: 257 }, (_, i) => urlRecordSlot([`https://example.com/${i}`, '{}']));
  for (let i = 0; i < 256; i++) {
    await writeUrlRecord(store, slots[i]!, { etag: `"${i}"`, digest, mtime: null });
    await utimes(path.join(dir, `${slots[i]}.json`), 1000 + i, 1000 + i);
  }
  await writeUrlRecord(store, slots[256]!, { etag: '"256"', digest, mtime: null });
  const names = await readdir(dir);
  expect(names).toHaveLength(256);
  expect(names).not.toContain(`${slots[0]}.json`);
  expect(names).toContain(`${slots[256]}.json`);
});
