/**
 * `--chown` resolution as BuildKit does it: numeric ids are used as they are
 * (a lone numeric user also sets the group to the same number; `root` is
 * taken as 0 without a lookup, as llb does); names are
 * looked up in the destination image's /etc/passwd and /etc/group; a lone
 * user name takes that user's primary group.
 */
import { OcibuildError } from '../errors.js';

/** The `--chown` flag, split at the first ':' (both parts already variable-expanded). */
export interface ChownSpec {
  user: string;
  group?: string;
}

/** Numeric owner applied to copied entries. */
export interface Owner {
  uid: number;
  gid: number;
}

/** Reads a file of the destination image's filesystem; undefined when it does not exist. */
export type LookupFile = (path: string) => Promise<Uint8Array | undefined>;

const MAX_ID = 0xffffffff;

/** A numeric id; `root` counts as 0 without any lookup (llb parseUID). */
function parseId(s: string): number | undefined {
  if (s === 'root') return 0;
  if (!/^[0-9]+$/.test(s)) return undefined;
  const n = Number(s);
  return Number.isSafeInteger(n) && n <= MAX_ID ? n : undefined;
}

/** Split a written `--chown` value (`user`, `user:group`) into a ChownSpec. */
export function splitChown(value: string): ChownSpec {
  const i = value.indexOf(':');
  return i < 0 ? { user: value } : { user: value.slice(0, i), group: value.slice(i + 1) };
}

interface DbLine {
  name: string;
  fields: string[];
}

function parseDb(data: Uint8Array): DbLine[] {
  const out: DbLine[] = [];
  for (const raw of Buffer.from(data).toString('utf8').split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const fields = line.split(':');
    out.push({ name: fields[0]!, fields });
  }
  return out;
}

/**
 * Resolve a `--chown` to numeric ids. `lookupFile` is only called when a name
 * must be resolved. Unknown names fail like BuildKit (`unable to find user
 * foo`), with the file that was searched.
 */
export async function resolveChown(spec: ChownSpec, lookupFile: LookupFile | undefined): Promise<Owner> {
  if (spec.user === '' && (spec.group === undefined || spec.group === '')) {
    return { uid: 0, gid: 0 };
  }
  let uid: number;
  let gid: number;
  const userId = parseId(spec.user);
  if (spec.user === '') {
    uid = 0;
    gid = 0;
  } else if (userId !== undefined) {
    uid = userId;
    gid = userId;
  } else {
    if (/^[0-9]+$/.test(spec.user)) {
      throw new OcibuildError('DOCKERFILE_INSTRUCTION', `--chown: user id ${spec.user} is out of range (0 to ${MAX_ID})`);
    }
    const db = await readDb('/etc/passwd', lookupFile, `unable to find user ${spec.user}`);
    const hit = db.find((l) => l.name === spec.user);
    if (!hit) {
      throw new OcibuildError('DOCKERFILE_INSTRUCTION', `unable to find user ${spec.user}: no such user in /etc/passwd of the destination image`);
    }
    const u = parseId(hit.fields[2] ?? '');
    const g = parseId(hit.fields[3] ?? '');
    if (u === undefined || g === undefined) {
      throw new OcibuildError('DOCKERFILE_INSTRUCTION', `unable to find user ${spec.user}: malformed /etc/passwd line ${JSON.stringify(hit.fields.join(':'))}`);
    }
    uid = u;
    gid = g;
  }
  if (spec.group !== undefined && spec.group !== '') {
    const groupId = parseId(spec.group);
    if (groupId !== undefined) {
      gid = groupId;
    } else {
      if (/^[0-9]+$/.test(spec.group)) {
        throw new OcibuildError('DOCKERFILE_INSTRUCTION', `--chown: group id ${spec.group} is out of range (0 to ${MAX_ID})`);
      }
      const db = await readDb('/etc/group', lookupFile, `unable to find group ${spec.group}`);
      const hit = db.find((l) => l.name === spec.group);
      if (!hit) {
        throw new OcibuildError('DOCKERFILE_INSTRUCTION', `unable to find group ${spec.group}: no such group in /etc/group of the destination image`);
      }
      const g = parseId(hit.fields[2] ?? '');
      if (g === undefined) {
        throw new OcibuildError('DOCKERFILE_INSTRUCTION', `unable to find group ${spec.group}: malformed /etc/group line ${JSON.stringify(hit.fields.join(':'))}`);
      }
      gid = g;
    }
  }
  return { uid, gid };
}

async function readDb(path: string, lookupFile: LookupFile | undefined, what: string): Promise<DbLine[]> {
  const data = lookupFile ? await lookupFile(path) : undefined;
  if (data === undefined) {
    throw new OcibuildError('DOCKERFILE_INSTRUCTION', `${what}: the destination image has no ${path}`, {
      hint: 'use numeric ids (--chown=1000:1000) when the image has no user database',
    });
  }
  return parseDb(data);
}

/** True when resolving `spec` needs the image's user database (a name other than `root`). */
export function chownNeedsLookup(spec: ChownSpec): boolean {
  const named = (v: string | undefined) => v !== undefined && v !== '' && parseId(v) === undefined && !/^[0-9]+$/.test(v);
  return named(spec.user) || named(spec.group);
}
