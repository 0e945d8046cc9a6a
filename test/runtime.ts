import { execFile } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Whether an OCI runtime can run containers here, and why not. */
export interface RuntimeProbe {
  runtime?: 'crun' | 'runc';
  reason?: string;
}

/**
 * Finds a working OCI runtime, preferring crun. crun 1.8 refuses a hybrid cgroup
 * layout until the stray cgroup2 controller is bound to v1; as root we mount
 * hugetlb to fix that (the documented workaround for this VM kind).
 */
export async function probeRuntime(): Promise<RuntimeProbe> {
  for (const runtime of ['crun', 'runc'] as const) {
    try {
      await run(runtime, ['--version']);
    } catch {
      continue;
    }
    if (runtime === 'crun' && process.getuid?.() === 0) {
      try {
        await mkdir('/sys/fs/cgroup/hugetlb', { recursive: true });
        await run('sh', ['-c', 'grep -q " /sys/fs/cgroup/hugetlb " /proc/mounts || mount -t cgroup -o hugetlb cgroup /sys/fs/cgroup/hugetlb']);
      } catch {
        // not a hybrid layout, or not allowed: crun will tell us below
      }
    }
    return { runtime };
  }
  return { reason: 'neither crun nor runc is installed' };
}
