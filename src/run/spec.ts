/**
 * The OCI runtime spec (config.json) of a RUN process, for runc and crun.
 * Pure: paths and values in, a JSON-able object out.
 *
 * What the process gets (BuildKit's defaults): new mount, pid, ipc and uts
 * namespaces (the network namespace is the sandbox's, see sandbox.ts); /proc,
 * /dev as a tmpfs with the runtime's default devices (null, zero, full,
 * random, urandom, tty) plus /dev/pts (ptmx), /dev/shm and /dev/mqueue; /sys
 * read-only; /etc/hosts, /etc/resolv.conf and /etc/hostname bound from the
 * sandbox dir; Docker's default capabilities; no terminal; rlimits only when
 * asked (`--ulimit`, lowering only: root here lacks CAP_SYS_RESOURCE).
 */
import type { ProcessUser } from './user.js';

/** A lowered resource limit (`--ulimit nofile=1024:2048`). */
export interface Rlimit {
  /** `RLIMIT_NOFILE`, ... */
  type: string;
  soft: number;
  hard: number;
}

/** Inputs of {@link createRuntimeSpec}. */
export interface RuntimeSpecInput {
  /** The merged root filesystem (absolute). */
  rootfs: string;
  argv: string[];
  env: string[];
  cwd: string;
  user: ProcessUser;
  hostname: string;
  /** Files bound at /etc/hosts, /etc/resolv.conf, /etc/hostname. */
  etc: { hosts: string; resolvConf: string; hostname: string };
  /** A directory bound read-only at /dev/pipes (heredoc scripts). */
  pipesDir?: string;
  /** /dev/shm size in bytes (default 64 MiB). */
  shmSize?: number;
  rlimits?: Rlimit[];
  /** `--security=insecure`: every capability, no masked paths. */
  insecure?: boolean;
  /** The runtime runs inside a user namespace we made (not root on the host): no gid options, /sys bound, not mounted. */
  rootless?: boolean;
  /** `RUN --mount` entries (mounts.ts runtimeMounts), after the sandbox's own. */
  extraMounts?: Record<string, unknown>[];
}

const DEFAULT_CAPS = [
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_FSETID',
  'CAP_FOWNER',
  'CAP_MKNOD',
  'CAP_NET_RAW',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETFCAP',
  'CAP_SETPCAP',
  'CAP_NET_BIND_SERVICE',
  'CAP_SYS_CHROOT',
  'CAP_KILL',
  'CAP_AUDIT_WRITE',
];

const ALL_CAPS = [
  ...DEFAULT_CAPS,
  'CAP_DAC_READ_SEARCH',
  'CAP_LINUX_IMMUTABLE',
  'CAP_NET_BROADCAST',
  'CAP_NET_ADMIN',
  'CAP_IPC_LOCK',
  'CAP_IPC_OWNER',
  'CAP_SYS_MODULE',
  'CAP_SYS_RAWIO',
  'CAP_SYS_PTRACE',
  'CAP_SYS_PACCT',
  'CAP_SYS_ADMIN',
  'CAP_SYS_BOOT',
  'CAP_SYS_NICE',
  'CAP_SYS_TIME',
  'CAP_SYS_TTY_CONFIG',
  'CAP_LEASE',
  'CAP_AUDIT_CONTROL',
  'CAP_MAC_OVERRIDE',
  'CAP_MAC_ADMIN',
  'CAP_SYSLOG',
  'CAP_WAKE_ALARM',
  'CAP_BLOCK_SUSPEND',
  'CAP_AUDIT_READ',
];

const MASKED_PATHS = [
  '/proc/asound',
  '/proc/acpi',
  '/proc/kcore',
  '/proc/keys',
  '/proc/latency_stats',
  '/proc/timer_list',
  '/proc/timer_stats',
  '/proc/sched_debug',
  '/proc/scsi',
  '/sys/firmware',
  '/sys/devices/virtual/powercap',
];
const READONLY_PATHS = ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'];

/** Mount destinations the sandbox creates when missing (and removes from the layer again). */
export const SANDBOX_MOUNT_POINTS = ['/proc', '/dev', '/sys', '/etc/hosts', '/etc/resolv.conf', '/etc/hostname'] as const;

/** RLIMIT_INFINITY (a JS number cannot hold it exactly: {@link specJson} writes it). */
export const RLIM_INFINITY = 2 ** 64 - 1;

/** config.json text: rlimits of RLIM_INFINITY written as the exact uint64. */
export function specJson(spec: Record<string, unknown>): string {
  return JSON.stringify(spec, (_k, v: unknown) => (v === RLIM_INFINITY ? '__RLIM_INFINITY__' : v)).replace(/"__RLIM_INFINITY__"/g, '18446744073709551615');
}

/** The runtime spec of one RUN. */
export function createRuntimeSpec(input: RuntimeSpecInput): Record<string, unknown> {
  const caps = input.insecure ? ALL_CAPS : DEFAULT_CAPS;
  const shm = input.shmSize ?? 64 * 1024 * 1024;
  const mounts: Record<string, unknown>[] = [
    { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
    {
      destination: '/dev/pts',
      type: 'devpts',
      source: 'devpts',
      options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', ...(input.rootless ? [] : ['gid=5'])],
    },
    { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', `size=${shm}`] },
    { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
    input.rootless
      ? { destination: '/sys', type: 'none', source: '/sys', options: ['rbind', 'nosuid', 'noexec', 'nodev', 'ro'] }
      : { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
    { destination: '/etc/hosts', type: 'bind', source: input.etc.hosts, options: ['rbind', 'rprivate'] },
    { destination: '/etc/resolv.conf', type: 'bind', source: input.etc.resolvConf, options: ['rbind', 'rprivate'] },
    { destination: '/etc/hostname', type: 'bind', source: input.etc.hostname, options: ['rbind', 'rprivate'] },
  ];
  if (input.pipesDir) mounts.push({ destination: '/dev/pipes', type: 'bind', source: input.pipesDir, options: ['rbind', 'ro', 'rprivate'] });
  if (input.extraMounts) mounts.push(...input.extraMounts);
  const user: Record<string, unknown> = { uid: input.user.uid, gid: input.user.gid };
  if (input.user.additionalGids.length > 0) user.additionalGids = input.user.additionalGids;
  return {
    ociVersion: '1.0.2',
    process: {
      terminal: false,
      user,
      args: input.argv,
      env: input.env,
      cwd: input.cwd,
      capabilities: { bounding: caps, effective: caps, permitted: caps },
      ...(input.rlimits && input.rlimits.length > 0 ? { rlimits: input.rlimits.map((r) => ({ type: r.type, soft: r.soft, hard: r.hard })) } : {}),
      noNewPrivileges: false,
    },
    root: { path: input.rootfs, readonly: false },
    hostname: input.hostname,
    mounts,
    linux: {
      namespaces: [{ type: 'pid' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }],
      ...(input.insecure ? {} : { maskedPaths: MASKED_PATHS, readonlyPaths: READONLY_PATHS }),
      rootfsPropagation: 'rprivate',
    },
  };
}
