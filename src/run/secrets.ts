/**
 * Build secrets (`--secret`) and SSH forwarding (`--ssh`) as RUN mounts
 * consume them. A secret's value is read when a RUN that mounts it runs and
 * is never stored: it reaches the command as a file in a directory removed
 * when the step ends, or as an environment variable, and the command's
 * output is redacted (mounts.ts OutputRedactor).
 *
 * SSH: the RUN sees a socket at its target, owned and moded as the mount
 * says; behind it, the build's agent socket (`--ssh default` is
 * `$SSH_AUTH_SOCK`) or, for key files, an `ssh-agent` started for the step
 * with the keys loaded (as BuildKit loads key files into an agent of its own).
 */
import { spawn, execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { OcibuildError } from '../errors.js';

/** Where a secret's value comes from. */
export type SecretSource =
  /** A file's bytes (`--secret id=x,src=FILE`). */
  | { file: string }
  /** An environment variable of the build (`--secret id=x,env=VAR`). */
  | { env: string }
  /** The value itself (library callers). */
  | { value: string | Uint8Array };

/** Parses a `--secret` value: `id=ID[,src|source=FILE][,env=VAR][,type=file|env]`. */
export function parseSecretFlag(value: string): { id: string; source: SecretSource } {
  let id: string | undefined;
  let src: string | undefined;
  let env: string | undefined;
  let type: string | undefined;
  for (const field of value.split(',')) {
    const eq = field.indexOf('=');
    const key = (eq < 0 ? field : field.slice(0, eq)).trim().toLowerCase();
    const v = eq < 0 ? '' : field.slice(eq + 1);
    switch (key) {
      case 'id':
        id = v;
        break;
      case 'src':
      case 'source':
        src = v;
        break;
      case 'env':
        env = v;
        break;
      case 'type':
        if (v !== 'file' && v !== 'env') throw new OcibuildError('USAGE', `--secret ${JSON.stringify(value)}: type must be file or env`);
        type = v;
        break;
      default:
        throw new OcibuildError('USAGE', `--secret ${JSON.stringify(value)}: unexpected key ${JSON.stringify(key)} (expected id, src, env, type)`);
    }
  }
  if (!id) throw new OcibuildError('USAGE', `--secret ${JSON.stringify(value)}: id= is required`);
  if (src !== undefined && env !== undefined) throw new OcibuildError('USAGE', `--secret ${JSON.stringify(value)}: give src= or env=, not both`);
  // docker buildx: with neither, type=env reads the variable named like the id, type=file (default) the file of that name.
  if (src === undefined && env === undefined) {
    if (type === 'env') env = id;
    else src = id;
  } else if (type === 'env' && src !== undefined) {
    env = src;
    src = undefined;
  } else if (type === 'file' && env !== undefined) {
    src = env;
    env = undefined;
  }
  return { id, source: src !== undefined ? { file: src } : { env: env! } };
}

/** Reads a secret's value; undefined when its source does not exist (a missing file or variable). */
export async function readSecret(source: SecretSource, env: Record<string, string | undefined>): Promise<Buffer | undefined> {
  if ('value' in source) return Buffer.from(source.value);
  if ('env' in source) {
    const v = env[source.env];
    return v === undefined ? undefined : Buffer.from(v);
  }
  try {
    return await fs.readFile(source.file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new OcibuildError('SECRET_MISSING', `cannot read the secret file ${source.file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { cause: e });
  }
}

/** Parses an `--ssh` value: `default`, `ID`, `ID=PATH[,PATH...]` (a socket or private key files). */
export function parseSshFlag(value: string): { id: string; paths: string[] } {
  const eq = value.indexOf('=');
  const id = eq < 0 ? value : value.slice(0, eq);
  if (!/^[A-Za-z0-9_.-]+$/.test(id)) throw new OcibuildError('USAGE', `--ssh ${JSON.stringify(value)}: invalid id ${JSON.stringify(id)}`);
  const paths = eq < 0 ? [] : value.slice(eq + 1).split(',').filter(Boolean);
  return { id, paths };
}

/** A socket for one RUN's ssh mount. */
export interface SshSocket {
  /** The socket to bind at the mount target. */
  socket: string;
  close(): Promise<void>;
}

/** Options of {@link openSshSocket}. */
export interface SshSocketOptions {
  id: string;
  /** Sockets or key files; empty: `$SSH_AUTH_SOCK`. */
  paths: readonly string[];
  env: Record<string, string | undefined>;
  /** A directory for the socket (removed by the caller). */
  dir: string;
  mode: number;
  uid: number;
  gid: number;
}

async function isSocket(p: string): Promise<boolean> {
  const st = await fs.stat(p).catch(() => undefined);
  return st?.isSocket() ?? false;
}

/**
 * A socket at `dir` forwarding to the agent for `id`: a proxy to an agent
 * socket, or a fresh `ssh-agent` holding the given key files.
 */
export async function openSshSocket(options: SshSocketOptions): Promise<SshSocket> {
  const paths = options.paths.length > 0 ? options.paths : options.env.SSH_AUTH_SOCK ? [options.env.SSH_AUTH_SOCK] : [];
  if (paths.length === 0) throw new OcibuildError('SSH_MISSING', `--ssh ${options.id}: no agent socket ($SSH_AUTH_SOCK is not set) and no key files given`);
  const socket = path.join(options.dir, `agent-${options.id.replace(/[^A-Za-z0-9_.-]/g, '_')}.sock`);
  let upstream: string;
  let stopAgent: (() => Promise<void>) | undefined;
  if (paths.length === 1 && (await isSocket(paths[0]!))) {
    upstream = paths[0]!;
  } else {
    for (const p of paths) {
      if (!(await fs.stat(p).catch(() => undefined))?.isFile()) throw new OcibuildError('SSH_MISSING', `--ssh ${options.id}: ${p} is neither an agent socket nor a key file`);
    }
    const agent = await startAgent(path.join(options.dir, `keys-${process.pid}.sock`), paths);
    upstream = agent.socket;
    stopAgent = agent.stop;
  }
  const server = net.createServer((client) => {
    const up = net.connect(upstream);
    client.pipe(up).pipe(client);
    const end = () => {
      client.destroy();
      up.destroy();
    };
    client.on('error', end);
    up.on('error', end);
    client.on('close', end);
    up.on('close', end);
  });
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(socket, () => resolve());
    });
    await fs.chmod(socket, options.mode & 0o7777);
    if (process.getuid?.() === 0) await fs.chown(socket, options.uid, options.gid);
  } catch (e) {
    server.close();
    await stopAgent?.();
    throw new OcibuildError('SSH_MISSING', `--ssh ${options.id}: cannot create the forwarding socket: ${(e as Error).message}`, { cause: e });
  }
  return {
    socket,
    async close() {
      await new Promise<void>((r) => server.close(() => r()));
      await stopAgent?.();
    },
  };
}

/** An `ssh-agent` in the foreground with the keys added; stopped with the step. */
async function startAgent(socket: string, keys: readonly string[]): Promise<{ socket: string; stop(): Promise<void> }> {
  const child = spawn('ssh-agent', ['-D', '-a', socket], { stdio: ['ignore', 'ignore', 'pipe'] });
  let failed: Error | undefined;
  child.on('error', (e) => (failed = e));
  const stop = async () => {
    if (child.exitCode === null && !child.killed) {
      child.kill('SIGTERM');
      await new Promise<void>((r) => child.once('exit', () => r()));
    }
    await fs.rm(socket, { force: true });
  };
  for (let i = 0; i < 200 && !failed && !(await isSocket(socket)); i++) await sleep(10);
  if (failed || !(await isSocket(socket))) {
    await stop();
    throw new OcibuildError('SSH_MISSING', `--ssh with key files needs ssh-agent (openssh-client): ${failed?.message ?? 'the agent did not start'}`);
  }
  for (const k of keys) {
    const err = await new Promise<string | undefined>((resolve) =>
      execFile('ssh-add', ['-q', k], { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', SSH_AUTH_SOCK: socket } }, (e, _o, se) => resolve(e ? se.trim() || e.message : undefined)),
    );
    if (err !== undefined) {
      await stop();
      throw new OcibuildError('SSH_MISSING', `--ssh: cannot load the key ${k}: ${err}`);
    }
  }
  return { socket, stop };
}
