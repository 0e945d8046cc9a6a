/**
 * Platforms (`linux/arm64/v8`) parsed, normalized and printed as containerd's
 * `platforms` package does it. The one place these rules live: the compiler
 * (`FROM --platform`, TARGETPLATFORM), images (index selection) and the
 * registry client (pull) all use it.
 */
import { OcibuildError } from '../errors.js';
import type { Platform } from './types.js';

/** A platform specifier that does not parse; `message` is containerd's text. */
export class PlatformError extends OcibuildError {
  constructor(message: string) {
    super('USAGE', message, { hint: 'a platform is os/arch[/variant], for example linux/amd64 or linux/arm64/v8' });
    this.name = 'PlatformError';
  }
}

const COMPONENT = /^[A-Za-z0-9_.-]+$/;

/** Operating systems Go knows; a one-part specifier naming one of these is an OS. */
const KNOWN_OS = new Set([
  'aix', 'android', 'darwin', 'dragonfly', 'freebsd', 'hurd', 'illumos', 'ios', 'js', 'linux', 'nacl',
  'netbsd', 'openbsd', 'plan9', 'solaris', 'wasip1', 'windows', 'zos',
]);

/** Architectures Go knows; a one-part specifier naming one of these is an architecture. */
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
  const a = arch.toLowerCase();
  const v = variant.toLowerCase();
  switch (a) {
    case 'i386':
    case 'i486':
    case 'i586':
    case 'i686':
      return { architecture: '386', variant: '' };
    case 'x86_64':
    case 'x86-64':
    case 'amd64':
      return { architecture: 'amd64', variant: v === 'v1' ? '' : v };
    case 'aarch64':
    case 'arm64':
      if (v === '8' || v === 'v8' || v === 'v8.0') return { architecture: 'arm64', variant: '' };
      if (v === '9' || v === '9.0' || v === 'v9.0') return { architecture: 'arm64', variant: 'v9' };
      return { architecture: 'arm64', variant: v };
    case 'armhf':
      return { architecture: 'arm', variant: 'v7' };
    case 'armel':
      return { architecture: 'arm', variant: 'v6' };
    case 'arm':
      if (v === '' || v === '7') return { architecture: 'arm', variant: 'v7' };
      if (v === '5' || v === '6' || v === '8') return { architecture: 'arm', variant: `v${v}` };
      return { architecture: 'arm', variant: v };
    default:
      return { architecture: a, variant: v };
  }
}

/**
 * Normalize as containerd's `platforms.Normalize`: lower case, `macos` →
 * `darwin`, `x86_64` → `amd64` (`v1` dropped), `i386`..`i686` → `386`,
 * `aarch64` → `arm64` (`v8` dropped), `armhf` → `arm/v7`, `armel` →
 * `arm/v6`, `arm` defaults to `v7`. Returns a new object.
 */
export function normalizePlatform(p: Platform): Platform {
  const a = normalizeArch(p.architecture, p.variant ?? '');
  const out: Platform = { os: normalizeOS(p.os), architecture: a.architecture };
  if (a.variant) out.variant = a.variant;
  if (p['os.version']) out['os.version'] = p['os.version'];
  if (p['os.features'] && p['os.features'].length > 0) out['os.features'] = [...p['os.features']];
  return out;
}

/** `os/arch[/variant]`. */
export function formatPlatform(p: Platform): string {
  return p.variant ? `${p.os}/${p.architecture}/${p.variant}` : `${p.os}/${p.architecture}`;
}

/**
 * The platform a host runs, in OCI terms, from Node's `process.platform`
 * and `process.arch` names. Containers are Linux images, so `os` defaults to
 * `linux` whatever Node runs on.
 */
export function hostPlatform(nodeArch: string = process.arch, nodePlatform = 'linux'): Platform {
  const archMap: Record<string, { architecture: string; variant?: string }> = {
    x64: { architecture: 'amd64' },
    ia32: { architecture: '386' },
    arm64: { architecture: 'arm64' },
    arm: { architecture: 'arm', variant: 'v7' },
    ppc64: { architecture: 'ppc64le' },
    s390x: { architecture: 's390x' },
    riscv64: { architecture: 'riscv64' },
    loong64: { architecture: 'loong64' },
  };
  const osMap: Record<string, string> = { win32: 'windows', linux: 'linux', darwin: 'darwin', freebsd: 'freebsd' };
  return normalizePlatform({ os: osMap[nodePlatform] ?? nodePlatform, ...(archMap[nodeArch] ?? { architecture: nodeArch }) });
}

/**
 * Parse `os[/arch[/variant]]` or a bare `arch`, as containerd's
 * `platforms.Parse` (and so `docker build --platform`): missing parts come
 * from `defaults` (the host's). Throws PlatformError with containerd's text.
 */
export function parsePlatform(specifier: string, defaults: Platform = hostPlatform()): Platform {
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
      const os = normalizeOS(parts[0]!);
      if (KNOWN_OS.has(os)) return { os, architecture: defaults.architecture, ...(defaults.variant ? { variant: defaults.variant } : {}) };
      const a = normalizeArch(parts[0]!, '');
      if (KNOWN_ARCH.has(a.architecture)) {
        return withVariant({ os: defaults.os, architecture: a.architecture, variant: a.architecture === 'arm' && a.variant === 'v7' ? '' : a.variant });
      }
      throw new PlatformError(`${JSON.stringify(specifier)}: unknown operating system or architecture: invalid argument`);
    }
    case 2: {
      const a = normalizeArch(parts[1]!, '');
      return withVariant({ os: normalizeOS(parts[0]!), architecture: a.architecture, variant: a.architecture === 'arm' && a.variant === 'v7' ? '' : a.variant });
    }
    case 3: {
      const a = normalizeArch(parts[1]!, parts[2]!);
      return withVariant({ os: normalizeOS(parts[0]!), ...a });
    }
    default:
      throw new PlatformError(`${JSON.stringify(specifier)}: cannot parse platform specifier: invalid argument`);
  }
}
