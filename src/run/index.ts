/**
 * RUN: a command run in a sandbox over the stage's layers, its changes
 * written as one reproducible layer into the store. The engine calls
 * {@link executeRun} with the step's resolved inputs; everything Dockerfile-
 * specific (expansion, scoping) happened in the compiler.
 */
import path from 'node:path';
import type { Store } from '../cache/store.js';
import { OcibuildError } from '../errors.js';
import type { CanonicalValue } from '../graph/canonical.js';
import { writeLayer } from '../layers/write.js';
import type { Digest } from '../oci/digest.js';
import type { Writable } from 'node:stream';
import type { LayerResult } from '../layers/types.js';
import { runCommand, type RunHeredoc } from './command.js';
import type { HostProbe } from './probe.js';
import { runSandbox, type ExtraHost, type SandboxMethod } from './sandbox.js';
import type { Rlimit } from './spec.js';
import { resolveUser } from './user.js';
import type { OutputRedactor, SandboxMount } from './mounts.js';

export { runCommand, commandText, DEFAULT_SHELL, type RunCommand, type RunHeredoc } from './command.js';
export { resolveUser, type ProcessUser } from './user.js';
export { createRuntimeSpec, type Rlimit, type RuntimeSpecInput } from './spec.js';
export { snapshotUpper, listOpaqueDirs } from './snapshot.js';
export { copyLowerTrees, diffTree, statTree, type StatSnapshot } from './copy-snapshot.js';
export { probeHost, type HostProbe, type ProbeItem } from './probe.js';
export { runSandbox, parseAddHost, hostsFile, type ExtraHost, type SandboxMethod } from './sandbox.js';
export { parseUlimit, parseShmSize } from './limits.js';
export { OutputRedactor, runtimeMounts, type SandboxMount } from './mounts.js';
export { parseSecretFlag, parseSshFlag, readSecret, type SecretSource } from './secrets.js';

/** `--isolation`: `oci` (a runtime), `chroot` (unshare + chroot), or chosen from what works. */
export type IsolationRequest = 'auto' | 'oci' | 'chroot';

/** `--snapshotter`: kernel `overlay`, `fuse-overlayfs`, a `copy` with a stat-based diff, or the first that works. */
export type SnapshotRequest = 'auto' | 'overlay' | 'fuse-overlayfs' | 'copy';

/**
 * The sandbox method for this host: `oci` with the first working runtime,
 * else `chroot`; overlay, else fuse-overlayfs, else a copy with a stat-based
 * diff. `reason` says why a fallback was taken (shown once per build).
 */
export function chooseSandbox(probe: HostProbe, isolation: IsolationRequest = 'auto', snapshotRequest: SnapshotRequest = 'auto'): SandboxMethod & { reason?: string } {
  if (probe.unavailable || !probe.snapshot) {
    throw new OcibuildError('SANDBOX_UNAVAILABLE', `RUN cannot work on this host: ${probe.unavailable ?? 'no snapshot method'}`, { hint: 'run `ocibuild doctor` for the details and fixes' });
  }
  const reasons: string[] = [];
  let snapshot = probe.snapshot;
  if (snapshotRequest !== 'auto') {
    const item = snapshotRequest === 'overlay' ? probe.overlay : snapshotRequest === 'fuse-overlayfs' ? probe.fuseOverlayfs : probe.copy;
    if (!item.ok) throw new OcibuildError('SANDBOX_UNAVAILABLE', `snapshot ${snapshotRequest}: ${item.detail}`, item.fix ? { hint: item.fix } : {});
    snapshot = snapshotRequest;
  } else if (probe.snapshot === 'fuse-overlayfs') reasons.push(`snapshot: fuse-overlayfs, because ${probe.overlay.detail}`);
  else if (probe.snapshot === 'copy') reasons.push(`snapshot: copy (a copied tree with a stat-based diff, slower on big images), because ${probe.overlay.detail}; ${probe.fuseOverlayfs.detail}`);
  if (isolation === 'oci' && !probe.runtime) {
    throw new OcibuildError('SANDBOX_UNAVAILABLE', `--isolation=oci: no OCI runtime works here (${probe.runtimes.crun.detail}; ${probe.runtimes.runc.detail})`, {
      hint: probe.runtimes.crun.fix ?? probe.runtimes.runc.fix ?? 'install crun or runc, or use --isolation=chroot',
    });
  }
  if (isolation === 'chroot' || !probe.runtime) {
    if (isolation !== 'chroot') reasons.push(`isolation: chroot, because no OCI runtime works (${probe.runtimes.crun.detail}; ${probe.runtimes.runc.detail})`);
    return { isolation: 'chroot', snapshot, probe, ...(reasons.length ? { reason: reasons.join('; ') } : {}) };
  }
  if (probe.runtime !== 'crun') reasons.push(`runtime: runc, because ${probe.runtimes.crun.detail}`);
  return { isolation: 'oci', runtime: probe.runtime, snapshot, probe, ...(reasons.length ? { reason: reasons.join('; ') } : {}) };
}

