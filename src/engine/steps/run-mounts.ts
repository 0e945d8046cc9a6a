/**
 * `RUN --mount`, engine side: what each mount adds to the step's cache key,
 * and the host files, directories and sockets the sandbox binds.
 *
 * - bind: a copy of the selected subtree of the context (after
 *   .dockerignore), a stage or an image; `rw` writes go to the copy and are
 *   dropped with it. Key: the subtree's content digest (context, stage), or
 *   the image's manifest digest and the path.
 * - cache: the store's directory for the id (cache/cache-mounts.ts); its
 *   content never enters the key, only the mount's definition does.
 * - tmpfs: a tmpfs at the target.
 * - secret: a file (mode/uid/gid) in a step temp dir removed when the step
 *   ends, and/or an environment variable; the value never enters the key.
 * - ssh: a forwarding socket (run/secrets.ts).
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { openCacheMount } from '../../cache/cache-mounts.js';
import { statKey } from '../../cache/stat-cache.js';
import { entriesDigest, hashPath } from '../../copy/digest.js';
import { OcibuildError } from '../../errors.js';
import type { CanonicalValue } from '../../graph/canonical.js';
import type { MountSpec, RunStep, SourceRef } from '../../graph/types.js';
import { cleanTarget, materializeTree, readSourceTree, type SandboxMount } from '../../run/mounts.js';
import { openSshSocket } from '../../run/secrets.js';
import type { StepContext } from '../step.js';

async function fromIdentity(ctx: StepContext<RunStep>, from: SourceRef): Promise<string> {
  switch (from.kind) {
    case 'context':
      return from.name === undefined ? 'context' : `context:${from.name}`;
    case 'stage':
      return `stage:${(await ctx.inputs.sourceIdentity(from)) ?? from.index}`;
    case 'image':
      return `image:${(await ctx.inputs.sourceIdentity(from)) ?? from.ref}`;
  }
}

/** The digest of a bind mount's selected content (images: their manifest digest, immutable). */
async function bindIdentity(ctx: StepContext<RunStep>, from: SourceRef, source: string): Promise<string> {
  if (from.kind === 'image') return `${await fromIdentity(ctx, from)}:${source}`;
  const tree = await readSourceTree(await ctx.inputs.sourceFs(from), source);
  // Context files: the stat cache spares a warm rebuild from re-reading unchanged files (as COPY).
  const statCache = from.kind === 'context' ? await ctx.inputs.statCache?.() : undefined;
  const hashFile = statCache
    ? async (file: string, size: number) => {
        const k = statKey(file);
        const known = statCache.get(file, k);
        if (known) return known;
        const d = await hashPath(file, size);
        if (k !== undefined && statKey(file) === k) statCache.set(file, k, d);
        return d;
      }
    : undefined;
  return entriesDigest(tree.entries, { signal: ctx.signal, ...(hashFile ? { hashFile } : {}) });
}

/**
 * What the mounts add to the RUN's cache key (undefined without mounts, so
 * a RUN without --mount keeps its key): each mount's definition with
 * targets resolved, a bind's content digest; never a secret's value or a
 * cache's content.
 */
export async function mountsCacheInputs(ctx: StepContext<RunStep>, workdir: string): Promise<CanonicalValue | undefined> {
  if (ctx.step.mounts.length === 0) return undefined;
  const out: CanonicalValue[] = [];
  for (const m of ctx.step.mounts) {
    const target = m.target !== undefined ? cleanTarget(m.target, workdir) : null;
    switch (m.type) {
      case 'bind':
        out.push({ type: 'bind', target, source: m.source, from: await fromIdentity(ctx, m.from), readOnly: m.readOnly, content: await bindIdentity(ctx, m.from, m.source) });
        break;
      case 'cache':
        out.push({
          type: 'cache',
          target,
          id: m.id,
          sharing: m.sharing,
          readOnly: m.readOnly,
          mode: m.mode,
          uid: m.uid,
          gid: m.gid,
          from: m.from ? await fromIdentity(ctx, m.from) : null,
          source: m.source,
        });
        break;
      case 'tmpfs':
        out.push({ type: 'tmpfs', target, size: m.size ?? null, readOnly: m.readOnly });
        break;
      case 'secret':
        out.push({ type: 'secret', id: m.id, target, env: m.env ?? null, required: m.required, mode: m.mode, uid: m.uid, gid: m.gid });
        break;
      case 'ssh':
        out.push({ type: 'ssh', id: m.id, target, required: m.required, mode: m.mode, uid: m.uid, gid: m.gid });
        break;
    }
  }
  return out;
}

/**
 * Where secret files live during the step: a fresh directory in /dev/shm (memory: the value never
 * reaches a disk) when there is one, else a step temp dir in the store. Removed when the step ends.
 */
async function secretsTempDir(ctx: StepContext<RunStep>): Promise<string> {
  const shm = await fs.stat('/dev/shm').catch(() => undefined);
  if (shm?.isDirectory()) {
    const d = await fs.mkdtemp('/dev/shm/ocibuild-secrets-').catch(() => undefined);
    if (d) {
      ctx.defer(() => fs.rm(d, { recursive: true, force: true }));
      return d;
    }
  }
  return ctx.tempDir('secrets');
}

