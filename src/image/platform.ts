import { OcibuildError } from '../errors.js';
import type { Platform } from '../oci/types.js';

/** Operating systems Go (and so the OCI ecosystem) knows; a one-part specifier naming one of these is an OS. */
const KNOWN_OS = new Set([
  'aix', 'android', 'darwin', 'dragonfly', 'freebsd', 'hurd', 'illumos', 'ios', 'js', 'linux', 'nacl',
  'netbsd', 'openbsd', 'plan9', 'solaris', 'wasip1', 'windows', 'zos',
]);

const PART_RE = /^[A-Za-z0-9_.-]+$/;

/**
 * Normalize a platform as containerd does (`platforms.Normalize`): lower-case
 * os/arch/variant, `macos` → `darwin`, `x86_64`/`x86-64` → `amd64` (`v1`
 * dropped), `i386` → `386`, `aarch64` → `arm64` with `v8` (the default variant)
 * dropped, `armhf` → `arm/v7`, `armel` → `arm/v6`, `arm` defaults to `v7`, bare
 * numeric variants get their `v`. Returns a new object.
 */
export function normalizePlatform(p: Platform): Platform {
  let os = p.os.toLowerCase();
  if (os === 'macos') os = 'darwin';
  let arch = p.architecture.toLowerCase();
  let variant = (p.variant ?? '').toLowerCase();
  switch (arch) {
    case 'i386':
      arch = '386';
      variant = '';
      break;
    case 'x86_64':
    case 'x86-64':
    case 'amd64':
      arch = 'amd64';
      if (variant === 'v1') variant = '';
      break;
    case 'aarch64':
    case 'arm64':
      arch = 'arm64';
      if (variant === '8' || variant === 'v8' || variant === 'v8.0') variant = '';
      else if (variant === '9' || variant === '9.0' || variant === 'v9.0') variant = 'v9';
      break;
    case 'armhf':
      arch = 'arm';
      variant = 'v7';
      break;
    case 'armel':
      arch = 'arm';
      variant = 'v6';
      break;
    case 'arm':
      if (variant === '' || variant === '7') variant = 'v7';
      else if (variant === '5' || variant === '6' || variant === '8') variant = `v${variant}`;
      break;
  }
  const out: Platform = { os, architecture: arch };
  if (variant) out.variant = variant;
  if (p['os.version']) out['os.version'] = p['os.version'];
  if (p['os.features'] && p['os.features'].length > 0) out['os.features'] = [...p['os.features']];
  return out;
}

/** Map Node's `process.arch` to the OCI architecture (and variant). */
function nodeArch(arch: string): { architecture: string; variant?: string } {
  switch (arch) {
    case 'x64':
      return { architecture: 'amd64' };
    case 'ia32':
      return { architecture: '386' };
    case 'arm':
      return { architecture: 'arm', variant: 'v7' };
    case 'ppc64':
      return { architecture: 'ppc64le' };
    default:
      return { architecture: arch };
  }
}

/**
 * The platform images are built for by default: `linux` (containers are Linux
 * images whatever the host runs) on the host's architecture, from
 * `process.arch` unless `arch` (a Node arch name) is given.
 */
export function defaultPlatform(arch: string = process.arch): Platform {
  return normalizePlatform({ os: 'linux', ...nodeArch(arch) });
}

/**
 * Parse a platform specifier `os[/arch[/variant]]` or a bare `arch`, as
 * `docker build --platform` takes it (`linux/arm64/v8`, `linux/amd64`,
 * `arm64`, `linux`). Missing parts come from `defaults` (the host platform).
 * The result is normalized. A malformed specifier is a USAGE error.
 */
export function parsePlatform(spec: string, defaults: Platform = defaultPlatform()): Platform {
  const parts = spec.trim().split('/');
  if (parts.length === 0 || parts.length > 3 || parts.some((p) => !PART_RE.test(p))) {
    throw new OcibuildError('USAGE', `invalid platform ${JSON.stringify(spec)}: expected os/arch[/variant]`, {
      hint: 'for example linux/amd64 or linux/arm64/v8',
    });
  }
  if (parts.length === 1) {
    const one = parts[0]!.toLowerCase();
    if (KNOWN_OS.has(one) || one === 'macos') {
      // Only the OS given: the architecture (and variant) of the defaults.
      const p = normalizePlatform({ os: one, architecture: defaults.architecture, variant: defaults.variant });
      return p;
    }
    return normalizePlatform({ os: defaults.os, architecture: one });
  }
  const [os, architecture, variant] = parts as [string, string, string | undefined];
  return normalizePlatform({ os, architecture, variant });
}

/** `os/arch[/variant]` of a platform, normalized first. */
export function formatPlatform(p: Platform): string {
  const n = normalizePlatform(p);
  return n.variant ? `${n.os}/${n.architecture}/${n.variant}` : `${n.os}/${n.architecture}`;
}

/**
 * The platforms a host of platform `p` can run, best first, as containerd's
 * default matcher orders them: the exact platform, then older variants of the
 * same architecture (amd64 v3 → v2 → v1, arm v7 → v6 → v5), then the 32-bit
 * sibling (amd64 → 386, arm64 → arm v8..v5).
 */
export function compatiblePlatforms(p: Platform): Platform[] {
  const n = normalizePlatform(p);
  const out: Platform[] = [];
  const push = (architecture: string, variant?: string) =>
    out.push(normalizePlatform({ os: n.os, architecture, variant }));
  const level = (v: string | undefined, dflt: number): number => {
    const m = /^v(\d+)/.exec(v ?? '');
    return m ? Number(m[1]) : dflt;
  };
  switch (n.architecture) {
    case 'amd64': {
      for (let i = level(n.variant, 1); i >= 1; i--) push('amd64', `v${i}`);
      push('386');
      break;
    }
    case 'arm64': {
      if (n.variant && n.variant !== 'v8') out.push(n);
      for (let i = level(n.variant, 8) - 1; i >= 8; i--) push('arm64', `v${i}`);
      push('arm64');
      for (let i = 8; i >= 5; i--) push('arm', `v${i}`);
      break;
    }
    case 'arm': {
      for (let i = level(n.variant, 7); i >= 5; i--) push('arm', `v${i}`);
      break;
    }
    default:
      out.push(n);
  }
  // De-duplicate while keeping order.
  const seen = new Set<string>();
  return out.filter((q) => {
    const k = formatPlatform(q);
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

/** True when both platforms are the same after normalization (os, architecture, variant). */
export function platformEquals(a: Platform, b: Platform): boolean {
  return formatPlatform(a) === formatPlatform(b);
}

/**
 * Rank of `candidate` for a host of platform `want`: 0 is an exact match, higher
 * is a worse but still runnable match, -1 means it cannot run.
 */
export function platformRank(want: Platform, candidate: Platform): number {
  const key = formatPlatform(candidate);
  return compatiblePlatforms(want).findIndex((p) => formatPlatform(p) === key);
}
