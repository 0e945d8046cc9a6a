import { chooseSandbox, type HostProbe } from './index.js';

const ok = (detail: string) => ({ ok: true, detail });
const no = (detail: string, fix?: string) => ({ ok: false, detail, ...(fix ? { fix } : {}) });

function probe(overrides: Partial<HostProbe> = {}): HostProbe {
  return {
    root: true,
    uid: 0,
    gid: 0,
    userns: ok('root'),
    subids: ok('root'),
    overlay: ok('overlayfs mounts'),
    fuseOverlayfs: ok('fuse-overlayfs is installed'),
    copy: ok('copies the layers'),
    runtimes: { crun: ok('crun runs containers'), runc: ok('runc runs containers') },
    xattrTools: ok('getfattr'),
    runtime: 'crun',
    isolation: 'oci',
    snapshot: 'overlay',
    ...overrides,
  };
}

describe('chooseSandbox: the snapshot method', () => {
  it('takes kernel overlay when it mounts, silently', () => {
    const m = chooseSandbox(probe());
    expect([m.snapshot, m.reason]).toEqual(['overlay', undefined]);
  });

  it('falls back to the copy with a stat-based diff when neither overlay nor fuse-overlayfs works, and says why', () => {
    const m = chooseSandbox(probe({ overlay: no('overlayfs does not mount: unknown filesystem type'), fuseOverlayfs: no('fuse-overlayfs is not installed'), snapshot: 'copy' }));
    expect(m.snapshot).toBe('copy');
    expect(m.reason).toBe(
      'snapshot: copy (a copied tree with a stat-based diff, slower on big images), because overlayfs does not mount: unknown filesystem type; fuse-overlayfs is not installed',
    );
  });

  it('honours a forced method (--snapshotter), and refuses one that cannot work with its fix', () => {
    expect(chooseSandbox(probe(), 'auto', 'copy').snapshot).toBe('copy');
    expect(chooseSandbox(probe(), 'auto', 'fuse-overlayfs').snapshot).toBe('fuse-overlayfs');
    expect(chooseSandbox(probe(), 'auto', 'auto').snapshot).toBe('overlay');
    expect(() => chooseSandbox(probe({ overlay: no('overlayfs does not mount', 'modprobe overlay'), snapshot: 'copy' }), 'auto', 'overlay')).toThrow('snapshot overlay: overlayfs does not mount');
  });
});