/** What a RUN needs, resolved by the engine. */
export interface RunInput {
  store: Store;
  /**
   * The unpacked trees of the stage's layers so far (base image, then the
   * COPY/ADD/RUN layers of this stage; `ensureLayerUnpacked`), bottom first.
   */
  lowerDirs: readonly string[];
  /** Writes the layer blob into the store (default: straight into a store writer). */
  writeBlob?: (write: (out: Writable) => Promise<LayerResult>) => Promise<RunLayer>;
  /** Exec form argv, or the shell-form command line as one element. */
  command: readonly string[];
  prependShell: boolean;
  heredocs: readonly RunHeredoc[];
  /** The image's SHELL (empty: /bin/sh -c). */
  shell?: readonly string[];
  /** The process environment: image Env, then the ARGs in scope that ENV does not set. */
  env: string[];
  /** Absolute working directory (default `/`). */
  workdir: string;
  /** USER (empty: root). */
  user?: string;
  /** Reads a file of the image (symlinks resolved inside it): /etc/passwd, /etc/group. */
  readFile(p: string): Promise<Uint8Array | undefined>;
  /**
   * Resolves a path's symlinks inside the image: the real path, undefined
   * when nothing is there, null when something is there but does not resolve
   * (a dangling symlink). chroot creates a missing working directory with it.
   */
  resolvePath?(p: string): Promise<string | undefined | null>;
  network: 'default' | 'none' | 'host';
  security: 'sandbox' | 'insecure';
  addHosts?: ExtraHost[];
  shmSize?: number;
  ulimits?: Rlimit[];
  method: SandboxMethod;
  sourceDateEpoch?: number;
  onOutput?: (stream: 'stdout' | 'stderr', data: string) => void;
  signal?: AbortSignal;
  /** `RUN --mount`s, host side resolved (engine: steps/run-mounts.ts). */
  mounts?: readonly SandboxMount[];
  /** Redacts secret values in the output and errors. */
  redactor?: () => OutputRedactor;
}

/** A layer written by a RUN. */
export interface RunLayer {
  digest: Digest;
  size: number;
  mediaType: string;
  diffId: Digest;
}

/** The layer a RUN wrote (undefined when it changed nothing: no layer, as BuildKit's exporter does). */
export interface RunOutput {
  layer?: RunLayer;
}

async function writeToStore(store: Store, write: (out: Writable) => Promise<LayerResult>): Promise<RunLayer> {
  const writer = await store.createWriter();
  try {
    const r = await write(writer.stream);
    const info = await writer.commit(r.digest);
    return { digest: info.digest, size: info.size, mediaType: r.mediaType, diffId: r.diffId };
  } catch (e) {
    await writer.abort();
    throw e;
  }
}