/** The mounts of one RUN, ready for the sandbox. */
export interface PreparedMounts {
  mounts: SandboxMount[];
  /** `NAME=value` of env secrets, and SSH_AUTH_SOCK. */
  env: string[];
  /** Secret values (for redaction). */
  secrets: string[];
  /** Gives back cache directories, stops ssh forwarding, removes secret files. */
  release(): Promise<void>;
}

/** Opens every mount of the RUN (releasing what was opened when one fails). */
export async function prepareMounts(ctx: StepContext<RunStep>, workdir: string, env: readonly string[]): Promise<PreparedMounts> {
  const mounts: SandboxMount[] = [];
  const extraEnv: string[] = [];
  const secrets: string[] = [];
  const releases: (() => Promise<void>)[] = [];
  const release = async () => {
    for (const r of releases.splice(0).reverse()) await r().catch(() => undefined);
  };
  const run = ctx.settings.run;
  let secretDir: string | undefined;
  let sshDir: string | undefined;
  let firstSsh: string | undefined;
  try {
    for (const m of ctx.step.mounts) {
      await prepareOne(m);
    }
  } catch (e) {
    await release();
    throw e;
  }
  if (firstSsh !== undefined && !env.some((e) => e.startsWith('SSH_AUTH_SOCK='))) extraEnv.push(`SSH_AUTH_SOCK=${firstSsh}`);
  // As BuildKit's exec op: sorted by destination, so a parent is mounted before what is mounted inside it.
  mounts.sort((a, b) => (a.destination < b.destination ? -1 : a.destination > b.destination ? 1 : 0));
  return { mounts, env: extraEnv, secrets, release };

  async function prepareOne(m: MountSpec): Promise<void> {
    switch (m.type) {
      case 'bind': {
        const tree = await readSourceTree(await ctx.inputs.sourceFs(m.from), m.source);
        const dir = await ctx.tempDir('bind');
        const copy = await materializeTree(tree, path.join(dir, 'root'));
        mounts.push({ type: 'bind', destination: cleanTarget(m.target, workdir), source: copy, readOnly: m.readOnly });
        return;
      }
      case 'cache': {
        const from = m.from;
        const opened = await openCacheMount(ctx.store, m.id, {
          sharing: m.sharing,
          mode: m.mode,
          uid: m.uid,
          gid: m.gid,
          signal: ctx.signal,
          ...(from
            ? {
                seed: async (dir: string) => {
                  const tree = await readSourceTree(await ctx.inputs.sourceFs(from), m.source);
                  if (tree.root.type !== 'directory') throw new OcibuildError('RUN_MOUNT', `cache mount ${JSON.stringify(m.id)}: source ${m.source} is not a directory`);
                  await materializeTree(tree, dir);
                },
              }
            : {}),
        });
        releases.push(() => opened.release());
        mounts.push({ type: 'bind', destination: cleanTarget(m.target, workdir), source: opened.path, readOnly: m.readOnly });
        return;
      }
      case 'tmpfs':
        mounts.push({ type: 'tmpfs', destination: cleanTarget(m.target, workdir), ...(m.size !== undefined ? { size: m.size } : {}), readOnly: m.readOnly });
        return;
      case 'secret': {
        const value = run?.secret ? await run.secret(m.id) : undefined;
        if (value === undefined) {
          if (m.required) throw new OcibuildError('SECRET_MISSING', `secret ${m.id}: not provided`, { hint: `pass --secret id=${m.id},src=FILE (or env=VAR) to the build` });
          return; // optional and absent: nothing mounted, as BuildKit
        }
        const text = Buffer.from(value).toString('utf8');
        secrets.push(text);
        if (m.env !== undefined) {
          if (run && (await run.method()).isolation !== 'oci') {
            // chroot isolation passes the environment on a command line, which any local user can read.
            throw new OcibuildError('UNSUPPORTED', `secret ${m.id}: env= needs an OCI runtime (crun or runc); with --isolation=chroot the value would show in the process list`);
          }
          extraEnv.push(`${m.env}=${text}`);
        }
        if (m.target !== undefined) {
          if (!secretDir) {
            secretDir = await secretsTempDir(ctx);
            const d = secretDir;
            await fs.chmod(d, 0o711);
            releases.push(() => fs.rm(d, { recursive: true, force: true }));
          }
          const file = path.join(secretDir, String(mounts.length));
          await fs.writeFile(file, value, { mode: 0o600 });
          if (process.getuid?.() === 0) await fs.chown(file, m.uid, m.gid);
          await fs.chmod(file, m.mode & 0o7777);
          mounts.push({ type: 'bind', destination: cleanTarget(m.target, workdir), source: file, readOnly: true });
        }
        return;
      }
      case 'ssh': {
        const paths = run?.ssh?.(m.id);
        if (paths === undefined) {
          if (m.required) throw new OcibuildError('SSH_MISSING', `ssh ${m.id}: no agent or keys given for this id`, { hint: `pass --ssh ${m.id === 'default' ? 'default' : `${m.id}=SOCKET_OR_KEY`} to the build` });
          return;
        }
        if (!sshDir) sshDir = await ctx.tempDir('ssh');
        const sock = await openSshSocket({ id: m.id, paths, env: run?.env ?? {}, dir: sshDir, mode: m.mode, uid: m.uid, gid: m.gid });
        releases.push(() => sock.close());
        const target = cleanTarget(m.target, workdir);
        mounts.push({ type: 'bind', destination: target, source: sock.socket, readOnly: false });
        firstSsh ??= target;
        return;
      }
    }
  }
}
