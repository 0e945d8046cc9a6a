/**
 * What this host can do for RUN, found by trying it (not by guessing from
 * versions): which OCI runtime starts a container, whether overlayfs mounts
 * (plain as root, with `userxattr` in a user namespace otherwise), whether
 * user namespaces and subordinate ids are available, whether fuse-overlayfs
 * is there (else the copy fallback serves). `ocibuild doctor` prints the result; the sandbox picks its
 * methods from it, in order, and says why it fell back.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

/** One capability: whether it works and, when not, why and how to fix it. */
export interface ProbeItem {
  ok: boolean;
  detail: string;
  fix?: string;
}

/** Subordinate id ranges of the caller (from /etc/subuid and /etc/subgid). */
export interface SubIds {
  uid: { start: number; count: number };
  gid: { start: number; count: number };
}

/** What {@link probeHost} found. */
export interface HostProbe {
  root: boolean;
  uid: number;
  gid: number;
  userns: ProbeItem;
  subids: ProbeItem & { ranges?: SubIds };
  overlay: ProbeItem;
  fuseOverlayfs: ProbeItem;
  /** The last snapshot fallback: a copied tree with a stat-based diff (always works, costs the image's size per RUN). */
  copy: ProbeItem;
  runtimes: { crun: ProbeItem; runc: ProbeItem };
  xattrTools: ProbeItem;
  /** The runtime RUN uses (the first that works, crun preferred). */
  runtime?: 'crun' | 'runc';
  /** The isolation RUN uses. */
  isolation?: 'oci' | 'chroot';
  /** The snapshot method RUN uses. */
  snapshot?: 'overlay' | 'fuse-overlayfs' | 'copy';
  /** Why RUN cannot work here, when it cannot. */
  unavailable?: string;
}

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

function run(cmd: string, args: string[], timeoutMs = 20_000): Promise<Result> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: timeoutMs, encoding: 'utf8' }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : 127) : 0;
      resolve({ code, stdout: String(stdout ?? ''), stderr: String(stderr ?? '') || (err && code === 127 ? err.message : '') });
    });
  });
}

