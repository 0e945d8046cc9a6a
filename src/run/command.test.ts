import { commandText, runCommand } from './command.js';
import { resolveUser } from './user.js';
import { parseShmSize, parseUlimit, parseProcLimits } from './limits.js';
import { createRuntimeSpec, specJson, RLIM_INFINITY } from './spec.js';
import { hostsFile, parseAddHost } from './sandbox.js';
import { OcibuildError } from '../errors.js';

describe('runCommand (BuildKit dockerfile2llb rules)', () => {
  it('shell form joins under SHELL (default /bin/sh -c), exec form stays', () => {
    expect(runCommand(['echo $HOME'], true, []).argv).toEqual(['/bin/sh', '-c', 'echo $HOME']);
    expect(runCommand(['echo hi'], true, [], ['/bin/bash', '-euo', 'pipefail', '-c']).argv).toEqual(['/bin/bash', '-euo', 'pipefail', '-c', 'echo hi']);
    expect(runCommand(['/bin/echo', 'a b'], false, []).argv).toEqual(['/bin/echo', 'a b']);
    expect(commandText(['/bin/sh', '-c', 'exit 3'])).toBe('/bin/sh -c exit 3');
  });
  it('RUN <<EOF: the body is the shell script; <<- strips leading tabs', () => {
    expect(runCommand(['<<EOF'], true, [{ name: 'EOF', data: 'echo a\necho b\n', chomp: false }]).argv).toEqual(['/bin/sh', '-c', 'echo a\necho b\n']);
    expect(runCommand(['<<-EOF'], true, [{ name: 'EOF', data: '\techo a\n', chomp: true }]).argv).toEqual(['/bin/sh', '-c', 'echo a\n']);
  });
  it('RUN <<EOF with a #! line: a script in /dev/pipes, executed directly', () => {
    const c = runCommand(['<<EOF'], true, [{ name: 'EOF', data: '#!/usr/bin/python3\nprint(1)\n', chomp: false }]);
    expect(c.argv).toEqual(['/dev/pipes/EOF']);
    expect(c.pipes).toEqual([{ name: 'EOF', data: '#!/usr/bin/python3\nprint(1)\n', mode: 0o755 }]);
  });
  it('RUN <<EOF python3 and several heredocs: the command line and bodies go back to the shell', () => {
    expect(runCommand(['<<EOF python3'], true, [{ name: 'EOF', data: 'print(1)\n', chomp: false }]).argv).toEqual(['/bin/sh', '-c', '<<EOF python3\nprint(1)\nEOF']);
    expect(
      runCommand(['cat <<A <<B'], true, [
        { name: 'A', data: 'a\n', chomp: false },
        { name: 'B', data: 'b\n', chomp: false },
      ]).argv,
    ).toEqual(['/bin/sh', '-c', 'cat <<A <<B\na\nA\nb\nB']);
  });
});

describe('resolveUser (runc GetExecUser)', () => {
  const passwd = 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1001:app:/home/app:/bin/sh\n';
  const group = 'root:x:0:\napp:x:1001:\naudio:x:29:app,other\nvideo:x:44:app\n';
  it('by name, with the groups listing the user', () => {
    expect(resolveUser('app', passwd, group)).toEqual({ uid: 1000, gid: 1001, additionalGids: [1001, 29, 44], home: '/home/app' });
  });
  it('by uid, by uid:gid, by name:group (no supplementary groups with an explicit group)', () => {
    expect(resolveUser('1000', passwd, group)).toMatchObject({ uid: 1000, gid: 1001, additionalGids: [1001, 29, 44] });
    expect(resolveUser('1000:29', passwd, group)).toMatchObject({ uid: 1000, gid: 29, additionalGids: [29] });
    expect(resolveUser('app:video', passwd, group)).toMatchObject({ uid: 1000, gid: 44, additionalGids: [44] });
    expect(resolveUser('4242', passwd, group)).toEqual({ uid: 4242, gid: 0, additionalGids: [0], home: '/' });
    expect(resolveUser('4242:4343', undefined, undefined)).toMatchObject({ uid: 4242, gid: 4343 });
    expect(resolveUser(undefined, passwd, group)).toEqual({ uid: 0, gid: 0, additionalGids: [0], home: '/root' });
  });
  it('an unknown name is an error', () => {
    expect(() => resolveUser('nobody', passwd, group)).toThrow('unable to find user nobody: no matching entries in passwd file');
    expect(() => resolveUser('app:nogroup', passwd, group)).toThrow('unable to find group nogroup');
  });
});

