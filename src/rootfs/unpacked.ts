/**
 * Unpacked layers: each layer's tree, by diffId, in the store, made once and
 * never modified afterwards. RUN mounts them as overlay lower dirs (so a
 * layer's whiteouts are kept in overlay form inside its own tree); COPY
 * --from reads files from them through the union view.
 *
 * Contract shared by the engine (COPY --from) and src/run (lower dirs):
 * `ensureLayerUnpacked` returns the absolute path of the layer's tree; the
 * tree holds that one layer's entries (owners applied when root, modes,
 * links, special bits); a whiteout never names `.`, `..` or leaves the tree.
 *
 * Whiteouts stay in the tree in overlayfs form, so the tree is a valid lower
 * dir: `.wh.name` becomes `name`, a 0/0 character device (the kernel allows
 * creating those without privileges); `.wh..wh..opq` becomes the opaque
 * xattr on its directory, `trusted.overlay.opaque=y` when unpacked as root
 * (overlay mounted by root reads `trusted.`), `user.overlay.opaque=y`
 * otherwise (overlay mounted with `userxattr` in a user namespace). Readers
 * of a tree that is not a mount (COPY --from) treat a 0/0 character device as
 * "deleted". Node has no xattr or mknod API: whiteouts are made in one batch
 * per layer: devices by one GNU tar, xattrs by one `setfattr` (Debian's
 * `attr`), measured in src/run/snapshot.test.ts.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import type { Store } from '../cache/store.js';
import { OcibuildError } from '../errors.js';
import { applyLayer } from '../layers/apply.js';
import { listLayer } from '../layers/read.js';
import type { LayerEntry } from '../layers/types.js';
import { writeLayer } from '../layers/write.js';
import type { Digest } from '../oci/digest.js';
import type { Descriptor } from '../oci/types.js';
import { rootlessUserns } from './userns.js';

export { rootlessUserns, removeInUserns, storeRemoveOptions } from './userns.js';

/** A layer of an image: its blob descriptor and its diffId. */
export type UnpackableLayer = Pick<Descriptor, 'digest' | 'size' | 'mediaType'> & { diffId: Digest };

/** The xattr namespace overlayfs reads for opaque directories in trees made by this process. */
export function opaqueXattrName(uid = process.getuid?.() ?? 0): string {
  return uid === 0 ? 'trusted.overlay.opaque' : 'user.overlay.opaque';
}

/** The layer's unpacked tree in the store (made now if missing; its diffId verified while unpacking). */
export async function ensureLayerUnpacked(store: Store, layer: UnpackableLayer, options: { signal?: AbortSignal } = {}): Promise<string> {
  return store.ensureUnpacked(layer.diffId, async (dir) => {
    const stream = await store.open(layer.digest, layer.size);
    const whiteouts: string[] = [];
    const opaque: string[] = [];
    await applyLayer(stream, dir, {
      expectedDiffId: layer.diffId,
      ...(options.signal ? { signal: options.signal } : {}),
      onWhiteout: ({ dir: parent, name }) => {
        if (name === undefined) opaque.push(parent);
        else whiteouts.push(path.join(parent, name));
      },
    });
    await writeOverlayWhiteouts(dir, whiteouts, opaque);
    const userns = rootlessUserns();
    if (userns) await applyOwnersInUserns(store, layer, dir, userns, options.signal);
  });
}

/**
 * The bytes of `file` read by `cat` inside the user namespace `userns` (an
 * `unshare` prefix from `rootlessUserns`), where its subordinate-id owner is
 * mapped: for files of an unpacked tree the caller cannot read itself. A
 * failing `cat` ends the stream with an error naming the file.
 */
