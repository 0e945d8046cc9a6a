import type { Argv } from 'yargs';
import type { HostProbe, ProbeItem } from '../../run/index.js';
import type { CommandContext } from '../main.js';

function line(name: string, item: ProbeItem): string {
  return `  ${item.ok ? 'ok  ' : 'no  '} ${name.padEnd(16)} ${item.detail}${!item.ok && item.fix ? `\n         ${''.padEnd(16)} fix: ${item.fix}` : ''}\n`;
}

/** The report `ocibuild doctor` prints. */
export async function formatDoctor(probe: HostProbe, isolation: 'auto' | 'oci' | 'chroot' = 'auto'): Promise<string> {
  const { chooseSandbox } = await import('../../run/index.js');
  let out = 'RUN sandbox on this host\n';
  out += `  user: ${probe.root ? 'root' : `uid ${probe.uid} (rootless)`}\n\n`;
  if (!probe.root) {
    out += line('user namespaces', probe.userns);
    out += line('subordinate ids', probe.subids);
  }
  out += line('overlayfs', probe.overlay);
  out += line('fuse-overlayfs', probe.fuseOverlayfs);
  out += line('copy', probe.copy);
  out += line('crun', probe.runtimes.crun);
  out += line('runc', probe.runtimes.runc);
  out += line('xattr tools', probe.xattrTools);
  out += '\n';
  try {
    const m = chooseSandbox(probe, isolation);
    out += `RUN will use: isolation ${m.isolation}${m.runtime ? ` (${m.runtime})` : ' (unshare + chroot)'}, snapshot ${m.snapshot}${probe.root ? '' : ', rootless'}\n`;
    if (m.reason) out += `  because ${m.reason}\n`;
    if (!probe.root && !probe.subids.ok) out += `  note: ${probe.subids.detail}\n`;
  } catch (e) {
    out += `RUN cannot work here: ${(e as Error).message}\n`;
  }
  return out;
}

/** `ocibuild doctor`: which isolation and snapshot method RUN uses here, and for each one that cannot work, why and the fix. */
export function register(y: Argv, ctx: CommandContext): Argv {
  return y.command(
    'doctor',
    'Show how RUN will be isolated and snapshotted on this host, and what to fix',
    (c) =>
      c
        .option('isolation', { choices: ['auto', 'oci', 'chroot'] as const, default: 'auto' as const, describe: 'Check this isolation' })
        .option('format', { choices: ['text', 'json'] as const, default: 'text' as const }),
    async (argv) => {
      // The RUN modules load when doctor runs, not at start-up (issue 8).
      const { chooseSandbox, probeHost } = await import('../../run/index.js');
      const probe = await probeHost();
      if (argv.format === 'json') {
        ctx.io.stdout.write(JSON.stringify(probe, null, 2) + '\n');
      } else {
        ctx.io.stdout.write(await formatDoctor(probe, argv.isolation));
      }
      try {
        chooseSandbox(probe, argv.isolation);
      } catch {
        ctx.exitCode = 1;
      }
    },
  );
}
