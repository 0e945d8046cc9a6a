// One "COPY" as ocibuild does it: walk a directory and write a gzip layer to a file.
// Usage: node bench/copy-layer.js <dir> <out-file>; prints a JSON result line.
import fs from 'node:fs';
import { entriesFromDirectory, writeLayer } from '../dist/layers/index.js';

const [dir, outFile] = process.argv.slice(2);
if (!dir || !outFile) {
  console.error('usage: node bench/copy-layer.js <dir> <out-file>');
  process.exit(2);
}
const t0 = performance.now();
const entries = await entriesFromDirectory(dir, { uid: 0, gid: 0 });
const t1 = performance.now();
const result = await writeLayer(entries, fs.createWriteStream(outFile), { sourceDateEpoch: 1_700_000_000 });
const t2 = performance.now();
console.log(JSON.stringify({ ...result, entries: entries.length, walkMs: t1 - t0, writeMs: t2 - t1 }));