export function readInUserns(userns: readonly string[], file: string): Readable {
  const out = new PassThrough();
  const child = spawn('unshare', [...userns, 'cat', '--', file], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  child.stdout.pipe(out, { end: false });
  const fail = (why: string, cause?: unknown) => out.destroy(new OcibuildError('LAYER_INVALID', `cannot read ${file} in the user namespace: ${why}`, cause ? { cause } : {}));
  child.on('error', (e) => fail(`unshare: ${(e as NodeJS.ErrnoException).code}`, e));
  child.on('close', (code) => {
    if (code === 0) out.end();
    else fail(err.trim() || `cat exited with ${code}`);
  });
  out.on('close', () => {
    if (child.exitCode === null) child.kill();
  });
  return out;
}

/**
 * Gives a tree unpacked as the caller its layer's owners (and then again
 * the setuid/setgid bits chown clears), from inside the user namespace:
 * one `chown` per owner and one `chmod` per mode, over NUL-separated lists.
 */
async function applyOwnersInUserns(store: Store, layer: UnpackableLayer, dir: string, userns: readonly string[], signal?: AbortSignal): Promise<void> {
  const owners = new Map<string, string[]>();
  const modes = new Map<string, string[]>();
  for (const e of await listLayer(await store.open(layer.digest, layer.size), signal ? { signal } : {})) {
    if (e.type === 'whiteout' || e.type === 'opaque' || e.path === '.' || e.path === '') continue;
    if (e.uid !== 0 || e.gid !== 0) {
      const k = `${e.uid}:${e.gid}`;
      owners.set(k, [...(owners.get(k) ?? []), e.path]);
      if (e.type !== 'symlink' && e.mode & 0o6000) {
        const m = (e.mode & 0o7777).toString(8);
        modes.set(m, [...(modes.get(m) ?? []), e.path]);
      }
    }
  }
  const xargs = async (cmd: string[], paths: string[]) => {
    await new Promise<void>((resolve, reject) => {
      const child = spawn('unshare', [...userns, 'sh', '-c', 'cd -- "$1" && shift && exec xargs -0 -r "$@"', 'sh', dir, ...cmd], { stdio: ['pipe', 'ignore', 'pipe'] });
      let err = '';
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      child.on('error', reject);
      child.on('close', (code) => (code === 0 ? resolve() : reject(new OcibuildError('LAYER_INVALID', `cannot give ${layer.diffId}'s files their owners: ${err.trim() || `exit ${code}`}`))));
      child.stdin.end(Buffer.from(paths.map((p) => `./${p}\0`).join(''), 'utf8'));
    });
  };
  for (const [owner, paths] of owners) await xargs(['chown', '-h', '--', owner], paths);
  for (const [mode, paths] of modes) await xargs(['chmod', '--', mode], paths);
}

/**
 * Makes overlay whiteouts under `root`: a 0/0 character device at each of
 * `whiteouts` (free paths inside `root`, parents resolved), the opaque xattr
 * on each of `opaqueDirs`. The devices come from one GNU tar extracting a
 * tar of device entries (one process, not one mknod per whiteout: 100
 * whiteouts took 6.5 s with a process each on this loaded 2-core machine).
 */
export async function writeOverlayWhiteouts(root: string, whiteouts: readonly string[], opaqueDirs: readonly string[], xattr = opaqueXattrName()): Promise<void> {
  if (whiteouts.length > 0) {
    const entries: LayerEntry[] = whiteouts.map((w) => {
      const rel = path.relative(root, w);
      if (rel === '' || rel.startsWith('..') || path.isAbsolute(rel)) throw new OcibuildError('LAYER_ESCAPE', `whiteout ${JSON.stringify(w)} is outside ${root}`);
      return { path: rel.split(path.sep).join('/'), type: 'char', mode: 0, uid: 0, gid: 0, devmajor: 0, devminor: 0, mtime: 0 };
    });
    const child = spawn('tar', ['-x', '-f', '-', '-C', root, '--no-same-owner', '--no-same-permissions'], { stdio: ['pipe', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const done = new Promise<number>((resolve, reject) => {
      child.on('error', (e) => reject(new OcibuildError('SANDBOX_UNAVAILABLE', `cannot create overlay whiteouts: tar is not installed`, { cause: e })));
      child.on('close', (code) => resolve(code ?? 1));
    });
    await writeLayer(entries, child.stdin, { compression: 'none' }).catch((e) => {
      child.kill();
      throw e;
    });
    const code = await done;
    if (code !== 0) throw new OcibuildError('LAYER_INVALID', `cannot create overlay whiteouts: tar exited with ${code}: ${err.trim()}`);
  }
  for (let i = 0; i < opaqueDirs.length; i += 500) {
    await tool('setfattr', ['-n', xattr, '-v', 'y', '--', ...opaqueDirs.slice(i, i + 500)], 'cannot mark opaque directories');
  }
}

function tool(cmd: string, args: string[], what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', (e) =>
      reject(new OcibuildError('SANDBOX_UNAVAILABLE', `${what}: ${cmd} is not installed (${(e as NodeJS.ErrnoException).code})`, { cause: e, hint: cmd === 'setfattr' ? 'install Debian\'s "attr" package' : undefined })),
    );
    child.on('close', (code) => (code === 0 ? resolve() : reject(new OcibuildError('LAYER_INVALID', `${what}: ${cmd} exited with ${code}: ${err.trim()}`))));
  });
}
