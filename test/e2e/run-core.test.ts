/**
 * RUN end to end through the CLI (`node bin/ocibuild build`), on a busybox
 * base from a local registry, as root and rootless for real: an unprivileged
 * user made here with /etc/subuid entries, and one without (a single uid
 * mapping: USER other than root cannot work, and the build says why).
 * Each built image is unpacked by umoci and run by crun, and prints what it
 * should: USER by name and number (supplementary groups), WORKDIR, SHELL,
 * exec and shell form, heredocs, whiteouts and an opaque directory, hardlinks,
 * symlinks, setuid bits, a sticky /tmp; a failing command and Ctrl-C mid-RUN.
 */
import { lstat, readdir, readFile, readlink, stat } from 'node:fs/promises';
import path from 'node:path';
import {
  buildOci, expectOk, layerListings, makeActor, mountsUnder, ocibuild, processesMatching, runBundle, runTestsUnavailable, skipLoudly, startWorld, unpack, writeContext,
  type Actor, type ActorKind, type CliRun, type RunWorld,
} from './run-harness.js';

/**
 * Everything in one Dockerfile (one build per actor); each `it` checks one feature of the result.
 * Debian's busybox-static has no adduser applet: the user is appended to /etc/passwd and /etc/group.
 */
const coreDockerfile = (base: string, withUsers: boolean) => `# syntax=docker/dockerfile:1
FROM ${base}
RUN mkdir -p /tmp && chmod 1777 /tmp
${withUsers ? `RUN echo 'app:x:1234:1234:app:/home/app:/bin/sh' >> /etc/passwd && echo 'app:x:1234:' >> /etc/group && echo 'extra:x:2000:app' >> /etc/group && mkdir -p /home/app && chown 1234:1234 /home/app
USER app
RUN id > /home/app/id-by-name.txt && echo written-by-app > /tmp/by-app.txt
USER 4321:4321
RUN echo "$(id -u):$(id -g)" > /tmp/by-number.txt
USER root` : ''}
WORKDIR /work/dir
RUN pwd > where.txt
RUN printf '#!/bin/sh\\necho "mysh:$*" >> /shell.log\\nexec /bin/sh "$@"\\n' > /bin/mysh && chmod 0755 /bin/mysh
SHELL ["/bin/mysh", "-c"]
RUN echo shell-form > /shell-form.txt
RUN ["/bin/sh", "-c", "echo exec-form > /exec-form.txt"]
SHELL ["/bin/sh", "-c"]
RUN <<EOF
echo heredoc-1 > /heredoc.txt
echo heredoc-2 >> /heredoc.txt
EOF
RUN <<EOF
#!/bin/awk -f
BEGIN { print "awk-interpreter" > "/interpreter.txt" }
EOF
RUN cat > /fed.txt <<EOF
fed-through-stdin
EOF
RUN mkdir -p /lower/keep /lower/gone && echo a > /lower/keep/a && echo b > /lower/gone/b && echo c > /lower/file-gone
RUN rm /lower/file-gone && rm -rf /lower/gone && rm /bin/vi
RUN rm -rf /lower/keep && mkdir /lower/keep && echo new > /lower/keep/new
RUN echo same > /hl-a && ln /hl-a /hl-b && ln /bin/busybox /bb-hardlink
RUN ln -s /etc/passwd /sym-abs && ln -s ../etc /usr/sym-rel
RUN cp /bin/busybox /usr/bin/suid-bb && chmod 4755 /usr/bin/suid-bb && mkdir /sgid-dir && chmod 2775 /sgid-dir
CMD ["sh", "-c", "pwd; cat /work/dir/where.txt /shell.log /shell-form.txt /exec-form.txt /heredoc.txt /interpreter.txt /fed.txt; ls /lower/keep; ls /lower; stat -c %a /tmp; ${withUsers ? 'cat /home/app/id-by-name.txt /tmp/by-number.txt /tmp/by-app.txt' : 'true'}"]
`;

const KINDS: ActorKind[] = ['root', 'rootless-subuid', 'rootless-single'];

