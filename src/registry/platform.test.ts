import { OcibuildError } from '../errors.js';
import type { Descriptor } from '../oci/types.js';
import { formatPlatform, hostPlatform, normalizePlatform, parsePlatform, platformMatches, selectPlatform } from './platform.js';

const d = (os: string, architecture: string, variant?: string, annotations?: Record<string, string>): Descriptor =>
  ({ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: `sha256:${(os + architecture + (variant ?? '')).padEnd(64, '0').slice(0, 64).replace(/[^a-f0-9]/g, 'a')}`, size: 1, platform: { os, architecture, ...(variant ? { variant } : {}) }, ...(annotations ? { annotations } : {}) }) as Descriptor;

describe('normalizePlatform (containerd rules)', () => {
  const rows: Array<[string, string, string | undefined, string]> = [
    ['linux', 'x86_64', undefined, 'linux/amd64'],
    ['Linux', 'AMD64', undefined, 'linux/amd64'],
    ['linux', 'aarch64', undefined, 'linux/arm64'],
    ['linux', 'arm64', 'v8', 'linux/arm64'],
    ['linux', 'arm64', '8', 'linux/arm64'],
    ['linux', 'armhf', undefined, 'linux/arm/v7'],
    ['linux', 'armel', undefined, 'linux/arm/v6'],
    ['linux', 'arm', undefined, 'linux/arm/v7'],
    ['linux', 'arm', '6', 'linux/arm/v6'],
    ['linux', 'i686', undefined, 'linux/386'],
    ['macos', 'arm64', undefined, 'darwin/arm64'],
    ['linux', 'riscv64', undefined, 'linux/riscv64'],
  ];
  for (const [os, arch, variant, want] of rows) {
    test(`${os}/${arch}/${variant ?? ''} -> ${want}`, () => {
      expect(formatPlatform(normalizePlatform({ os, architecture: arch, ...(variant ? { variant } : {}) }))).toBe(want);
    });
  }
  test('parsePlatform validates', () => {
    expect(parsePlatform('linux/arm/v7')).toEqual({ os: 'linux', architecture: 'arm', variant: 'v7' });
    // as `docker build --platform linux`: the host's architecture fills in
    expect(parsePlatform('linux', { os: 'linux', architecture: 'arm64' })).toEqual({ os: 'linux', architecture: 'arm64' });
    expect(() => parsePlatform('linux/')).toThrow(OcibuildError);
    expect(() => parsePlatform('linux/amd64/v1/x')).toThrow(OcibuildError);
  });
  test('hostPlatform maps node arch names', () => {
    expect(hostPlatform('x64')).toEqual({ os: 'linux', architecture: 'amd64' });
    expect(hostPlatform('arm')).toEqual({ os: 'linux', architecture: 'arm', variant: 'v7' });
  });
});

describe('selectPlatform', () => {
  const index = [
    d('linux', 'amd64'),
    d('linux', 'arm', 'v6'),
    d('linux', 'arm', 'v7'),
    d('linux', 'arm64', 'v8'),
    d('unknown', 'unknown', undefined, { 'vnd.docker.reference.type': 'attestation-manifest' }),
  ];
  test('exact variant wins', () => {
    expect(selectPlatform(index, { os: 'linux', architecture: 'arm', variant: 'v6' }, 'x').platform!.variant).toBe('v6');
  });
  test('arm64 matches arm64/v8', () => {
    expect(selectPlatform(index, { os: 'linux', architecture: 'aarch64' }, 'x').platform!.architecture).toBe('arm64');
    expect(platformMatches({ os: 'linux', architecture: 'arm64' }, { os: 'linux', architecture: 'arm64', variant: 'v8' })).toBe(true);
  });
  test('the error lists what the index offers, without attestations', () => {
    let err: OcibuildError | undefined;
    try {
      selectPlatform(index, { os: 'windows', architecture: 'amd64' }, 'docker.io/library/x:1');
    } catch (e) {
      err = e as OcibuildError;
    }
    expect(err?.code).toBe('PLATFORM_NOT_FOUND');
    expect(err?.message).toBe('docker.io/library/x:1 has no image for platform windows/amd64; it offers: linux/amd64, linux/arm/v6, linux/arm/v7, linux/arm64');
  });
});
