/**
 * Platform specifiers (`linux/arm64/v8`) parsed and normalized as
 * containerd's `platforms` package does it.
 */
import type { Platform } from '../oci/types.js';

/** A platform parse failure; `message` is containerd's text. */
export class PlatformError extends Error {}

const COMPONENT = /^[A-Za-z0-9_.-]+$/;
const KNOWN_OS = new Set([
  'aix', 'android', 'darwin', 'dragonfly', 'freebsd', 'hurd', 'illumos', 'ios', 'js', 'linux', 'nacl',
  'netbsd', 'openbsd', 'plan9', 'solaris', 'wasip1', 'windows', 'zos',
]);
const KNOWN_ARCH = new Set([
  '386', 'amd64', 'amd64p32', 'arm', 'armbe', 'arm64', 'arm64be', 'ppc64', 'ppc64le', 'loong64', 'mips',
  'mipsle', 'mips64', 'mips64le', 'mips64p32', 'mips64p32le', 'ppc', 'riscv', 'riscv64', 's390', 's390x',
  'sparc', 'sparc64', 'wasm',
]);

function normalizeOS(os: string): string {
  const lower = os.toLowerCase();
  return lower === 'macos' ? 'darwin' : lower;
}

function normalizeArch(arch: string, variant: string): { architecture: string; variant: string } {
  arch = arch.toLowerCase();
  variant = variant.toLowerCase();
  switch (arch) {
    case 'i386':
      return { architecture: '386', variant: '' };
    case 'x86_64':
    case 'x86-64':
    case 'amd64':
      return { architecture: 'amd64', variant: variant === 'v1' ? '' : variant };
    case 'aarch64':
    case 'arm64':
      return { architecture: 'arm64', variant: variant === '8' || variant === 'v8' || variant === '' ? '' : variant };
    case 'armhf':
      return { architecture: 'arm', variant: 'v7' };
    case 'armel':
      return { architecture: 'arm', variant: 'v6' };
    case 'arm':
      switch (variant) {
        case '':
        case '7':
          return { architecture: 'arm', variant: 'v7' };
        case '5':
        case '6':
        case '8':
          return { architecture: 'arm', variant: `v${variant}` };
        default:
          return { architecture: 'arm', variant };
      }
    default:
      return { architecture: arch, variant };
  }
}

/**
 * Parse a platform specifier. `defaults` supplies the OS/architecture used
 * when the specifier names only one of them (containerd uses the host's).
 */
export function parsePlatform(specifier: string, defaults: Platform = { os: 'linux', architecture: 'amd64' }): Platform {
  if (specifier.includes('*')) {
    throw new PlatformError(`${JSON.stringify(specifier)}: wildcards not yet supported: invalid argument`);
  }
  const parts = specifier.split('/');
  for (const part of parts) {
    if (!COMPONENT.test(part)) {
      throw new PlatformError(
        `${JSON.stringify(part)} is an invalid component of ${JSON.stringify(specifier)}: platform specifier component must match "^[A-Za-z0-9_.-]+$": invalid argument`,
      );
    }
  }
  const withVariant = (p: { os: string; architecture: string; variant: string }): Platform =>
    p.variant ? { os: p.os, architecture: p.architecture, variant: p.variant } : { os: p.os, architecture: p.architecture };
  switch (parts.length) {
    case 1: {
      const os = normalizeOS(parts[0]);
      if (KNOWN_OS.has(os)) return { os, architecture: defaults.architecture, ...(defaults.variant ? { variant: defaults.variant } : {}) };
      const a = normalizeArch(parts[0], '');
      if (KNOWN_ARCH.has(a.architecture)) {
        return withVariant({ os: defaults.os, architecture: a.architecture, variant: a.architecture === 'arm' && a.variant === 'v7' ? '' : a.variant });
      }
      throw new PlatformError(`${JSON.stringify(specifier)}: unknown operating system or architecture: invalid argument`);
    }
    case 2: {
      const a = normalizeArch(parts[1], '');
      return withVariant({ os: normalizeOS(parts[0]), architecture: a.architecture, variant: a.architecture === 'arm' && a.variant === 'v7' ? '' : a.variant });
    }
    case 3: {
      const a = normalizeArch(parts[1], parts[2]);
      return withVariant({ os: normalizeOS(parts[0]), ...a });
    }
    default:
      throw new PlatformError(`${JSON.stringify(specifier)}: cannot parse platform specifier: invalid argument`);
  }
}

/** Normalize a platform (arm defaults to v7, arm64 drops v8, amd64 drops v1). */
export function normalizePlatform(p: Platform): Platform {
  const a = normalizeArch(p.architecture, p.variant ?? '');
  const out: Platform = { os: normalizeOS(p.os), architecture: a.architecture };
  if (a.variant) out.variant = a.variant;
  return out;
}

/** `os/arch[/variant]`. */
export function formatPlatform(p: Platform): string {
  return p.variant ? `${p.os}/${p.architecture}/${p.variant}` : `${p.os}/${p.architecture}`;
}

/** The host platform in OCI terms (for the default build/target platform). */
export function hostPlatform(nodePlatform: string, nodeArch: string): Platform {
  const archMap: Record<string, string> = { x64: 'amd64', ia32: '386', arm64: 'arm64', arm: 'arm', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64', loong64: 'loong64' };
  const osMap: Record<string, string> = { win32: 'windows', linux: 'linux', darwin: 'darwin', freebsd: 'freebsd' };
  return normalizePlatform({ os: osMap[nodePlatform] ?? nodePlatform, architecture: archMap[nodeArch] ?? nodeArch });
}
