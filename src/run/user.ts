/**
 * USER resolution as runc's `user.GetExecUser` does it (BuildKit uses it):
 * `name`, `uid`, `name:group`, `uid:gid`, looked up in the image's
 * /etc/passwd and /etc/group. A numeric user missing from passwd runs as
 * that uid with gid 0; a named one must exist. Supplementary groups are the
 * primary group first, then the groups listing the user by name (those only
 * when no group is given), as containerd's ensureAdditionalGids does. Pure.
 */
import { OcibuildError } from '../errors.js';

/** The identity a RUN process runs as. */
export interface ProcessUser {
  uid: number;
  gid: number;
  additionalGids: number[];
  /** HOME from passwd (default `/`), for an Env without HOME. */
  home: string;
}

interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  home: string;
}
interface GroupEntry {
  name: string;
  gid: number;
  members: string[];
}

const NUMERIC = /^[0-9]+$/;

function parsePasswd(text: string): PasswdEntry[] {
  const out: PasswdEntry[] = [];
  for (const line of text.split('\n')) {
    const t = line.trim();
    if (!t || t.startsWith('#')) continue;
    const f = t.split(':');
    if (f.length < 4 || !NUMERIC.test(f[2]!) || !NUMERIC.test(f[3]!)) continue;
    out.push({ name: f[0]!, uid: Number(f[2]), gid: Number(f[3]), home: f[5] ?? '' });
  }
  return out;
}

function parseGroup(text: string): GroupEntry[] {
  const out: GroupEntry[] = [];
  for (const line of text.split('\n')) {
    const t = line.trim();
    if (!t || t.startsWith('#')) continue;
    const f = t.split(':');
    if (f.length < 3 || !NUMERIC.test(f[2]!)) continue;
    out.push({ name: f[0]!, gid: Number(f[2]), members: (f[3] ?? '').split(',').filter(Boolean) });
  }
  return out;
}

function id(text: string, what: string, spec: string): number {
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < 0 || n > 0xfffffffe) {
    throw new OcibuildError('DOCKERFILE_INSTRUCTION', `USER ${spec}: ${what} ${text} is out of range`);
  }
  return n;
}

/**
 * Resolves USER `spec` (empty = root) against the image's passwd and group
 * files (undefined when the image has none).
 */
export function resolveUser(spec: string | undefined, passwd: string | undefined, group: string | undefined): ProcessUser {
  const s = spec ?? '';
  if (s === '') {
    const root = parsePasswd(passwd ?? '').find((p) => p.uid === 0);
    return { uid: 0, gid: 0, additionalGids: [0], home: root?.home || '/root' };
  }
  const colon = s.indexOf(':');
  const userArg = colon < 0 ? s : s.slice(0, colon);
  const groupArg = colon < 0 ? '' : s.slice(colon + 1);
  const users = parsePasswd(passwd ?? '');
  let uid: number;
  let gid = 0;
  let home = '/';
  let name: string | undefined;
  const byName = users.find((u) => u.name === userArg);
  const byId = NUMERIC.test(userArg) ? users.find((u) => u.uid === Number(userArg)) : undefined;
  const matched = byName ?? byId;
  if (matched) {
    uid = matched.uid;
    gid = matched.gid;
    home = matched.home || '/';
    name = matched.name;
  } else if (NUMERIC.test(userArg)) {
    uid = id(userArg, 'uid', s);
  } else {
    throw new OcibuildError('DOCKERFILE_INSTRUCTION', `unable to find user ${userArg}: no matching entries in passwd file`);
  }
  const groups = parseGroup(group ?? '');
  const additionalGids: number[] = [];
  if (groupArg !== '') {
    const g = groups.find((e) => e.name === groupArg) ?? (NUMERIC.test(groupArg) ? groups.find((e) => e.gid === Number(groupArg)) : undefined);
    if (g) gid = g.gid;
    else if (NUMERIC.test(groupArg)) gid = id(groupArg, 'gid', s);
    else throw new OcibuildError('DOCKERFILE_INSTRUCTION', `unable to find group ${groupArg}: no matching entries in group file`);
  } else if (name !== undefined) {
    for (const g of groups) if (g.members.includes(name) && !additionalGids.includes(g.gid)) additionalGids.push(g.gid);
  }
  // The primary group is a supplementary group too (containerd's ensureAdditionalGids, as docker run shows).
  return { uid, gid, additionalGids: [gid, ...additionalGids.filter((g) => g !== gid)], home };
}
