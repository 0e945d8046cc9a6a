import { Readable } from 'node:stream';
import { OcibuildError } from '../errors.js';

/** One entry of an archive the output writers produce (files and directories only). */
export interface ArchiveEntry {
  /** '/'-separated path inside the archive; directories end without '/'. */
  name: string;
  type: 'file' | 'directory';
  /** Byte length of a file: the stream must yield exactly this many bytes. */
  size?: number;
  /** Bytes of a small file. */
  data?: Uint8Array;
  /** Opens the bytes of a large file (streamed, never buffered whole). */
  open?: () => Promise<Readable>;
}

/** Options of archiveStream. */
export interface ArchiveOptions {
  /** mtime of every entry, seconds since the epoch (default 0): the archive is byte-for-byte reproducible. */
  mtime?: number;
}

const BLOCK = 512;
const ZERO_BLOCK = Buffer.alloc(BLOCK);

function writeString(buf: Buffer, offset: number, length: number, value: string): void {
  const b = Buffer.from(value, 'utf8');
  if (b.length > length) throw new Error(`tar field overflow: ${value}`);
  b.copy(buf, offset);
}

function writeOctal(buf: Buffer, offset: number, length: number, value: number): void {
  // length-1 octal digits and a NUL terminator.
  const digits = value.toString(8);
  if (digits.length <= length - 1) {
    writeString(buf, offset, length, digits.padStart(length - 1, '0') + '\0');
    return;
  }
  // GNU base-256 for values too large for octal (files >= 8 GiB).
  buf[offset] = 0x80;
  let v = BigInt(value);
  for (let i = length - 1; i > 0; i--) {
    buf[offset + i] = Number(v & 0xffn);
    v >>= 8n;
  }
}

function paxRecord(key: string, value: string): Buffer {
  const body = ` ${key}=${value}\n`;
  let len = Buffer.byteLength(body) + 1;
  while (String(len).length + Buffer.byteLength(body) !== len) len = String(len).length + Buffer.byteLength(body);
  return Buffer.from(`${len}${body}`, 'utf8');
}

function header(name: string, type: '0' | '5' | 'x', size: number, mode: number, mtime: number): Buffer {
  const h = Buffer.alloc(BLOCK);
  let prefix = '';
  let short = name;
  if (Buffer.byteLength(name) > 100) {
    // ustar prefix split at a '/' (prefix <= 155, name <= 100).
    const i = name.lastIndexOf('/', 155);
    if (i > 0 && Buffer.byteLength(name.slice(i + 1)) <= 100 && Buffer.byteLength(name.slice(0, i)) <= 155) {
      prefix = name.slice(0, i);
      short = name.slice(i + 1);
    } else {
      short = name.slice(0, 100);
    }
  }
  writeString(h, 0, 100, short);
  writeOctal(h, 100, 8, mode);
  writeOctal(h, 108, 8, 0);
  writeOctal(h, 116, 8, 0);
  writeOctal(h, 124, 12, size);
  writeOctal(h, 136, 12, mtime);
  h.fill(0x20, 148, 156);
  h.write(type, 156, 'latin1');
  h.write('ustar\0', 257, 'latin1');
  h.write('00', 263, 'latin1');
  writeOctal(h, 329, 8, 0);
  writeOctal(h, 337, 8, 0);
  writeString(h, 345, 155, prefix);
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += h[i]!;
  writeString(h, 148, 8, sum.toString(8).padStart(6, '0') + '\0 ');
  return h;
}

function needsPax(name: string): boolean {
  if (Buffer.byteLength(name) <= 100) return false;
  const i = name.lastIndexOf('/', 155);
  return !(i > 0 && Buffer.byteLength(name.slice(i + 1)) <= 100 && Buffer.byteLength(name.slice(0, i)) <= 155);
}

function padding(size: number): Buffer | undefined {
  const rest = size % BLOCK;
  return rest === 0 ? undefined : Buffer.alloc(BLOCK - rest);
}

/**
 * A reproducible tar stream of `entries`, in the order given: ustar headers
 * (PAX for long names, base-256 for huge sizes), uid/gid 0, empty owner names,
 * mode 0644 for files and 0755 for directories, one fixed mtime. File bodies are
 * streamed; a body whose length differs from `size` fails the stream with
 * SIZE_MISMATCH.
 */
export function archiveStream(entries: Iterable<ArchiveEntry> | AsyncIterable<ArchiveEntry>, options: ArchiveOptions = {}): Readable {
  const mtime = options.mtime ?? 0;
  async function* generate(): AsyncGenerator<Buffer> {
    for await (const e of entries) {
      const name = e.type === 'directory' ? `${e.name.replace(/\/+$/, '')}/` : e.name;
      const size = e.type === 'directory' ? 0 : e.size ?? e.data?.length;
      if (size === undefined) throw new OcibuildError('OUTPUT_INVALID', `archive entry ${e.name} has no size`);
      if (needsPax(name)) {
        const body = paxRecord('path', name);
        yield header(`PaxHeaders/${name.slice(-80)}`, 'x', body.length, 0o644, mtime);
        yield body;
        const pad = padding(body.length);
        if (pad) yield pad;
      }
      yield header(name, e.type === 'directory' ? '5' : '0', size, e.type === 'directory' ? 0o755 : 0o644, mtime);
      if (e.type === 'directory') continue;
      let written = 0;
      if (e.data) {
        if (e.data.length !== size) throw new OcibuildError('SIZE_MISMATCH', `archive entry ${e.name}: ${e.data.length} bytes, expected ${size}`);
        yield Buffer.from(e.data.buffer, e.data.byteOffset, e.data.byteLength);
        written = size;
      } else if (e.open) {
        const body = await e.open();
        try {
          for await (const chunk of body) {
            const b = chunk as Buffer;
            written += b.length;
            if (written > size) throw new OcibuildError('SIZE_MISMATCH', `archive entry ${e.name}: more than the expected ${size} bytes`);
            yield b;
          }
        } finally {
          body.destroy();
        }
      }
      if (written !== size) throw new OcibuildError('SIZE_MISMATCH', `archive entry ${e.name}: got ${written} bytes, expected ${size}`);
      const pad = padding(size);
      if (pad) yield pad;
    }
    yield ZERO_BLOCK;
    yield ZERO_BLOCK;
  }
  return Readable.from(generate(), { objectMode: false, highWaterMark: 256 * 1024 });
}
