/**
 * One RUN in a sandbox: an overlay of the unpacked layers with a fresh upper
 * dir, the command run by an OCI runtime (or chrooted), the layer read from
 * the upper dir. Without overlay or fuse-overlayfs (`copy`), `merged` is a
 * copy of the lower trees and the layer is its stat-based diff.
 *
 * Everything happens inside one wrapper process, `unshare --mount --pid
 * --fork --kill-child` (plus `--user` with our id mappings when not root,
 * `--net` for `--network=none`): the overlay is mounted in the wrapper's
 * private mount namespace, so it disappears with the wrapper however the
 * build ends (Ctrl-C, a crash, SIGKILL), and the wrapper's pid namespace
 * holds every process of the command, so killing the wrapper kills them all
 * (the runtime's own pid namespace is nested in it). No mount is ever made
 * in the caller's namespace.
 *
 * The sandbox directory lives in the store's temp dir (same filesystem as the
 * unpacked trees): `l/<n>` short symlinks to the lower trees (so hundreds of
 * layers fit the page-sized mount option string, as Docker's overlay2 driver
 * does), `upper`, `work`, `merged`, `etc/` (hosts, resolv.conf, hostname),
 * `pipes/` (heredoc scripts), `bundle/config.json`, the runtime's state.
 * `dispose()` removes it; a failed or aborted RUN disposes before throwing.
 */
