import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable, Writable } from 'node:stream';
import { writeLayer } from '../write.js';
import type { LayerEntry, LayerResult, WriteLayerOptions } from '../types.js';

/** A Writable that keeps what it is given (test-sized data only). */
export class MemorySink extends Writable {
  readonly chunks: Buffer[] = [];
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (e?: Error | null) => void): void {
    this.chunks.push(Buffer.from(chunk));
    cb();
  }
  get data(): Buffer {
    return Buffer.concat(this.chunks);
  }
}

/** writeLayer into memory. */
export async function writeToBuffer(entries: LayerEntry[], options: WriteLayerOptions = {}): Promise<{ result: LayerResult; data: Buffer }> {
  const sink = new MemorySink();
  const result = await writeLayer(entries, sink, options);
  return { result, data: sink.data };
}

/** A readable giving `data` one byte at a time. */
export function byteByByte(data: Buffer): Readable {
  let i = 0;
  return new Readable({
    read() {
      if (i < data.length) this.push(data.subarray(i, ++i));
      else this.push(null);
    },
  });
}

/** A fresh temp dir. */
export function tempDir(prefix = 'ocibuild-layers-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** Run a command with input, returning stdout (throws on failure). */
export function sh(cmd: string, args: string[], input?: Buffer, cwd?: string): string {
  return execFileSync(cmd, args, { input, cwd, maxBuffer: 256 * 1024 * 1024, stdio: ['pipe', 'pipe', 'pipe'] }).toString('utf8');
}

/** Buffer source entry. */
export function file(p: string, content: string | Buffer, extra: Partial<LayerEntry> = {}): LayerEntry {
  const data = typeof content === 'string' ? Buffer.from(content) : content;
  return { path: p, type: 'file', mode: 0o644, uid: 0, gid: 0, size: data.length, source: { kind: 'buffer', data }, ...extra };
}

/** Directory entry. */
export function dir(p: string, extra: Partial<LayerEntry> = {}): LayerEntry {
  return { path: p, type: 'directory', mode: 0o755, uid: 0, gid: 0, ...extra };
}

/** A deterministic pseudo-random buffer (incompressible-ish). */
export function noise(n: number, seed = 1): Buffer {
  const b = Buffer.allocUnsafe(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    b[i] = x & 0xff;
  }
  return b;
}

/** Snapshot of a tree on disk: path → kind, mode, owner, size, link target, content digest. */
export function snapshot(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  const inodes = new Map<string, string>();
  const walk = (rel: string) => {
    const abs = path.join(root, rel);
    for (const name of fs.readdirSync(abs).sort()) {
      const r = rel ? `${rel}/${name}` : name;
      const st = fs.lstatSync(path.join(root, r));
      const mode = (st.mode & 0o7777).toString(8);
      const own = `${st.uid}:${st.gid}`;
      if (st.isDirectory()) {
        out[r] = `dir ${mode} ${own}`;
        walk(r);
      } else if (st.isSymbolicLink()) {
        out[r] = `symlink -> ${fs.readlinkSync(path.join(root, r))} ${own}`;
      } else if (st.isFile()) {
        const key = `${st.ino}`;
        const first = inodes.get(key);
        if (first === undefined) inodes.set(key, r);
        const content = fs.readFileSync(path.join(root, r));
        out[r] = `file ${mode} ${own} ${content.length} ${content.subarray(0, 32).toString('hex')}${first ? ` link=${first}` : ''}`;
      } else if (st.isFIFO()) {
        out[r] = `fifo ${mode} ${own}`;
      } else {
        out[r] = `other ${mode} ${own}`;
      }
    }
  };
  walk('');
  return out;
}

/** Write a tree into memory-backed layer bytes. */
export async function layerBytes(entries: LayerEntry[], options: WriteLayerOptions = {}): Promise<Buffer> {
  return (await writeToBuffer(entries, options)).data;
}