async function which(cmd: string): Promise<boolean> {
  for (const dir of (process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(':')) {
    try {
      await fs.access(path.join(dir, cmd), fs.constants.X_OK);
      return true;
    } catch {
      // next
    }
  }
  return false;
}

/** The caller's first subordinate range in a /etc/subuid-style file. */
export function parseSubIds(text: string, name: string | undefined, id: number): { start: number; count: number } | undefined {
  for (const line of text.split('\n')) {
    const [who, start, count] = line.trim().split(':');
    if (who === undefined || start === undefined || count === undefined) continue;
    if ((name !== undefined && who === name) || who === String(id)) {
      const s = Number(start);
      const c = Number(count);
      if (Number.isSafeInteger(s) && Number.isSafeInteger(c) && c > 0) return { start: s, count: c };
    }
  }
  return undefined;
}

/** The namespaces of the sandbox's wrapper process (see sandbox.ts): its own mounts, /proc and pid namespace. */
export const WRAPPER_NAMESPACES = ['--mount', '--propagation', 'private', '--fork', '--pid', '--mount-proc', '--kill-child'];

/** The user-namespace prefix of a command run as the caller (empty as root). */
export function usernsArgs(probe: Pick<HostProbe, 'root' | 'uid' | 'gid' | 'subids'>): string[] {
  if (probe.root) return [];
  const r = probe.subids.ranges;
  if (!r) return ['--user', '--map-root-user'];
  // 0 -> the caller, 1.. -> the subordinate range (newuidmap/newgidmap write both maps; util-linux
  // 2.38 keeps only the last --map-users, so the caller's line comes from --map-root-user).
  return ['--user', '--map-root-user', `--map-users=${r.uid.start},1,${r.uid.count}`, `--map-groups=${r.gid.start},1,${r.gid.count}`];
}

async function tryOverlay(prefix: string[], userxattr: boolean, tmp: string): Promise<ProbeItem> {
  for (const d of ['lower', 'upper', 'work', 'merged']) await fs.mkdir(path.join(tmp, d), { recursive: true });
  const opts = `lowerdir=${tmp}/lower,upperdir=${tmp}/upper,workdir=${tmp}/work${userxattr ? ',userxattr' : ''}`;
  const r = await run('unshare', [...prefix, '--mount', '--propagation', 'private', 'mount', '-t', 'overlay', 'overlay', '-o', opts, `${tmp}/merged`]);
  if (r.code === 0) return { ok: true, detail: userxattr ? 'overlayfs mounts in a user namespace (userxattr)' : 'overlayfs mounts' };
  return {
    ok: false,
    detail: `overlayfs does not mount${userxattr ? ' in a user namespace' : ''}: ${r.stderr.trim() || `exit ${r.code}`}`,
    fix: userxattr ? 'needs Linux >= 5.11 for overlay in user namespaces; otherwise install fuse-overlayfs' : 'load the overlay module (modprobe overlay) or install fuse-overlayfs',
  };
}

async function tryRuntime(runtime: 'crun' | 'runc', prefix: string[], tmp: string): Promise<ProbeItem> {
  if (!(await which(runtime))) return { ok: false, detail: `${runtime} is not installed`, fix: `apt-get install ${runtime}` };
  // A real container running the host's /bin/true: a rootfs of the host's bin/lib dirs bound read-only.
  const bundle = path.join(tmp, `bundle-${runtime}`);
  const rootfs = path.join(bundle, 'rootfs');
  await fs.mkdir(rootfs, { recursive: true });
  const mounts: Record<string, unknown>[] = [
    { destination: '/proc', type: 'proc', source: 'proc' },
    { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'mode=755'] },
  ];
  for (const d of ['usr', 'bin', 'sbin', 'lib', 'lib32', 'lib64']) {
    const st = await fs.lstat(path.join('/', d)).catch(() => undefined);
    if (!st) continue;
    if (st.isSymbolicLink()) await fs.symlink(await fs.readlink(path.join('/', d)), path.join(rootfs, d));
    else if (st.isDirectory()) mounts.push({ destination: `/${d}`, type: 'bind', source: `/${d}`, options: ['rbind', 'ro'] });
  }
  const rootless = prefix.length > 0;
  const spec = {
    ociVersion: '1.0.2',
    process: { terminal: false, user: { uid: 0, gid: 0 }, args: ['/bin/true'], env: ['PATH=/usr/sbin:/usr/bin:/sbin:/bin'], cwd: '/' },
    root: { path: rootfs, readonly: false },
    mounts,
    linux: { namespaces: [{ type: 'pid' }, { type: 'mount' }, { type: 'ipc' }, { type: 'uts' }] },
  };
  await fs.writeFile(path.join(bundle, 'config.json'), JSON.stringify(spec));
  const id = `ocibuild-probe-${process.pid}-${runtime}`;
  const state = path.join(tmp, `state-${runtime}`);
  const r = await run('unshare', [...prefix, ...WRAPPER_NAMESPACES, runtime, '--root', state, ...(rootless && runtime === 'runc' ? ['--rootless', 'true'] : []), 'run', '--bundle', bundle, id]);
  await run(runtime, ['--root', state, 'delete', '--force', id]);
  if (r.code === 0) return { ok: true, detail: `${runtime} runs containers${rootless ? ' (rootless, in our user namespace)' : ''}` };
  const msg = (r.stderr.trim().split('\n').pop() ?? '').slice(0, 300);
  const cgroupNote =
    runtime === 'crun' && /cgroup/i.test(r.stderr)
      ? 'crun 1.8 refuses a hybrid cgroup layout: as root, `mkdir -p /sys/fs/cgroup/hugetlb && mount -t cgroup -o hugetlb cgroup /sys/fs/cgroup/hugetlb` binds the stray controller to v1; runc works as it is'
      : undefined;
  return { ok: false, detail: `${runtime} cannot start a container: ${msg || `exit ${r.code}`}`, ...(cgroupNote ? { fix: cgroupNote } : {}) };
}

/**
 * Probes the host (a few container starts and mounts: about half a second).
 * `preferRuntime` moves one runtime first.
 */
