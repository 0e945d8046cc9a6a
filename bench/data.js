// Reproducible benchmark data sets: the same bytes, names and modes on every
// run and machine (seeded PRNG + AES-CTR keystream for incompressible parts).
import fs from 'node:fs';
import path from 'node:path';
import { createCipheriv } from 'node:crypto';

const VERSION = 'v1';

/** mulberry32: a small seeded PRNG, returns floats in [0, 1). */
function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A deterministic incompressible byte stream. */
function keystream(seed) {
  const key = Buffer.alloc(16);
  key.writeUInt32BE(seed, 0);
  const c = createCipheriv('aes-128-ctr', key, Buffer.alloc(16));
  return (n) => c.update(Buffer.alloc(n));
}

/** About 8 MiB of source-code-like text from a fixed vocabulary (compresses ~3x with gzip -6). */
function corpus(seed) {
  const rnd = prng(seed);
  const syll = ['con', 'st', 'fun', 'ction', 're', 'turn', 'ex', 'port', 'im', 'val', 'ue', 'data', 'lay', 'er', 'tar', 'im', 'age', 'buf', 'fer', 'str', 'eam', 'op', 'tion', 'err', 'or', 'get', 'set', 'ma', 'ni', 'fest', 'dig', 'est', 'node', 'path', 'read', 'write', 'size', 'mode', 'sync', 'async', 'await', 'if', 'else', 'for', 'let', 'new', 'this', 'null'];
  const words = [];
  for (let i = 0; i < 2000; i++) {
    let w = '';
    const n = 1 + Math.floor(rnd() * 3);
    for (let j = 0; j < n; j++) w += syll[Math.floor(rnd() * syll.length)];
    words.push(w);
  }
  const punct = [' ', ' ', ' ', ' ', '.', '(', ')', ', ', ' = ', ';\n', '\n  ', ' { ', ' }\n', ': ', ' + ', '[i]'];
  const parts = [];
  let len = 0;
  while (len < 8 * 1024 * 1024) {
    // Zipf-ish: frequent words are frequent.
    const w = words[Math.floor(words.length * rnd() * rnd() * rnd())];
    const s = w + punct[Math.floor(rnd() * punct.length)] + (rnd() < 0.05 ? String(Math.floor(rnd() * 100000)) : '');
    parts.push(s);
    len += s.length;
  }
  return Buffer.from(parts.join(''), 'latin1');
}

/** Fill `n` bytes: mostly text slices, `binaryShare` of 64 KiB chunks random. */
function content(n, rnd, text, random, binaryShare) {
  const out = Buffer.allocUnsafe(n);
  let p = 0;
  while (p < n) {
    const len = Math.min(n - p, 64 * 1024);
    if (rnd() < binaryShare) {
      random(len).copy(out, p);
    } else {
      const off = Math.floor(rnd() * (text.length - len));
      text.copy(out, p, off, off + len);
    }
    p += len;
  }
  return out;
}

/** 20,000 files, about 100 MB, in 200 directories two levels deep; 10% are random bytes. */
function makeSmall(dir) {
  const rnd = prng(1);
  const random = keystream(1);
  const text = corpus(7);
  let total = 0;
  for (let d = 0; d < 200; d++) {
    const sub = path.join(dir, `pkg-${String(d % 20).padStart(2, '0')}`, `mod-${String(d).padStart(3, '0')}`);
    fs.mkdirSync(sub, { recursive: true });
    for (let f = 0; f < 100; f++) {
      // Log-uniform sizes from 64 B to ~32 KiB, mean about 5 KB.
      const size = Math.floor(64 * Math.pow(2, rnd() * 9.0));
      const binary = rnd() < 0.1;
      const data = binary ? random(size) : content(size, rnd, text, random, 0);
      const name = path.join(sub, `file-${String(f).padStart(3, '0')}${binary ? '.bin' : '.js'}`);
      fs.writeFileSync(name, data);
      fs.chmodSync(name, rnd() < 0.1 ? 0o755 : 0o644);
      total += size;
    }
  }
  return total;
}

/** 4 files of 100 MiB: text with 25% random 64 KiB chunks. */
function makeBig(dir) {
  fs.mkdirSync(dir, { recursive: true });
  const rnd = prng(2);
  const random = keystream(2);
  const text = corpus(11);
  let total = 0;
  for (let i = 0; i < 4; i++) {
    const fd = fs.openSync(path.join(dir, `blob-${i}.dat`), 'w', 0o644);
    for (let mb = 0; mb < 100; mb++) {
      const chunk = content(1024 * 1024, rnd, text, random, 0.25);
      fs.writeSync(fd, chunk);
      total += chunk.length;
    }
    fs.closeSync(fd);
  }
  return total;
}

/**
 * Create (or reuse, when a previous run finished it) the data sets under
 * `base`. Returns `{ small, big }` directory paths with their byte totals.
 */
export function ensureData(base) {
  const root = path.join(base, `ocibuild-bench-data-${VERSION}`);
  const marker = path.join(root, 'READY');
  const sets = { small: path.join(root, 'small'), big: path.join(root, 'big') };
  if (fs.existsSync(marker)) return { ...sets, ...JSON.parse(fs.readFileSync(marker, 'utf8')) };
  fs.rmSync(root, { recursive: true, force: true });
  fs.mkdirSync(root, { recursive: true });
  const smallBytes = makeSmall(sets.small);
  const bigBytes = makeBig(sets.big);
  // Fixed mtimes so GNU tar and our writer see the same tree on every machine.
  const fix = (p) => {
    for (const e of fs.readdirSync(p, { withFileTypes: true })) {
      const q = path.join(p, e.name);
      if (e.isDirectory()) fix(q);
      fs.utimesSync(q, 1700000000, 1700000000);
    }
  };
  fix(sets.small);
  fix(sets.big);
  const info = { smallBytes, bigBytes };
  fs.writeFileSync(marker, JSON.stringify(info));
  return { ...sets, ...info };
}
