/** One `WWW-Authenticate` challenge: scheme (lower-cased) and its parameters. */
export interface AuthChallenge {
  scheme: string;
  params: Record<string, string>;
}

/**
 * Parse a `WWW-Authenticate` header value (RFC 7235): one or more challenges,
 * each a scheme followed by comma-separated `key=value` or `key="quoted"`
 * parameters (backslash escapes inside quotes).
 */
export function parseWwwAuthenticate(header: string): AuthChallenge[] {
  const out: AuthChallenge[] = [];
  let i = 0;
  const n = header.length;
  const skipWs = () => {
    while (i < n && (header[i] === ' ' || header[i] === '\t')) i++;
  };
  const token = () => {
    const start = i;
    while (i < n && /[!#$%&'*+\-.^_`|~0-9A-Za-z]/.test(header[i]!)) i++;
    return header.slice(start, i);
  };
  let current: AuthChallenge | undefined;
  while (i < n) {
    skipWs();
    if (header[i] === ',') {
      i++;
      continue;
    }
    const word = token();
    if (!word) {
      i++;
      continue;
    }
    skipWs();
    if (header[i] === '=') {
      // A parameter of the current challenge (or token68 padding).
      i++;
      skipWs();
      let value = '';
      if (header[i] === '"') {
        i++;
        while (i < n && header[i] !== '"') {
          if (header[i] === '\\' && i + 1 < n) i++;
          value += header[i];
          i++;
        }
        i++;
      } else {
        const vs = i;
        while (i < n && header[i] !== ',' && header[i] !== ' ') i++;
        value = header.slice(vs, i);
      }
      if (current) current.params[word.toLowerCase()] = value;
      continue;
    }
    current = { scheme: word.toLowerCase(), params: {} };
    out.push(current);
  }
  return out;
}

/** A `repository:<name>:<actions>` scope, as the token protocol spells it. */
export interface RepositoryScope {
  repository: string;
  actions: Array<'pull' | 'push' | 'delete' | '*'>;
}

/** Scopes in their wire form, merged by repository, sorted (stable cache keys). */
export function formatScopes(scopes: RepositoryScope[]): string[] {
  const byRepo = new Map<string, Set<string>>();
  for (const s of scopes) {
    const set = byRepo.get(s.repository) ?? new Set<string>();
    for (const a of s.actions) set.add(a);
    byRepo.set(s.repository, set);
  }
  const order = ['pull', 'push', 'delete', '*'];
  return [...byRepo.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([repo, set]) => `repository:${repo}:${[...set].sort((x, y) => order.indexOf(x) - order.indexOf(y)).join(',')}`);
}

/** A cached bearer token. */
export interface CachedToken {
  token: string;
  /** Epoch milliseconds after which the token is not used any more. */
  expiresAt: number;
}

/**
 * Compute when a token stops being usable: `expires_in` seconds (default 60,
 * as the token spec says) from `issued_at` (or now), minus a safety margin.
 */
export function tokenExpiry(now: number, expiresIn: unknown, issuedAt: unknown): number {
  const seconds = typeof expiresIn === 'number' && expiresIn > 0 ? expiresIn : 60;
  let start = now;
  if (typeof issuedAt === 'string') {
    const t = Date.parse(issuedAt);
    if (!Number.isNaN(t) && t <= now) start = t;
  }
  const margin = Math.min(10_000, (seconds * 1000) / 10);
  return start + seconds * 1000 - margin;
}
