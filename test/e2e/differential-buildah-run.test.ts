/**
 * Differential check of RUN against buildah (Debian's 1.28: `buildah bud
 * --layers --isolation chroot --storage-driver vfs`, its own --root/--runroot
 * under a temp dir): the same RUN-using Dockerfiles (user creation, file
 * deletion, links and special bits, multi-stage, a package install) built by
 * both from the same base images (a local registry) give the same final
 * filesystem after `umoci unpack` (paths, types, modes, owners, link
 * targets, hardlink counts, contents) and the same runtime config.
 *
 * Mtimes are never compared (both stamp the build time). Every other
 * difference must match one entry of JUSTIFIED, which says why it exists.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { lstat, readdir, readFile, readlink } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { buildOci, makeActor, runTestsUnavailable, skipLoudly, startWorld, unpack, writeContext, type Actor, type RunWorld } from './run-harness.js';

const exec = promisify(execFile);

/** A difference both tools are right about. `only`: the path exists in one image alone; `content`: both have it, bytes differ. */
interface Justified {
  path: RegExp;
  kind: 'only-buildah' | 'content';
  why: string;
}

const JUSTIFIED: Justified[] = [
  {
    path: /^etc\/(hosts|resolv\.conf|hostname)$/,
    kind: 'only-buildah',
    why: 'buildah\'s chroot isolation bind-mounts these onto empty files it creates in the rootfs when the base lacks them, and commits the empty files; BuildKit and ocibuild bind them in and keep them out of the layer (issue 10)',
  },
  {
    path: /^(dev|proc|run|sys)$/,
    kind: 'only-buildah',
    why: 'buildah\'s chroot isolation creates these mount points as empty directories in the rootfs when the base lacks them (the busybox base does), and commits them; BuildKit and ocibuild mount over them without writing them into a layer',
  },
  {
    path: /^var\/cache\/apt\/(pkgcache|srcpkgcache)\.bin$/,
    kind: 'content',
    why: 'apt\'s binary caches record the mtime and size of each package list, and the lists are downloaded at build time',
  },
  {
    path: /^var\/log\/(dpkg\.log|alternatives\.log|apt\/history\.log|apt\/term\.log|apt\/eipp\.log\.xz)$/,
    kind: 'content',
    why: 'dpkg and apt log lines carry the wall-clock time of the install',
  },
  {
    path: /^var\/cache\/ldconfig\/aux-cache$/,
    kind: 'content',
    why: 'ldconfig\'s aux-cache records the inode, ctime and size of every library it scanned',
  },
  {
    path: /^var\/cache\/debconf\/(config|templates)\.dat(-old)?$/,
    kind: 'content',
    why: 'debconf\'s databases are written in hash order, which is not stable from run to run',
  },
];

/** One line per path: type, mode, owner, link target or content digest (and link count for files). */
async function tree(root: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const walk = async (dir: string, rel: string): Promise<void> => {
    for (const name of (await readdir(dir)).sort()) {
      const p = path.join(dir, name);
      const r = rel ? `${rel}/${name}` : name;
      const st = await lstat(p);
      let what: string;
      if (st.isSymbolicLink()) what = `link -> ${await readlink(p)}`;
      else if (st.isDirectory()) what = 'dir';
      else if (st.isFIFO()) what = 'fifo';
      else if (st.isCharacterDevice() || st.isBlockDevice()) what = `${st.isCharacterDevice() ? 'char' : 'block'} ${st.rdev}`;
      else {
        let bytes = await readFile(p);
        // /etc/shadow's third field is the day of the last password change: the build's date
        if (r === 'etc/shadow' || r === 'etc/shadow-') bytes = Buffer.from(bytes.toString('utf8').replace(/^([^:\n]*:[^:\n]*:)\d+:/gm, '$1DAY:'));
        what = `file nlink=${st.nlink} ${createHash('sha256').update(bytes).digest('hex').slice(0, 16)}`;
      }
      out.set(r, `${(st.mode & 0o7777).toString(8)} ${st.uid}:${st.gid} ${what}`);
      if (st.isDirectory()) await walk(p, r);
    }
  };
  await walk(root, '');
  return out;
}

/** The differences no JUSTIFIED entry explains. */
function unexplained(ours: Map<string, string>, theirs: Map<string, string>): string[] {
  const bad: string[] = [];
  const justified = (p: string, kind: Justified['kind']) => JUSTIFIED.some((j) => j.kind === kind && j.path.test(p));
  for (const [p, v] of theirs) {
    const o = ours.get(p);
    if (o === undefined) {
      // allowed only while empty: an empty file (a bind-mount target) or an empty directory (a mount point)
      const empty = / file nlink=1 e3b0c44298fc1c14$/.test(v) || (/ dir$/.test(v) && ![...theirs.keys()].some((k) => k.startsWith(`${p}/`)));
      if (!(justified(p, 'only-buildah') && empty)) bad.push(`only in buildah's: ${p} ${v}`);
    } else if (o !== v) {
      const sameButContent = o.replace(/ [0-9a-f]{16}$/, '') === v.replace(/ [0-9a-f]{16}$/, '');
      if (!(sameButContent && justified(p, 'content'))) bad.push(`differs: ${p}: ours ${o}, buildah's ${v}`);
    }
  }
  for (const [p, v] of ours) if (!theirs.has(p)) bad.push(`only in ours: ${p} ${v}`);
  return bad;
}

const CONFIG_KEYS = ['User', 'Env', 'Entrypoint', 'Cmd', 'WorkingDir', 'Volumes', 'ExposedPorts', 'StopSignal'] as const;