describe.each(KINDS)('RUN end to end as %s', (kind) => {
  let world: RunWorld | undefined;
  let actor: Actor;
  let unavailable: string | undefined;
  /** The core image, unpacked by umoci (undefined when it could not be built: the its fail with the build's error). */
  let bundle: string | undefined;
  let oci: string;
  let buildError: Error | undefined;
  const withUsers = kind !== 'rootless-single';

  beforeAll(async () => {
    unavailable = await runTestsUnavailable();
    if (unavailable) return;
    world = await startWorld();
    actor = await makeActor(kind, world.tmp);
    const ctx = await writeContext(actor, 'core', { Dockerfile: coreDockerfile(world.busybox, withUsers) });
    try {
      ({ oci } = await buildOci(actor, world.tmp, ctx, 'core:latest'));
      bundle = await unpack(oci, 'latest', world.tmp);
    } catch (e) {
      buildError = e as Error;
    }
  }, 600_000);
  afterAll(async () => {
    await world?.stop();
  });

  const ready = (): string | undefined => {
    if (skipLoudly(unavailable)) return undefined;
    if (buildError) throw buildError;
    return bundle!;
  };
  const rootfs = (p: string) => path.join(bundle!, 'rootfs', p);

  it('the image runs with crun and prints what every RUN left', async () => {
    const b = ready();
    if (!b) return;
    const out = await runBundle(b);
    const expected = [
      '/work/dir', // WORKDIR is the image's working dir
      '/work/dir', // and the RUN's (created when missing)
      'mysh:-c echo shell-form > /shell-form.txt', // SHELL wraps shell form only
      'shell-form',
      'exec-form',
      'heredoc-1',
      'heredoc-2',
      'awk-interpreter', // a heredoc with a #! line runs with its interpreter
      'fed-through-stdin',
      'new', // /lower/keep recreated: only the new file
      'keep', // /lower/gone and /lower/file-gone deleted
      '1777', // sticky /tmp
    ];
    if (withUsers) expected.push('uid=1234(app) gid=1234(app) groups=1234(app),2000(extra)', '4321:4321', 'written-by-app');
    expect(out.trimEnd().split('\n')).toEqual(expected);
  });

  it('USER by name and by number: processes ran as those ids, files are theirs in the layer', async () => {
    if (!withUsers) return; // the single-mapping user has its own test below
    const b = ready();
    if (!b) return;
    expect(await readFile(rootfs('home/app/id-by-name.txt'), 'utf8')).toBe('uid=1234(app) gid=1234(app) groups=1234(app),2000(extra)\n');
    const st = await stat(rootfs('home/app/id-by-name.txt'));
    expect([st.uid, st.gid]).toEqual([1234, 1234]);
    const byNumber = await stat(rootfs('tmp/by-number.txt'));
    expect([byNumber.uid, byNumber.gid]).toEqual([4321, 4321]);
    const home = await stat(rootfs('home/app'));
    expect([home.uid, home.gid]).toEqual([1234, 1234]);
  });

  it('file deletions are whiteouts in the layer and gone after umoci unpack', async () => {
    const b = ready();
    if (!b) return;
    const layers = await layerListings(oci, 'latest');
    const del = layers.find((l) => l.includes('lower/.wh.file-gone'));
    expect(del).toEqual(expect.arrayContaining(['lower/.wh.file-gone', 'lower/.wh.gone', 'bin/.wh.vi']));
    expect(await readdir(rootfs('lower'))).toEqual(['keep']);
    await expect(lstat(rootfs('bin/vi'))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('rm -rf of a lower directory recreated in the same RUN is an opaque directory', async () => {
    const b = ready();
    if (!b) return;
    const layers = await layerListings(oci, 'latest');
    const opq = layers.find((l) => l.includes('lower/keep/new'));
    expect(opq).toEqual(expect.arrayContaining(['lower/keep/.wh..wh..opq', 'lower/keep/new']));
    expect(await readdir(rootfs('lower/keep'))).toEqual(['new']);
  });

  it('hardlinks stay hardlinks (also to a file of a lower layer)', async () => {
    const b = ready();
    if (!b) return;
    const [a, h] = [await stat(rootfs('hl-a')), await stat(rootfs('hl-b'))];
    expect(h.ino).toBe(a.ino);
    expect(a.nlink).toBe(2);
    const bb = await stat(rootfs('bb-hardlink'));
    expect(bb.ino).toBe((await stat(rootfs('bin/busybox'))).ino);
  });

  it('symlinks keep their targets, absolute and relative', async () => {
    const b = ready();
    if (!b) return;
    expect(await readlink(rootfs('sym-abs'))).toBe('/etc/passwd');
    expect(await readlink(rootfs('usr/sym-rel'))).toBe('../etc');
  });

  it('setuid and setgid bits, and a sticky /tmp', async () => {
    const b = ready();
    if (!b) return;
    expect((await stat(rootfs('usr/bin/suid-bb'))).mode & 0o7777).toBe(0o4755);
    expect((await stat(rootfs('sgid-dir'))).mode & 0o7777).toBe(0o2775);
    expect((await stat(rootfs('tmp'))).mode & 0o7777).toBe(0o1777);
  });

  it('the runtime files are bound in, not written into a layer', async () => {
    const b = ready();
    if (!b) return;
    for (const l of await layerListings(oci, 'latest')) {
      expect(l.filter((n) => ['etc/hosts', 'etc/resolv.conf', 'etc/hostname'].includes(n))).toEqual([]);
    }
  });

  it('a failing command fails the build: exit code, its output, the instruction located', async () => {
    if (skipLoudly(unavailable)) return;
    const ctx = await writeContext(actor, 'failing', {
      Dockerfile: `FROM ${world!.busybox}\nRUN echo fine\nRUN echo to-stdout; echo to-stderr >&2; exit 3\nRUN echo never\n`,
    });
    const r = await ocibuild(actor, world!.tmp, ['build', ctx, '-t', 'failing:latest']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/Dockerfile:3/);
    expect(r.stderr).toMatch(/\bexit(ed)?( with)?( code| status)?:? 3\b/i);
    expect(r.stderr).toContain('to-stdout');
    expect(r.stderr).toContain('to-stderr');
    expect(r.stderr).toMatch(/\[RUN_FAILED\]/);
    expect(r.stderr).toContain('> 3 | RUN echo to-stdout');
    expect(r.stderr).not.toMatch(/\n\s+at .*\.js:\d+/); // no stack trace
    expect(await mountsUnder(actor.store)).toEqual([]);
    expect((await readdir(path.join(actor.store, 'tmp')).catch(() => [])).filter((n) => n.startsWith('run'))).toEqual([]);
  });

  it('Ctrl-C mid-RUN: the command is killed, nothing stays mounted, no temp dir is left', async () => {
    if (skipLoudly(unavailable)) return;
    const marker = `sleep 4${kind.length}4${process.pid % 1000}`;
    const ctx = await writeContext(actor, 'interrupted', { Dockerfile: `FROM ${world!.busybox}\nRUN echo started && ${marker}\n` });
    let pid = 0;
    let ended: CliRun | undefined;
    const running = ocibuild(actor, world!.tmp, ['build', ctx, '-t', 'interrupted:latest'], { onSpawn: (p) => (pid = p) }).then((r) => (ended = r));
    // wait until the sandboxed command runs, then interrupt the CLI as a terminal's Ctrl-C does
    const deadline = Date.now() + 180_000;
    while ((await processesMatching(marker)).length === 0) {
      if (ended) throw new Error(`the build ended before the RUN started (exit ${ended.code}):\n${ended.stderr}`);
      if (Date.now() > deadline) throw new Error('the RUN did not start within 3 minutes');
      await new Promise((r) => setTimeout(r, 200));
    }
    const t0 = Date.now();
    process.kill(pid, 'SIGINT');
    const r = await running;
    expect(Date.now() - t0).toBeLessThan(20_000);
    expect(r.code === 130 || r.code === 1 || r.signal === 'SIGINT').toBe(true);
    expect(r.stderr).not.toMatch(/\n\s+at .*\.js:\d+/);
    for (let i = 0; i < 50 && (await processesMatching(marker)).length > 0; i++) await new Promise((res) => setTimeout(res, 100));
    expect(await processesMatching(marker)).toEqual([]);
    expect(await mountsUnder(actor.store)).toEqual([]);
    expect((await readdir(path.join(actor.store, 'tmp')).catch(() => [])).filter((n) => n.startsWith('run'))).toEqual([]);
    // the store is still usable: the same build now finishes (a short command instead)
    const again = await writeContext(actor, 'after-interrupt', { Dockerfile: `FROM ${world!.busybox}\nRUN echo after > /after.txt\n` });
    expectOk(await ocibuild(actor, world!.tmp, ['build', again, '-t', 'after:latest']));
  }, 300_000);

  if (kind === 'rootless-single') {
    it('without /etc/subuid entries, USER other than root is refused with the reason and the fix', async () => {
      if (skipLoudly(unavailable)) return;
      const ctx = await writeContext(actor, 'single-user', { Dockerfile: `FROM ${world!.busybox}\nUSER 4321\nRUN id -u\n` });
      const r = await ocibuild(actor, world!.tmp, ['build', ctx, '-t', 'single:latest']);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/subuid/);
      expect(r.stderr).toMatch(/Dockerfile:3/);
    });
  }
});
