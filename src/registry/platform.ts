import { OcibuildError } from '../errors.js';
import type { Descriptor, Platform } from '../oci/types.js';

/**
 * Normalise a platform as containerd's `platforms.Normalize`: lower-case OS,
 * architecture aliases (`x86_64` → `amd64`, `aarch64` → `arm64`,
 * `armhf` → `arm/v7`, `i686` → `386`...) and variant spelling (`arm64/v8` →
 * `arm64`, `arm` defaults to `v7`, `8` → `v8`).
 */
export function normalizePlatform(p: Platform): Platform {
  const os = p.os.toLowerCase() === 'macos' ? 'darwin' : p.os.toLowerCase();
  let arch = p.architecture.toLowerCase();
  let variant = p.variant?.toLowerCase() ?? '';
  switch (arch) {
    case 'i386':
    case 'i486':
    case 'i586':
    case 'i686':
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
    default:
      break;
  }
  const out: Platform = { os, architecture: arch };
  if (variant) out.variant = variant;
  if (p['os.version']) out['os.version'] = p['os.version'];
  return out;
}

/** `os/arch[/variant]`. */
export function formatPlatform(p: Platform): string {
  return `${p.os}/${p.architecture}${p.variant ? `/${p.variant}` : ''}`;
}

/** Parse `os/arch[/variant]` (as `--platform`), normalised. */
export function parsePlatform(text: string): Platform {
  const parts = text.split('/');
  if (parts.length < 2 || parts.length > 3 || parts.some((s) => !s || !/^[A-Za-z0-9_.-]+$/.test(s))) {
    throw new OcibuildError('USAGE', `invalid platform ${JSON.stringify(text)}: expected os/arch[/variant]`);
  }
  return normalizePlatform({ os: parts[0]!, architecture: parts[1]!, ...(parts[2] ? { variant: parts[2] } : {}) });
}

/** The platform of this process (linux/<arch>), normalised. */
export function hostPlatform(arch: string = process.arch): Platform {
  const map: Record<string, string> = { x64: 'amd64', ia32: '386', arm64: 'arm64', arm: 'arm', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64' };
  return normalizePlatform({ os: 'linux', architecture: map[arch] ?? arch });
}

/**
 * Does `candidate` serve `wanted`? OS and architecture must match after
 * normalisation; a wanted variant must match, and no wanted variant accepts
 * any variant.
 */
export function platformMatches(wanted: Platform, candidate: Platform): boolean {
  const w = normalizePlatform(wanted);
  const c = normalizePlatform(candidate);
  if (w.os !== c.os || w.architecture !== c.architecture) return false;
  if (w.variant && w.variant !== (c.variant ?? '')) return false;
  return true;
}

/**
 * Pick the index entry for `wanted`: exact variant first, then any match.
 * Entries without a platform and attestation manifests
 * (`vnd.docker.reference.type`) are skipped. Throws PLATFORM_NOT_FOUND
 * listing what the index offers.
 */
export function selectPlatform(manifests: Descriptor[], wanted: Platform, what: string): Descriptor {
  const candidates = manifests.filter(
    (d) => d.platform && d.annotations?.['vnd.docker.reference.type'] !== 'attestation-manifest' && d.platform.os !== 'unknown',
  );
  const w = normalizePlatform(wanted);
  const matching = candidates.filter((d) => platformMatches(w, d.platform!));
  const exact = matching.find((d) => (normalizePlatform(d.platform!).variant ?? '') === (w.variant ?? ''));
  const pick = exact ?? matching[0];
  if (pick) return pick;
  const offered = candidates.map((d) => formatPlatform(normalizePlatform(d.platform!)));
  throw new OcibuildError(
    'PLATFORM_NOT_FOUND',
    `${what} has no image for platform ${formatPlatform(w)}; it offers: ${offered.length ? offered.join(', ') : 'no platforms'}`,
    { details: { wanted: formatPlatform(w), offered } },
  );
}