const CASES: Array<{ name: string; debian?: boolean; dockerfile: (bb: string, deb: string) => string; expect: string[] }> = [
  {
    name: 'user creation',
    dockerfile: (bb) => `FROM ${bb}
RUN echo 'app:x:1234:1234:app:/home/app:/bin/sh' >> /etc/passwd && echo 'app:x:1234:' >> /etc/group && echo 'extra:x:2000:app' >> /etc/group && mkdir -p /home/app && chown 1234:1234 /home/app
USER app
RUN echo mine > /home/app/file && mkdir /home/app/dir
USER root
RUN chown 1234:2000 /home/app/dir && chmod 0750 /home/app/dir
USER app:extra
`,
    expect: ['home/app/dir 750 1234:2000 dir', 'home/app/file 644 1234:1234 file'],
  },
  {
    name: 'file deletion',
    dockerfile: (bb) => `FROM ${bb}
RUN mkdir -p /d/keep /d/gone && echo a > /d/keep/a && echo b > /d/gone/b && echo c > /d/c
RUN rm /d/c && rm -rf /d/gone && rm /bin/vi /etc/group
RUN rm -rf /d/keep && mkdir /d/keep && echo new > /d/keep/new
`,
    expect: ['d 755 0:0 dir', 'd/keep/new 644 0:0 file'],
  },
  {
    name: 'symlinks, hardlinks, special bits',
    dockerfile: (bb) => `FROM ${bb}
RUN echo x > /a && ln /a /b && ln -s /a /abs && ln -s ../a /usr/rel && ln -s dangling /dangle
RUN cp /bin/busybox /usr/bin/suid && chmod 4755 /usr/bin/suid && mkdir -m 1777 /shared && mkdir -m 2750 /sgid && mkfifo /fifo
WORKDIR /created/by/workdir
RUN pwd > /pwd.txt
`,
    // A known difference kept out of this case: buildah 1.28 creates a WORKDIR only when a later step
    // runs in it, while BuildKit (and ocibuild) create it in a layer of its own at the WORKDIR line.
    expect: ['abs 777 0:0 link -> /a', 'b 644 0:0 file nlink=2', 'usr/bin/suid 4755 0:0 file', 'shared 1777 0:0 dir', 'fifo 644 0:0 fifo', 'created/by/workdir 755 0:0 dir', 'pwd.txt 644 0:0 file'],
  },
  {
    name: 'multi-stage',
    dockerfile: (bb) => `FROM ${bb} AS build
RUN mkdir /out && echo built > /out/artifact && chmod 0600 /out/artifact && chown 7:8 /out/artifact
FROM ${bb}
COPY --from=build /out /opt/out
RUN cat /opt/out/artifact > /copied && rm /opt/out/artifact && touch /opt/out/after
CMD ["cat", "/copied"]
`,
    expect: ['copied 644 0:0 file', 'opt/out/after 644 0:0 file'],
  },
  {
    name: 'package install',
    debian: true,
    dockerfile: (_bb, deb) => `FROM ${deb}
RUN apt-get update && apt-get install -y --no-install-recommends hello && rm -rf /var/lib/apt/lists/*
`,
    expect: ['usr/bin/hello 755 0:0 file'],
  },
];

describe('differential: RUN in ocibuild and in buildah gives the same image', () => {
  let world: RunWorld | undefined;
  let actor: Actor;
  let unavailable: string | undefined;
  beforeAll(async () => {
    unavailable = await runTestsUnavailable();
    if (unavailable) return;
    world = await startWorld({ debian: true });
    actor = await makeActor('root', world.tmp);
  }, 900_000);
  afterAll(async () => {
    await world?.stop();
  });

  it.each(CASES.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    if (skipLoudly(unavailable)) return;
    if (c.debian && skipLoudly(world!.debianMissing)) return;
    const w = world!;
    const dockerfile = c.dockerfile(w.busybox, w.debian ?? '');
    const ctx = await writeContext(actor, `diff-${c.name.replace(/\W+/g, '-')}`, { Dockerfile: dockerfile });

    // buildah, with its own storage under the test's temp dir
    const broot = path.join(ctx, '..', `${path.basename(ctx)}-buildah`);
    const b = ['--storage-driver', 'vfs', '--root', path.join(broot, 'root'), '--runroot', path.join(broot, 'run')];
    const benv = { ...process.env, BUILDAH_FORMAT: 'oci', HOME: broot };
    await exec('buildah', [...b, 'bud', '--isolation', 'chroot', '--layers', '--tls-verify=false', '-f', path.join(ctx, 'Dockerfile'), '-t', 'diff', ctx], { env: benv, maxBuffer: 64 * 1024 * 1024 });
    const buildahOci = path.join(broot, 'oci');
    await exec('buildah', [...b, 'push', 'diff', `oci:${buildahOci}:latest`], { env: benv });

    // ocibuild, through the CLI
    const { oci } = await buildOci(actor, w.tmp, ctx, 'diff:latest');

    const [theirs, ours] = [await unpack(buildahOci, 'latest', w.tmp), await unpack(oci, 'latest', w.tmp)];
    const [bt, ot] = [await tree(path.join(theirs, 'rootfs')), await tree(path.join(ours, 'rootfs'))];
    expect(unexplained(ot, bt)).toEqual([]);
    // not vacuous: what the case is about is in both trees
    const lines = [...ot].map(([p, v]) => `${p} ${v}`);
    for (const e of c.expect) expect(lines.some((l) => l.startsWith(e))).toBe(true);

    const cfg = async (layout: string) => JSON.parse((await exec('skopeo', ['inspect', '--config', `oci:${layout}:latest`])).stdout).config ?? {};
    const [bc, oc] = [await cfg(buildahOci), await cfg(oci)];
    for (const key of CONFIG_KEYS) expect([key, oc[key]]).toEqual([key, bc[key]]);
  }, 900_000);
});
