/**
 * zstd as a stream, through Debian's `zstd` program: decompression (base
 * layers) and compression (`--output ...,compression=zstd`).
 *
 * Node 20 has no zstd in node:zlib. Measured on a 204 MB layer (85 MB zstd,
 * the Debian minbase rootfs; see README, "zstd layers"), `zstd -d` in a child
 * process was the fastest candidate that installs on a fresh machine (the npm
 * native bindings build from source with node-gyp for minutes, the WebAssembly
 * and pure-JS decoders are 2-3x slower), it runs off the main thread on
 * another core, and it holds only its window (at most 128 MB by default,
 * `--long` frames are refused) plus the pipe buffers.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { Duplex } from 'node:stream';
import { ZSTD_DEFAULT_LEVEL, ZSTD_MAX_LEVEL, ZSTD_MIN_LEVEL } from '../oci/compression.js';
import { OcibuildError } from '../errors.js';

/** The four magic bytes of a zstd frame. */
export const ZSTD_MAGIC = Buffer.from([0x28, 0xb5, 0x2f, 0xfd]);

/** True when `head` starts a zstd frame. */
export function isZstd(head: Uint8Array): boolean {
  return head.length >= 4 && ZSTD_MAGIC.every((b, i) => head[i] === b);
}

class ZstdProcess extends Duplex {
  private readonly child: ChildProcessWithoutNullStreams;
  private stderr = '';
  private exited = false;

  constructor(program: string, args: readonly string[], compress: boolean) {
    super({ readableHighWaterMark: 256 * 1024 });
    const child = (this.child = spawn(program, [...args], { stdio: ['pipe', 'pipe', 'pipe'] }));
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (d: string) => {
      if (this.stderr.length < 4096) this.stderr += d;
    });
    child.stdin.on('error', () => {
      /* EPIPE when zstd stops early: its exit status says why */
    });
    child.stdout.on('data', (chunk: Buffer) => {
      if (!this.push(chunk)) child.stdout.pause();
    });
    child.on('error', (e: NodeJS.ErrnoException) => {
      this.exited = true;
      this.destroy(new OcibuildError('UNSUPPORTED', `cannot run zstd to ${compress ? 'compress a layer as zstd' : 'decompress a zstd layer'}: ${e.code ?? e.message}`, { cause: e, hint: 'install zstd (Debian package "zstd")' }));
    });
    child.on('close', (code, signal) => {
      this.exited = true;
      if (this.destroyed) return;
      if (code === 0) this.push(null);
      else if (compress) this.destroy(new OcibuildError('LAYER_INVALID', `zstd compression failed (zstd ${signal ?? `exit ${code}`}): ${this.stderr.trim() || 'no message'}`));
      else this.destroy(new OcibuildError('LAYER_INVALID', `layer is not valid zstd (zstd ${signal ?? `exit ${code}`}): ${this.stderr.trim() || 'no message'}`));
    });
  }

  override _read(): void {
    this.child.stdout.resume();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (e?: Error | null) => void): void {
    if (this.child.stdin.write(chunk)) cb();
    else this.child.stdin.once('drain', () => cb());
  }

  override _final(cb: (e?: Error | null) => void): void {
    this.child.stdin.end();
    cb();
  }

  override _destroy(err: Error | null, cb: (e?: Error | null) => void): void {
    if (!this.exited) this.child.kill('SIGKILL');
    this.child.stdin.destroy();
    this.child.stdout.destroy();
    cb(err);
  }
}

/**
 * A duplex stream: zstd-compressed bytes in, the decompressed bytes out
 * (several concatenated frames allowed, as the OCI spec's zstd layers may
 * have). A corrupt or truncated input fails it with LAYER_INVALID and zstd's
 * message; without the `zstd` program it fails with UNSUPPORTED and the fix.
 * Destroying it kills the program.
 */
export function createZstdDecompress(options: { program?: string } = {}): Duplex {
  return new ZstdProcess(options.program ?? 'zstd', ['-d', '-c', '-q'], false);
}

export { ZSTD_DEFAULT_LEVEL, ZSTD_MAX_LEVEL, ZSTD_MIN_LEVEL } from '../oci/compression.js';

/**
 * A duplex stream: bytes in, one zstd frame out, through the `zstd` program at
 * `level`, always in its multi-threaded mode (`-T<threads>`, default 2):
 * zstd's multi-threaded output depends only on the input, the level and the
 * zstd version, never on the number of workers (`-T1` and `-T4` write the
 * same bytes; `--single-thread` would write other ones), so the same input
 * gives the same digest at any concurrency. No content size in the frame
 * header (the input is a pipe), a checksum at its end, no `--long`.
 */
export function createZstdCompress(options: { level?: number; threads?: number; program?: string } = {}): Duplex {
  const level = options.level ?? ZSTD_DEFAULT_LEVEL;
  if (!Number.isInteger(level) || level < ZSTD_MIN_LEVEL || level > ZSTD_MAX_LEVEL) {
    throw new OcibuildError('USAGE', `zstd level must be an integer from ${ZSTD_MIN_LEVEL} to ${ZSTD_MAX_LEVEL}, got ${level}`);
  }
  const threads = Math.max(1, Math.floor(options.threads ?? 2));
  return new ZstdProcess(options.program ?? 'zstd', ['-c', '-q', `-${level}`, `-T${threads}`], true);
}
