import { createHash } from 'node:crypto';
import { lstat, readdir, readFile, readlink } from 'node:fs/promises';
import path from 'node:path';
import type { Store } from '../src/cache/store.js';
import { readImage } from '../src/image/read.js';
import { readLayer } from '../src/layers/index.js';
import type { Descriptor } from '../src/oci/types.js';

function modeString(type: string, mode: number): string {
  const t = { directory: 'd', symlink: 'l', hardlink: 'h', char: 'c', block: 'b', fifo: 'p' }[type] ?? '-';
  const bits = 'rwxrwxrwx'.split('').map((c, i) => (mode & (1 << (8 - i)) ? c : '-'));
  if (mode & 0o4000) bits[2] = bits[2] === 'x' ? 's' : 'S';
  if (mode & 0o2000) bits[5] = bits[5] === 'x' ? 's' : 'S';
  if (mode & 0o1000) bits[8] = bits[8] === 'x' ? 't' : 'T';
  return t + bits.join('');
}

/**
 * A readable, exact description of an image in the store: manifest digest,
 * config (as JSON), and every layer's entries (mode, owner, size, content
 * digest, link target, mtime) in tar order. Golden files hold this text.
 */
export async function describeImage(store: Store, descriptor: Descriptor): Promise<string> {
  const img = await readImage(store, descriptor);
  const lines: string[] = [];
  lines.push(`manifest ${img.descriptor.digest}`);
  lines.push(`config ${img.manifest.config.digest}`);
  lines.push(JSON.stringify(img.config, null, 2));
  for (const [i, layer] of img.manifest.layers.entries()) {
    lines.push(`layer ${i} ${layer.mediaType} ${layer.digest} diffId ${img.config.rootfs.diff_ids[i]}`);
    for await (const { header: h, body } of readLayer(await store.open(layer.digest, layer.size))) {
      let extra = '';
      if (h.type === 'file') {
        const hash = createHash('sha256');
        for await (const c of body) hash.update(c);
        extra = ` ${h.size} sha256:${hash.digest('hex').slice(0, 16)}`;
      } else body.resume();
      if (h.linkname) extra += ` -> ${h.linkname}`;
      const x = Object.keys(h.xattrs).length > 0 ? ` xattrs=${Object.keys(h.xattrs).sort().join(',')}` : '';
      lines.push(`  ${modeString(h.type, h.mode)} ${h.uid}:${h.gid} ${h.uname || '-'}:${h.gname || '-'} mtime=${h.mtime} ${h.path}${extra}${x}`);
    }
  }
  return lines.join('\n') + '\n';
}

/** One line per path of a directory tree, sorted: mode, owner, and a link target or a content digest. */
export async function listTree(root: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (dir: string, rel: string): Promise<void> => {
    for (const name of (await readdir(dir)).sort()) {
      const p = path.join(dir, name);
      const r = rel ? `${rel}/${name}` : name;
      const st = await lstat(p);
      let what: string;
      if (st.isSymbolicLink()) what = `link -> ${await readlink(p)}`;
      else if (st.isDirectory()) what = 'dir';
      else what = `file ${createHash('sha256').update(await readFile(p)).digest('hex').slice(0, 16)}`;
      out.push(`${r} ${(st.mode & 0o7777).toString(8)} ${st.uid}:${st.gid} ${what}`);
      if (st.isDirectory()) await walk(p, r);
    }
  };
  await walk(root, '');
  return out;
}