/** Runs the command and writes its layer into the store. */
export async function executeRun(input: RunInput): Promise<RunOutput> {
  const command = runCommand(input.command, input.prependShell, input.heredocs, input.shell);
  const text = async (p: string) => {
    const b = await input.readFile(p);
    return b === undefined ? undefined : Buffer.from(b).toString('utf8');
  };
  const user = resolveUser(input.user, await text('/etc/passwd'), input.user ? await text('/etc/group') : undefined);
  const env = input.env.some((e) => e.startsWith('HOME=')) ? [...input.env] : [...input.env, `HOME=${user.home}`];
  const lowerDirs = [...input.lowerDirs];
  // A command may run for longer than prune's grace period: its lower trees must look in use.
  const held = lowerDirs.map((d) => input.store.holdFresh(d));
  try {
    return await runIn(input, command, user, env, lowerDirs);
  } finally {
    for (const release of held) release();
  }
}

async function runIn(input: RunInput, command: ReturnType<typeof runCommand>, user: ReturnType<typeof resolveUser>, env: string[], lowerDirs: string[]): Promise<RunOutput> {
  const dir = await input.store.tempDir('run');
  let mkdirCwd: string | undefined;
  if (input.method.isolation === 'chroot' && input.workdir !== '/') {
    // The longest existing prefix with its symlinks resolved inside the image, then the missing
    // rest (which no layer has, so no symlink can lead `mkdir -p` out of the root).
    const parts = path.posix.normalize('/' + input.workdir).split('/').filter(Boolean);
    // A dangling symlink on the way: nothing is created (the command then fails to enter it).
    for (let i = parts.length; i >= 0; i--) {
      const prefix = '/' + parts.slice(0, i).join('/');
      const resolved = i === 0 ? '/' : input.resolvePath ? await input.resolvePath(prefix) : undefined;
      if (resolved === null) break;
      if (resolved === undefined) continue;
      mkdirCwd = path.posix.join(resolved, ...parts.slice(i));
      break;
    }
  }
  const result = await runSandbox({
    dir,
    lowerDirs,
    command,
    env,
    cwd: input.workdir || '/',
    ...(mkdirCwd ? { mkdirCwd } : {}),
    user,
    network: input.network,
    security: input.security,
    ...(input.addHosts ? { addHosts: input.addHosts } : {}),
    ...(input.shmSize !== undefined ? { shmSize: input.shmSize } : {}),
    ...(input.ulimits ? { ulimits: input.ulimits } : {}),
    method: input.method,
    ...(input.onOutput ? { onOutput: input.onOutput } : {}),
    ...(input.signal ? { signal: input.signal } : {}),
    ...(input.mounts ? { mounts: input.mounts } : {}),
    ...(input.redactor ? { redactor: input.redactor } : {}),
  });
  try {
    if (result.entries.length === 0) return {};
    const write = (out: Writable) =>
      writeLayer(result.entries, out, {
        compression: 'gzip',
        ...(input.sourceDateEpoch !== undefined ? { sourceDateEpoch: input.sourceDateEpoch } : {}),
        ...(input.signal ? { signal: input.signal } : {}),
      });
    return { layer: await (input.writeBlob ? input.writeBlob(write) : writeToStore(input.store, write)) };
  } finally {
    await result.dispose();
  }
}

/**
 * What a RUN's cache key covers besides its parent chain key: the command as
 * written (after the compiler's expansion; the shell expands the rest at run
 * time, from the environment below), the environment it sees (ENV and the
 * ARGs in scope, so a changed ARG misses only the RUN steps that see it),
 * USER, WORKDIR, SHELL, network and security modes. Line numbers, comments
 * and the sandbox method stay out.
 */
export function runCacheInputs(input: {
  command: readonly string[];
  prependShell: boolean;
  heredocs: readonly RunHeredoc[];
  shell?: readonly string[];
  env: readonly string[];
  user?: string;
  workdir: string;
  network: string;
  security: string;
}): CanonicalValue {
  return {
    kind: 'run',
    command: [...input.command],
    prependShell: input.prependShell,
    heredocs: input.heredocs.map((h) => ({ name: h.name, data: h.data, chomp: h.chomp })),
    shell: [...(input.shell ?? [])],
    env: [...input.env],
    user: input.user ?? '',
    workdir: input.workdir,
    network: input.network,
    security: input.security,
  };
}