describe('RUN-side flags', () => {
  const limits = 'Limit                     Soft Limit           Hard Limit           Units\nMax open files            20000                20000                files\nMax core file size        0                    unlimited            bytes\n';
  it('--ulimit lowers, refuses raising, takes -1 as unlimited', () => {
    expect(parseProcLimits(limits).get('Max open files')).toEqual({ soft: 20000, hard: 20000 });
    expect(parseUlimit('nofile=1024:2048', limits)).toEqual({ type: 'RLIMIT_NOFILE', soft: 1024, hard: 2048 });
    expect(parseUlimit('core=0:-1', limits)).toEqual({ type: 'RLIMIT_CORE', soft: 0, hard: RLIM_INFINITY });
    expect(() => parseUlimit('nofile=65536', limits)).toThrow(/would raise the hard limit of nofile above 20000/);
    expect(() => parseUlimit('nofiles=1', limits)).toThrow(OcibuildError);
  });
  it('--shm-size and --add-host', () => {
    expect(parseShmSize('64m')).toBe(64 * 1024 * 1024);
    expect(parseShmSize('1g')).toBe(1024 ** 3);
    expect(parseShmSize('65536')).toBe(65536);
    expect(() => parseShmSize('lots')).toThrow(OcibuildError);
    expect(parseAddHost('db:10.0.0.2')).toEqual({ host: 'db', ip: '10.0.0.2' });
    expect(parseAddHost('v6=[::1]')).toEqual({ host: 'v6', ip: '::1' });
    expect(() => parseAddHost('db')).toThrow(OcibuildError);
    expect(hostsFile([{ host: 'db', ip: '10.0.0.2' }])).toBe('127.0.0.1\tlocalhost buildkitsandbox\n::1\tlocalhost ip6-localhost ip6-loopback\n10.0.0.2\tdb\n');
  });
});

describe('createRuntimeSpec', () => {
  const base = {
    rootfs: '/s/merged',
    argv: ['/bin/sh', '-c', 'true'],
    env: ['PATH=/bin'],
    cwd: '/app',
    user: { uid: 1000, gid: 1000, additionalGids: [29], home: '/home/app' },
    hostname: 'buildkitsandbox',
    etc: { hosts: '/s/etc/hosts', resolvConf: '/s/etc/resolv.conf', hostname: '/s/etc/hostname' },
  };
  it('no terminal, no rlimits unless asked, Docker default capabilities, the /etc files bound, no network namespace', () => {
    const spec = createRuntimeSpec(base) as any;
    expect(spec.process).toMatchObject({ terminal: false, args: base.argv, env: base.env, cwd: '/app', user: { uid: 1000, gid: 1000, additionalGids: [29] } });
    expect(spec.process.rlimits).toBeUndefined();
    expect(spec.process.capabilities.bounding).toContain('CAP_CHOWN');
    expect(spec.process.capabilities.bounding).not.toContain('CAP_SYS_ADMIN');
    expect(spec.linux.namespaces.map((n: any) => n.type)).toEqual(['pid', 'ipc', 'uts', 'mount']);
    expect(spec.mounts.map((m: any) => m.destination)).toEqual(['/proc', '/dev', '/dev/pts', '/dev/shm', '/dev/mqueue', '/sys', '/etc/hosts', '/etc/resolv.conf', '/etc/hostname']);
    expect(spec.mounts.find((m: any) => m.destination === '/sys').options).toContain('ro');
    expect(spec.mounts.find((m: any) => m.destination === '/dev/shm').options).toContain('size=67108864');
    expect(spec.mounts.find((m: any) => m.destination === '/etc/hosts').source).toBe('/s/etc/hosts');
  });
  it('rootless: /sys bound, no gid option on devpts; insecure: every capability, nothing masked; heredoc pipes', () => {
    const spec = createRuntimeSpec({ ...base, rootless: true, insecure: true, pipesDir: '/s/pipes', shmSize: 1024, rlimits: [{ type: 'RLIMIT_CORE', soft: 0, hard: RLIM_INFINITY }] }) as any;
    expect(spec.mounts.find((m: any) => m.destination === '/sys')).toMatchObject({ type: 'none', source: '/sys' });
    expect(spec.mounts.find((m: any) => m.destination === '/dev/pts').options).not.toContain('gid=5');
    expect(spec.process.capabilities.bounding).toContain('CAP_SYS_ADMIN');
    expect(spec.linux.maskedPaths).toBeUndefined();
    expect(spec.mounts.find((m: any) => m.destination === '/dev/pipes')).toMatchObject({ source: '/s/pipes', options: ['rbind', 'ro', 'rprivate'] });
    expect(specJson(spec)).toContain('"hard":18446744073709551615');
  });
});
