import { formatPlatform, hostPlatform, normalizePlatform } from '../oci/platform.js';
import type { Platform } from '../oci/types.js';

export { normalizePlatform, formatPlatform, parsePlatform, PlatformError } from '../oci/platform.js';

/**
 * The platform images are built for by default: `linux` on the host's
 * architecture (from `process.arch` unless `arch`, a Node arch name, is given).
 */
export function defaultPlatform(arch: string = process.arch): Platform {
  return hostPlatform(arch);
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
    const k = formatPlatform(normalizePlatform(q));
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

/** True when both platforms are the same after normalization (os, architecture, variant). */
export function platformEquals(a: Platform, b: Platform): boolean {
  return formatPlatform(normalizePlatform(a)) === formatPlatform(normalizePlatform(b));
}

/**
 * Rank of `candidate` for a host of platform `want`: 0 is an exact match, higher
 * is a worse but still runnable match, -1 means it cannot run.
 */
export function platformRank(want: Platform, candidate: Platform): number {
  const key = formatPlatform(normalizePlatform(candidate));
  return compatiblePlatforms(want).findIndex((p) => formatPlatform(p) === key);
}
