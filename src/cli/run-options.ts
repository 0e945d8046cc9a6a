/**
 * docker build's RUN-side flags: `--network`, `--add-host`, `--shm-size`,
 * `--ulimit` (lowering only), `--cgroup-parent` (refused: builds use no
 * cgroups of their own), `--allow security.insecure`, `--isolation`, `--snapshotter`.
 */
import { existsSync } from 'node:fs';
import type { Argv } from 'yargs';
import type { RunOptions } from '../build.js';
import { OcibuildError } from '../errors.js';
import type { SecretSource } from '../run/index.js';

/** The flags, added to `build`. */
export function runFlags<T>(y: Argv<T>) {
  return y
    .option('network', { choices: ['default', 'none', 'host'] as const, describe: 'Network of RUN steps: default (the host\'s), none (loopback only), host' })
    .option('add-host', { type: 'string', array: true, default: [] as string[], describe: 'Extra /etc/hosts line for RUN steps, HOST:IP' })
    .option('shm-size', { type: 'string', describe: 'Size of /dev/shm in RUN steps (e.g. 64m, 1g)' })
    .option('ulimit', { type: 'string', array: true, default: [] as string[], describe: 'Lower a resource limit of RUN steps, NAME=SOFT[:HARD] (e.g. nofile=1024:2048)' })
    .option('cgroup-parent', { type: 'string', describe: 'Not supported: RUN steps use no cgroups of their own' })
    .option('allow', { type: 'string', array: true, default: [] as string[], describe: 'Extra privileges: security.insecure (allows RUN --security=insecure)' })
    .option('isolation', { choices: ['auto', 'oci', 'chroot'] as const, describe: 'RUN isolation: oci (crun/runc), chroot (unshare + chroot), auto (oci when a runtime works)' })
    .option('snapshotter', { choices: ['auto', 'overlay', 'fuse-overlayfs', 'copy'] as const, describe: 'RUN snapshots: overlay (kernel), fuse-overlayfs, copy (a copied tree diffed by stat), auto (the first that works)' })
    .option('runtime', { choices: ['crun', 'runc'] as const, describe: 'Prefer this OCI runtime when both work (default crun)' })
    .option('secret', { type: 'string', array: true, default: [] as string[], describe: 'Secret for RUN --mount=type=secret: id=ID,src=FILE or id=ID,env=VAR' })
    .option('ssh', { type: 'string', array: true, default: [] as string[], describe: 'SSH agent for RUN --mount=type=ssh: default ($SSH_AUTH_SOCK) or ID=SOCKET|KEY[,KEY...]' });
}

interface RunArgs {
  network?: 'default' | 'none' | 'host';
  'add-host'?: string[];
  'shm-size'?: string;
  ulimit?: string[];
  'cgroup-parent'?: string;
  allow?: string[];
  isolation?: 'auto' | 'oci' | 'chroot';
  runtime?: 'crun' | 'runc';
  snapshotter?: 'auto' | 'overlay' | 'fuse-overlayfs' | 'copy';
  secret?: string[];
  ssh?: string[];
}

/** build()'s run options from the flags (refusing what cannot be honoured). */
export async function runOptionsFromArgs(argv: RunArgs): Promise<RunOptions> {
  // The RUN modules load when a build runs, not when the CLI starts (issue 8: start-up).
  const { parseAddHost, parseSecretFlag, parseShmSize, parseSshFlag, parseUlimit } = await import('../run/index.js');
  if (argv['cgroup-parent'] !== undefined) {
    throw new OcibuildError('USAGE', '--cgroup-parent is not supported: ocibuild runs RUN steps without cgroups of their own (no daemon places them)');
  }
  let allowInsecure = false;
  for (const a of (argv.allow ?? []).flatMap((v) => v.split(',')).map((v) => v.trim()).filter(Boolean)) {
    if (a === 'security.insecure') allowInsecure = true;
    else throw new OcibuildError('USAGE', `--allow ${a}: unknown entitlement (supported: security.insecure)`);
  }
  const ulimits = (argv.ulimit ?? []).map((u) => parseUlimit(u));
  const addHosts = (argv['add-host'] ?? []).flatMap((v) => v.split(',')).filter(Boolean).map(parseAddHost);
  const secrets: Record<string, SecretSource> = {};
  for (const v of argv.secret ?? []) {
    const { id, source } = parseSecretFlag(v);
    // As docker buildx: a secret file that is not there fails the build before it starts.
    if ('file' in source && !existsSync(source.file)) throw new OcibuildError('USAGE', `--secret id=${id}: ${source.file}: no such file`);
    secrets[id] = source;
  }
  const ssh: Record<string, string[]> = {};
  for (const v of argv.ssh ?? []) {
    const { id, paths } = parseSshFlag(v);
    ssh[id] = paths;
  }
  return {
    ...(Object.keys(secrets).length > 0 ? { secrets } : {}),
    ...(Object.keys(ssh).length > 0 ? { ssh } : {}),
    ...(argv.isolation ? { isolation: argv.isolation } : {}),
    ...(argv.runtime ? { runtime: argv.runtime } : {}),
    ...(argv.snapshotter ? { snapshot: argv.snapshotter } : {}),
    ...(argv.network ? { network: argv.network } : {}),
    ...(addHosts.length > 0 ? { addHosts } : {}),
    ...(argv['shm-size'] !== undefined ? { shmSize: parseShmSize(argv['shm-size']) } : {}),
    ...(ulimits.length > 0 ? { ulimits } : {}),
    ...(allowInsecure ? { allowInsecure } : {}),
  };
}

/**
 * An AbortSignal fired by the first SIGINT/SIGTERM while `fn` runs, so a
 * build stops its RUN sandboxes and cleans up; a second signal exits at once.
 */
export async function withInterrupt<T>(fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const ac = new AbortController();
  const handler = (sig: NodeJS.Signals) => {
    if (ac.signal.aborted) process.exit(130);
    ac.abort(new OcibuildError('INTERRUPTED', `build interrupted (${sig})`));
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  try {
    return await fn(ac.signal);
  } finally {
    process.off('SIGINT', handler);
    process.off('SIGTERM', handler);
  }
}