import { spawn, execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { OcibuildError } from '../errors.js';
import type { LayerEntry } from '../layers/types.js';
import type { RunCommand } from './command.js';
import { commandText } from './command.js';
import { usernsArgs, WRAPPER_NAMESPACES, type HostProbe } from './probe.js';
import { existsInLowers, snapshotUpper, type OwnerMap } from './snapshot.js';
import { copyLowerTrees, diffTree, statTree, type StatSnapshot } from './copy-snapshot.js';
import { createRuntimeSpec, RLIM_INFINITY, SANDBOX_MOUNT_POINTS, specJson, type Rlimit } from './spec.js';
import type { ProcessUser } from './user.js';
import { runtimeMounts, type OutputRedactor, type SandboxMount } from './mounts.js';

/** An `--add-host` entry. */
export interface ExtraHost {
  host: string;
  ip: string;
}

/** How the sandbox runs: decided once per build from the probe (and `--isolation`). */
export interface SandboxMethod {
  isolation: 'oci' | 'chroot';
  runtime?: 'crun' | 'runc';
  /** `copy`: the lower trees copied into `merged` and diffed by stat (src/run/copy-snapshot.ts). */
  snapshot: 'overlay' | 'fuse-overlayfs' | 'copy';
  probe: HostProbe;
}

/** Options of {@link runSandbox}. */
export interface SandboxOptions {
  /** A fresh empty directory for the sandbox (in the store's temp dir). */
  dir: string;
  /** Unpacked layer trees, bottom layer first. */
  lowerDirs: string[];
  command: RunCommand;
  env: string[];
  /** Working directory (absolute, inside the image). */
  cwd: string;
  /**
   * chroot isolation: the working directory with symlinks resolved inside the
   * image (the runtimes create a missing cwd themselves; chroot creates this one).
   */
  mkdirCwd?: string;
  user: ProcessUser;
  network: 'default' | 'none' | 'host';
  security: 'sandbox' | 'insecure';
  addHosts?: ExtraHost[];
  shmSize?: number;
  ulimits?: Rlimit[];
  method: SandboxMethod;
  /** The host's resolv.conf (default /etc/resolv.conf). */
  resolvConf?: string;
  onOutput?: (stream: 'stdout' | 'stderr', data: string) => void;
  signal?: AbortSignal;
  /** `RUN --mount`s (OCI isolation only); their targets leave no trace in the layer. */
  mounts?: readonly SandboxMount[];
  /** Secret values to redact from the output and error messages (one redactor per stream). */
  redactor?: () => OutputRedactor;
}

/** A finished RUN: its layer entries (files read from `dir` while writing) and the cleanup. */
export interface SandboxResult {
  entries: LayerEntry[];
  dispose(): Promise<void>;
}

const TAIL_LINES = 20;
const TAIL_BYTES = 8192;
const HOSTNAME = 'buildkitsandbox';

/** Keeps the last lines of a stream for error messages. */
class Tail {
  private text = '';
  push(s: string): void {
    this.text = (this.text + s).slice(-TAIL_BYTES * 2);
  }
  lines(): string[] {
    const lines = this.text.replace(/\n$/, '').split('\n');
    return lines.slice(-TAIL_LINES).map((l) => (l.length > 400 ? l.slice(0, 400) + '…' : l));
  }
}

/**
 * The wrapper's script. Inputs come as environment variables, never spliced
 * into the script. Setup errors go to setup.log; the command's own output is
 * the wrapper's stdout/stderr.
 */
const SCRIPT = String.raw`
set -eu
exec 3>&2 2>"$OCB_DIR/setup.log"
cd "$OCB_DIR"
if [ "$OCB_NET" = none ]; then ip link set lo up; fi
case "$OCB_SNAPSHOT" in
  overlay) (cd l && mount -t overlay overlay -o "lowerdir=$OCB_LOWER,upperdir=../upper,workdir=../work$OCB_OVERLAY_OPTS" ../merged) ;;
  fuse-overlayfs) fuse-overlayfs -o "lowerdir=$OCB_LOWER,upperdir=$OCB_DIR/upper,workdir=$OCB_DIR/work" "$OCB_DIR/merged" </dev/null >/dev/null ;;
  copy) : ;; # merged is already a copy of the lower trees
esac
m="$OCB_DIR/merged"
if [ "$OCB_ISOLATION" = oci ]; then
  : > "$OCB_DIR/started"
  exec 2>&3 3>&-
  # Not exec'd: this shell stays pid 1 of the namespace, so its exit ends every process in it
  # (a fuse-overlayfs daemon included), whatever the runtime does with its children.
  code=0
  "$OCB_RUNTIME" --root "$OCB_DIR/state" --log "$OCB_DIR/runtime.log" $OCB_RUNTIME_FLAGS run --bundle "$OCB_DIR/bundle" "$OCB_ID" || code=$?
  exit "$code"
fi
# chroot isolation: this shell is pid 1 of the new pid namespace.
for p in proc dev sys; do [ -d "$m/$p" ] || mkdir "$m/$p"; done
mount -t proc -o nosuid,noexec,nodev proc "$m/proc"
mount -t tmpfs -o nosuid,mode=755,size=65536k tmpfs "$m/dev"
for d in null zero full random urandom tty; do : > "$m/dev/$d"; mount --bind "/dev/$d" "$m/dev/$d"; done
mkdir "$m/dev/pts" "$m/dev/shm" "$m/dev/pipes"
mount -t devpts -o newinstance,ptmxmode=0666,mode=0620,nosuid,noexec devpts "$m/dev/pts"
ln -s pts/ptmx "$m/dev/ptmx"
mount -t tmpfs -o "nosuid,noexec,nodev,mode=1777,size=$OCB_SHM" shm "$m/dev/shm"
mount --bind -o ro pipes "$m/dev/pipes"
mount -t sysfs -o ro,nosuid,nodev,noexec sysfs "$m/sys" || { mount --rbind /sys "$m/sys" && mount -o remount,bind,ro "$m/sys"; }
[ -d "$m/etc" ] || mkdir "$m/etc"
for f in hosts resolv.conf hostname; do [ -e "$m/etc/$f" ] || : > "$m/etc/$f"; mount --bind "etc/$f" "$m/etc/$f"; done
[ -z "$OCB_MKDIR" ] || mkdir -p "$m$OCB_MKDIR"
hostname "$OCB_HOSTNAME"
: > "$OCB_DIR/started"
exec 2>&3 3>&-
exec env -i "$@"
`;

function limitText(n: number): string {
  return n === RLIM_INFINITY ? 'unlimited' : String(n);
}

/** Parses `--add-host` values (`host:ip`, `host=ip`); `host-gateway` is refused (no bridge here). */
export function parseAddHost(value: string): ExtraHost {
  const m = /^([^:=]+)[:=](.+)$/.exec(value);
  if (!m) throw new OcibuildError('USAGE', `--add-host ${JSON.stringify(value)}: expected HOST:IP`);
  const ip = m[2]!.replace(/^\[(.*)\]$/, '$1');
  if (ip === 'host-gateway') throw new OcibuildError('USAGE', '--add-host HOST:host-gateway needs a bridge network; RUN uses the host network (use 127.0.0.1)');
  if (!/^[0-9.]+$/.test(ip) && !/^[0-9a-fA-F:.]+$/.test(ip)) throw new OcibuildError('USAGE', `--add-host ${JSON.stringify(value)}: ${JSON.stringify(ip)} is not an IP address`);
  return { host: m[1]!, ip };
}

/** The sandbox's /etc/hosts, as BuildKit writes it. */
export function hostsFile(extra: readonly ExtraHost[] = []): string {
  let s = `127.0.0.1\tlocalhost ${HOSTNAME}\n::1\tlocalhost ip6-localhost ip6-loopback\n`;
  for (const h of extra) s += `${h.ip}\t${h.host}\n`;
  return s;
}

/** Host ids in the upper dir back to ids in the image (rootless: the caller is 0, subordinate ids 1..). */
export function ownerMap(probe: HostProbe): OwnerMap | undefined {
  if (probe.root) return undefined;
  const r = probe.subids.ranges;
  const back = (id: number, self: number, range?: { start: number; count: number }) => {
    if (id === self) return 0;
    if (range && id >= range.start && id < range.start + range.count) return id - range.start + 1;
    return 65534;
  };
  return (uid, gid) => ({ uid: back(uid, probe.uid, r?.uid), gid: back(gid, probe.gid, r?.gid) });
}

/**
 * Removes a sandbox dir. Trees can hold read-only directories (a RUN's chmod
 * 0555): made writable first. Rootless with subordinate ids, the upper dir
 * holds files of ids we are not: removed from inside the user namespace.
 */
function rmrf(dir: string, probe: HostProbe): Promise<void> {
  const script = 'chmod -R u+rwX -- "$1" 2>/dev/null; rm -rf -- "$1"';
  const inNs = !probe.root && probe.subids.ranges ? usernsArgs(probe) : undefined;
  return new Promise((resolve) => {
    const plain = () => execFile('sh', ['-c', script, 'sh', dir], () => resolve());
    if (inNs) execFile('unshare', [...inNs, 'sh', '-c', script, 'sh', dir], () => plain());
    else plain();
  });
}

/**
 * Runs one RUN and snapshots its upper dir. A non-zero exit throws
 * RUN_FAILED (exit code and the tail of the output); a sandbox that cannot
 * start throws SANDBOX_ERROR; an abort kills every process and throws the
 * abort reason. In every failure case the sandbox dir is gone before the
 * error is thrown.
 */
export async function runSandbox(options: SandboxOptions): Promise<SandboxResult> {
  const { dir } = options;
  const dispose = () => rmrf(dir, options.method.probe);
  try {
    return { entries: await runIn(options), dispose };
  } catch (e) {
    await dispose();
    throw e;
  }
}

async function runIn(options: SandboxOptions): Promise<LayerEntry[]> {
  const { dir, method, command } = options;
  const probe = method.probe;
  const rootless = !probe.root;
  options.signal?.throwIfAborted();
  for (const d of ['l', 'upper', 'work', 'merged', 'etc', 'pipes', 'bundle', 'state', 'empty']) await fs.mkdir(path.join(dir, d));
  // Lower dirs: short names (top layer first in the option), the empty dir for FROM scratch.
  const lowers = options.lowerDirs.length > 0 ? options.lowerDirs : [path.join(dir, 'empty')];
  for (let i = 0; i < lowers.length; i++) await fs.symlink(lowers[i]!, path.join(dir, 'l', String(i)));
  const lowerOpt = lowers.map((_, i) => String(i)).reverse().join(':');
  // /etc files and heredoc scripts.
  await fs.writeFile(path.join(dir, 'etc/hosts'), hostsFile(options.addHosts));
  const resolv = await fs.readFile(options.resolvConf ?? '/etc/resolv.conf', 'utf8').catch(() => '');
  await fs.writeFile(path.join(dir, 'etc/resolv.conf'), resolv);
  await fs.writeFile(path.join(dir, 'etc/hostname'), `${HOSTNAME}\n`);
  for (const p of command.pipes) {
    await fs.writeFile(path.join(dir, 'pipes', p.name), p.data);
    await fs.chmod(path.join(dir, 'pipes', p.name), p.mode);
  }
  // Which mount points the sandbox will create (they must leave no trace in the layer).
  const lowersTopFirst = [...options.lowerDirs].reverse();
  const stubs: string[] = [];
  const stubParents = new Set<string>();
  const extra = options.mounts ?? [];
  if (extra.length > 0 && method.isolation !== 'oci') {
    throw new OcibuildError('UNSUPPORTED', 'RUN --mount needs an OCI runtime (crun or runc): it is not supported with --isolation=chroot');
  }
  for (const mp of [...SANDBOX_MOUNT_POINTS, ...extra.map((m) => m.destination)]) {
    const rel = mp.slice(1);
    if (existsInLowers(lowersTopFirst, rel)) continue;
    stubs.push(rel);
    for (let p = path.posix.dirname(rel); p !== '.'; p = path.posix.dirname(p)) stubParents.add(p);
  }
  const { user } = options;
  if (rootless && !probe.subids.ranges && (user.uid !== 0 || user.gid !== 0 || user.additionalGids.some((g) => g !== 0))) {
    throw new OcibuildError('SANDBOX_UNAVAILABLE', `USER ${user.uid}:${user.gid} cannot run here: without subordinate ids only root exists in the sandbox`, {
      hint: probe.subids.fix ?? 'add /etc/subuid and /etc/subgid entries for your user',
    });
  }
  // The copy fallback: the merged root is a copy of the lower trees, its stat snapshot taken now.
  let before: StatSnapshot | undefined;
  if (method.snapshot === 'copy') {
    await copyLowerTrees(options.lowerDirs, path.join(dir, 'merged'), { opaqueXattrs: ['trusted.overlay.opaque', 'user.overlay.opaque'], ...(options.signal ? { signal: options.signal } : {}) });
    before = await statTree(path.join(dir, 'merged'), options.signal);
  }
  const id = `ocibuild-${process.pid}-${path.basename(dir).replace(/[^A-Za-z0-9_.-]/g, '')}`.slice(0, 64);
  if (method.isolation === 'oci') {
    const spec = createRuntimeSpec({
      rootfs: path.join(dir, 'merged'),
      argv: command.argv,
      env: options.env,
      cwd: options.cwd,
      user: options.user,
      hostname: HOSTNAME,
      etc: { hosts: path.join(dir, 'etc/hosts'), resolvConf: path.join(dir, 'etc/resolv.conf'), hostname: path.join(dir, 'etc/hostname') },
      ...(command.pipes.length > 0 ? { pipesDir: path.join(dir, 'pipes') } : {}),
      ...(options.shmSize !== undefined ? { shmSize: options.shmSize } : {}),
      ...(options.ulimits ? { rlimits: options.ulimits } : {}),
      insecure: options.security === 'insecure',
      rootless,
      ...(extra.length > 0 ? { extraMounts: runtimeMounts(extra) } : {}),
    });
    await fs.writeFile(path.join(dir, 'bundle/config.json'), specJson(spec));
  }
  const ns = [...WRAPPER_NAMESPACES];
  if (method.isolation === 'chroot') ns.push('--uts', '--ipc');
  if (options.network === 'none') ns.push('--net');
  // chroot: `env -i NAME=VALUE... unshare --root=merged --wd=CWD --setuid --setgid -- argv`, so the
  // command's environment is exactly the RUN's. unshare drops supplementary groups: with some,
  // coreutils' chroot sets them (it always starts in /, so the image's /bin/sh changes directory).
  const merged = path.join(dir, 'merged');
  const { uid, gid, additionalGids } = options.user;
  // --ulimit under chroot: util-linux's prlimit sets them before the chroot (lowering only, checked by parseUlimit).
  const prlimit =
    options.ulimits && options.ulimits.length > 0
      ? ['prlimit', ...options.ulimits.map((r) => `--${r.type.replace(/^RLIMIT_/, '').toLowerCase()}=${limitText(r.soft)}:${limitText(r.hard)}`)]
      : [];
  const chroot =
    method.isolation !== 'chroot'
      ? []
      : additionalGids.length === 0
        ? [...options.env, ...prlimit, 'unshare', `--root=${merged}`, `--wd=${options.cwd}`, `--setuid=${uid}`, `--setgid=${gid}`, '--', ...command.argv]
        : [...options.env, ...prlimit, 'chroot', `--userspec=${uid}:${gid}`, `--groups=${additionalGids.join(',')}`, merged, '/bin/sh', '-c', 'cd -- "$0" && exec "$@"', options.cwd, ...command.argv];
  const args = [...usernsArgs(probe), ...ns, 'sh', '-c', SCRIPT, 'sh', ...chroot];
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin',
    OCB_DIR: dir,
    OCB_NET: options.network,
    OCB_SNAPSHOT: method.snapshot,
    OCB_LOWER: method.snapshot === 'overlay' ? lowerOpt : lowers.map((_, i) => `${dir}/l/${i}`).reverse().join(':'),
    OCB_OVERLAY_OPTS: rootless ? ',userxattr' : ',redirect_dir=off,metacopy=off,index=off',
    OCB_ISOLATION: method.isolation,
    OCB_RUNTIME: method.runtime ?? '',
    OCB_RUNTIME_FLAGS: rootless && method.runtime === 'runc' ? '--rootless true' : '',
    OCB_ID: id,
    OCB_SHM: String(options.shmSize ?? 64 * 1024 * 1024),
    OCB_HOSTNAME: HOSTNAME,
    OCB_MKDIR: options.mkdirCwd ?? '',
  };
  const code = await supervise(args, env, options, id, method);
  const setupLog = await fs.readFile(path.join(dir, 'setup.log'), 'utf8').catch(() => '');
  const started = await fs.access(path.join(dir, 'started')).then(
    () => true,
    () => false,
  );
  if (!started) {
    throw new OcibuildError('SANDBOX_ERROR', `the RUN sandbox could not be set up (${method.isolation}, ${method.snapshot}): ${setupLog.trim().split('\n').slice(-5).join('; ') || `exit code ${code.code}`}`, {
      hint: 'run `ocibuild doctor` to see what this host supports',
    });
  }
  if (code.code !== 0) {
    const runtimeLog = method.isolation === 'oci' ? await runtimeErrors(path.join(dir, 'runtime.log')) : [];
    const tail = code.tail.lines().filter((l) => l !== '');
    const redact = options.redactor?.();
    const lines = [...tail, ...runtimeLog.map((l) => `${method.runtime}: ${redact ? redact.text(l) : l}`)];
    throw new OcibuildError(
      'RUN_FAILED',
      `process "${commandText(command.argv)}" did not complete successfully: exit code: ${code.code}${lines.length > 0 ? '\n' + lines.map((l) => `  ${l}`).join('\n') : ''}`,
      { details: { exitCode: code.code, output: tail } },
    );
  }
  options.signal?.throwIfAborted();
  if (before) {
    const map = ownerMap(probe);
    return diffTree(path.join(dir, 'merged'), before, { stubs, stubParents: [...stubParents], ...(map ? { mapOwner: map } : {}), ...(options.signal ? { signal: options.signal } : {}) });
  }
  return snapshotUpper(path.join(dir, 'upper'), {
    opaqueXattrs: method.snapshot === 'fuse-overlayfs' ? ['trusted.overlay.opaque', 'user.overlay.opaque', 'user.fuseoverlayfs.opaque'] : [rootless ? 'user.overlay.opaque' : 'trusted.overlay.opaque'],
    stubs,
    stubParents: [...stubParents],
    lowerDirs: lowersTopFirst,
    ...(rootless && probe.subids.ranges ? { usernsPrefix: usernsArgs(probe) } : ownerMap(probe) ? { mapOwner: ownerMap(probe)! } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
  });
}

async function runtimeErrors(file: string): Promise<string[]> {
  const text = await fs.readFile(file, 'utf8').catch(() => '');
  const out: string[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    try {
      const j = JSON.parse(line) as { level?: string; msg?: string };
      if (j.level === 'error' && j.msg) out.push(j.msg);
    } catch {
      if (/error/i.test(line)) out.push(line.trim());
    }
  }
  return out.slice(-3);
}

/** Runs the wrapper, streams its output, kills it on abort. */
function supervise(
  args: string[],
  env: Record<string, string>,
  options: SandboxOptions,
  id: string,
  method: SandboxMethod,
): Promise<{ code: number; tail: Tail }> {
  const tail = new Tail();
  return new Promise((resolve, reject) => {
    // Same process group as ours: a Ctrl-C in a terminal reaches the wrapper too, and its death
    // kills the pid namespace (--kill-child), so the command never outlives the build. setpriv's
    // parent-death signal makes the wrapper die with us even when we are killed with SIGKILL.
    const child = spawn('setpriv', ['--pdeathsig', 'KILL', '--', 'unshare', ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let aborted = false;
    const onAbort = () => {
      aborted = true;
      // The wrapper is the parent of the pid namespace's init (--kill-child): SIGKILL reaches every process.
      child.kill('SIGKILL');
    };
    options.signal?.addEventListener('abort', onAbort, { once: true });
    const redactors = { stdout: options.redactor?.(), stderr: options.redactor?.() };
    const emit = (stream: 'stdout' | 'stderr', s: string) => {
      if (s === '') return;
      tail.push(s);
      options.onOutput?.(stream, s);
    };
    const decode = (stream: 'stdout' | 'stderr') => (d: Buffer) => {
      const s = d.toString('utf8');
      const r = redactors[stream];
      emit(stream, r ? r.push(s) : s);
    };
    child.stdout.on('data', decode('stdout'));
    child.stderr.on('data', decode('stderr'));
    const flush = () => {
      for (const stream of ['stdout', 'stderr'] as const) {
        const r = redactors[stream];
        if (r) emit(stream, r.end());
      }
    };
    child.on('error', (e) => {
      options.signal?.removeEventListener('abort', onAbort);
      reject(new OcibuildError('SANDBOX_UNAVAILABLE', `cannot start the RUN sandbox: unshare: ${(e as NodeJS.ErrnoException).code}`, { cause: e, hint: 'install util-linux' }));
    });
    child.on('close', (code, signal) => {
      options.signal?.removeEventListener('abort', onAbort);
      flush();
      const finish = async () => {
        if (method.isolation === 'oci' && method.runtime) {
          // The runtime's record of the container (and its cgroup, as root) goes with it.
          await new Promise<void>((r) => execFile(method.runtime!, ['--root', path.join(options.dir, 'state'), 'delete', '--force', id], () => r()));
        }
        if (aborted || options.signal?.aborted) {
          reject(options.signal?.reason ?? new OcibuildError('SANDBOX_ERROR', 'RUN was aborted'));
          return;
        }
        resolve({ code: code ?? 128 + (signal ? 9 : 0), tail });
      };
      void finish();
    });
  });
}