export async function probeHost(options: { preferRuntime?: 'crun' | 'runc'; tmpDir?: string } = {}): Promise<HostProbe> {
  const uid = process.getuid?.() ?? 0;
  const gid = process.getgid?.() ?? 0;
  const root = uid === 0;
  const tmp = await fs.mkdtemp(path.join(options.tmpDir ?? os.tmpdir(), 'ocibuild-probe-'));
  try {
    let userns: ProbeItem;
    if (root) userns = { ok: true, detail: 'running as root: no user namespace needed' };
    else {
      const r = await run('unshare', ['--user', '--map-root-user', 'true']);
      userns =
        r.code === 0
          ? { ok: true, detail: 'unprivileged user namespaces work' }
          : { ok: false, detail: `cannot create a user namespace: ${r.stderr.trim()}`, fix: 'sysctl -w kernel.unprivileged_userns_clone=1 (Debian) or user.max_user_namespaces=15000' };
    }
    let subids: HostProbe['subids'];
    if (root) subids = { ok: true, detail: 'running as root: every id is available' };
    else {
      const name = os.userInfo().username;
      const read = (f: string) => fs.readFile(f, 'utf8').catch(() => '');
      const u = parseSubIds(await read('/etc/subuid'), name, uid);
      const g = parseSubIds(await read('/etc/subgid'), name, gid);
      const tools = (await which('newuidmap')) && (await which('newgidmap'));
      if (u && g && tools) subids = { ok: true, detail: `subordinate ids ${u.start}+${u.count} (uids), ${g.start}+${g.count} (gids)`, ranges: { uid: u, gid: g } };
      else
        subids = {
          ok: false,
          detail: !tools
            ? 'newuidmap/newgidmap are not installed: only your own uid is mapped (to root)'
            : `no /etc/subuid and /etc/subgid entries for ${name}: only your own uid is mapped (to root), so RUN cannot chown files to other users or switch USER to a non-root id`,
          fix: !tools ? 'apt-get install uidmap' : `usermod --add-subuids 100000-165535 --add-subgids 100000-165535 ${name}`,
        };
    }
    const prefix = root ? [] : userns.ok ? usernsArgs({ root, uid, gid, subids }) : undefined;
    const overlay: ProbeItem = prefix ? await tryOverlay(prefix, !root, path.join(tmp, 'ovl')) : { ok: false, detail: 'needs a user namespace', fix: userns.fix };
    const fuse = (await which('fuse-overlayfs'))
      ? await fs.access('/dev/fuse').then(
          () => ({ ok: true, detail: 'fuse-overlayfs is installed' }),
          () => ({ ok: false, detail: 'fuse-overlayfs is installed but /dev/fuse is missing', fix: 'modprobe fuse' }),
        )
      : { ok: false, detail: 'fuse-overlayfs is not installed', fix: 'apt-get install fuse-overlayfs' };
    const xattrTools: ProbeItem = (await which('getfattr')) && (await which('setfattr'))
      ? { ok: true, detail: 'getfattr/setfattr (opaque directories)' }
      : { ok: false, detail: 'getfattr/setfattr are missing: opaque directories cannot be read or written', fix: 'apt-get install attr' };
    const order: ('crun' | 'runc')[] = options.preferRuntime === 'runc' ? ['runc', 'crun'] : ['crun', 'runc'];
    const runtimes = { crun: undefined as ProbeItem | undefined, runc: undefined as ProbeItem | undefined };
    for (const r of order) runtimes[r] = prefix ? await tryRuntime(r, prefix, tmp) : { ok: false, detail: 'needs a user namespace', ...(userns.fix ? { fix: userns.fix } : {}) };
    const runtime = order.find((r) => runtimes[r]!.ok);
    const copy: ProbeItem = { ok: true, detail: 'copies the layers into a fresh tree and diffs it by stat (always works; each RUN costs the image size)' };
    const snapshot = overlay.ok ? 'overlay' : fuse.ok && prefix ? 'fuse-overlayfs' : prefix ? 'copy' : undefined;
    const probe: HostProbe = {
      root,
      uid,
      gid,
      userns,
      subids,
      overlay,
      fuseOverlayfs: fuse,
      copy,
      runtimes: { crun: runtimes.crun!, runc: runtimes.runc! },
      xattrTools,
      ...(runtime ? { runtime } : {}),
      ...(prefix ? { isolation: runtime ? ('oci' as const) : ('chroot' as const) } : {}),
      ...(snapshot ? { snapshot } : {}),
    };
    if (!prefix) probe.unavailable = `RUN needs root or user namespaces: ${userns.detail}`;
    else if (!xattrTools.ok) probe.unavailable = xattrTools.detail;
    return probe;
  } finally {
    await fs.rm(tmp, { recursive: true, force: true });
  }
}
