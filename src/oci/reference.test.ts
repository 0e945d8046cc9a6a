import { OcibuildError } from '../errors.js';
import {
  familiarString,
  formatReference,
  normalizeReference,
  normalizeRepositoryName,
  parseReference,
  referenceName,
  referenceTarget,
  withDigest,
  withTag,
} from './reference.js';

const F64 = 'f'.repeat(64);
const F128 = 'f'.repeat(128);

// Ported from distribution/reference reference_test.go TestReferenceParse.
// [input, error substring | null, repository name, domain, tag, digest]
const parseTable: Array<[string, string | null, string?, string?, string?, string?]> = [
  ['test_com', null, 'test_com', ''],
  ['test.com:tag', null, 'test.com', '', 'tag'],
  ['test.com:5000', null, 'test.com', '', '5000'],
  ['test.com/repo:tag', null, 'test.com/repo', 'test.com', 'tag'],
  ['test:5000/repo', null, 'test:5000/repo', 'test:5000'],
  ['test:5000/repo:tag', null, 'test:5000/repo', 'test:5000', 'tag'],
  [`test:5000/repo@sha256:${F64}`, null, 'test:5000/repo', 'test:5000', undefined, `sha256:${F64}`],
  [`test:5000/repo:tag@sha256:${F64}`, null, 'test:5000/repo', 'test:5000', 'tag', `sha256:${F64}`],
  ['', 'at least one component'],
  [':justtag', 'invalid reference format'],
  [`@sha256:${F64}`, 'invalid reference format'],
  ['repo@sha256:ffffffffffffffffffffffffffffffffff', 'invalid sha256 digest length'],
  [`validname@invaliddigest:${F64}`, 'unsupported digest algorithm'],
  ['Uppercase:tag', 'must be lowercase'],
  ['test:5000/Uppercase/lowercase:tag', 'must be lowercase'],
  ['lowercase:Uppercase', null, 'lowercase', '', 'Uppercase'],
  ['a/'.repeat(128) + 'a:tag', 'not be more than 255'],
  ['a/'.repeat(127) + 'a:tag-puts-this-over-max', null, 'a/'.repeat(127) + 'a', 'a', 'tag-puts-this-over-max'],
  ['aa/asdf$$^/aa', 'invalid reference format'],
  ['sub-dom1.foo.com/bar/baz/quux', null, 'sub-dom1.foo.com/bar/baz/quux', 'sub-dom1.foo.com'],
  ['sub-dom1.foo.com/bar/baz/quux:some-long-tag', null, 'sub-dom1.foo.com/bar/baz/quux', 'sub-dom1.foo.com', 'some-long-tag'],
  ['b.gcr.io/test.example.com/my-app:test.example.com', null, 'b.gcr.io/test.example.com/my-app', 'b.gcr.io', 'test.example.com'],
  ['xn--n3h.com/myimage:xn--n3h.com', null, 'xn--n3h.com/myimage', 'xn--n3h.com', 'xn--n3h.com'],
  [`xn--7o8h.com/myimage:xn--7o8h.com@sha512:${F128}`, null, 'xn--7o8h.com/myimage', 'xn--7o8h.com', 'xn--7o8h.com', `sha512:${F128}`],
  ['foo_bar.com:8080', null, 'foo_bar.com', '', '8080'],
  ['foo/foo_bar.com:8080', null, 'foo/foo_bar.com', 'foo', '8080'],
  ['192.168.1.1', null, '192.168.1.1', ''],
  ['192.168.1.1:tag', null, '192.168.1.1', '', 'tag'],
  ['192.168.1.1:5000', null, '192.168.1.1', '', '5000'],
  ['192.168.1.1/repo', null, '192.168.1.1/repo', '192.168.1.1'],
  ['192.168.1.1:5000/repo', null, '192.168.1.1:5000/repo', '192.168.1.1:5000'],
  ['192.168.1.1:5000/repo:5050', null, '192.168.1.1:5000/repo', '192.168.1.1:5000', '5050'],
  ['[2001:db8::1]', 'invalid reference format'],
  ['[2001:db8::1]:5000', 'invalid reference format'],
  ['[2001:db8::1]:tag', 'invalid reference format'],
  ['[2001:db8::1]/repo', null, '[2001:db8::1]/repo', '[2001:db8::1]'],
  ['[2001:db8:1:2:3:4:5:6]/repo:tag', null, '[2001:db8:1:2:3:4:5:6]/repo', '[2001:db8:1:2:3:4:5:6]', 'tag'],
  ['[2001:db8::1]:5000/repo', null, '[2001:db8::1]:5000/repo', '[2001:db8::1]:5000'],
  ['[2001:db8::1]:5000/repo:tag', null, '[2001:db8::1]:5000/repo', '[2001:db8::1]:5000', 'tag'],
  [`[2001:db8::1]:5000/repo@sha256:${F64}`, null, '[2001:db8::1]:5000/repo', '[2001:db8::1]:5000', undefined, `sha256:${F64}`],
  [`[2001:db8::1]:5000/repo:tag@sha256:${F64}`, null, '[2001:db8::1]:5000/repo', '[2001:db8::1]:5000', 'tag', `sha256:${F64}`],
  ['[2001:db8::]:5000/repo', null, '[2001:db8::]:5000/repo', '[2001:db8::]:5000'],
  ['[::1]:5000/repo', null, '[::1]:5000/repo', '[::1]:5000'],
  ['[fe80::1%eth0]:5000/repo', 'invalid reference format'],
  ['[fe80::1%@invalidzone]:5000/repo', 'invalid reference format'],
];

describe('parseReference (distribution/reference TestReferenceParse)', () => {
  for (const [input, err, repository, domain, tag, digest] of parseTable) test(`parse ${input}`, () => {
    if (err !== null) {
      let caught: unknown;
      try {
        parseReference(input);
      } catch (e) {
        caught = e;
      }
      expect(caught).toBeInstanceOf(OcibuildError);
      expect((caught as OcibuildError).code).toBe('REFERENCE_INVALID');
      expect((caught as OcibuildError).message).toContain(err);
      return;
    }
    const ref = parseReference(input);
    expect(formatReference(ref)).toBe(input);
    expect(referenceName(ref)).toBe(repository);
    expect(ref.domain).toBe(domain);
    expect(ref.tag).toBe(tag);
    expect(ref.digest).toBe(digest);
  });
});

// normalize_test.go TestValidateReferenceName + TestValidateRemoteName.
const validNames = [
  'docker/docker', 'library/debian', 'debian', 'docker.io/docker/docker', 'docker.io/library/debian',
  'docker.io/debian', 'index.docker.io/docker/docker', 'index.docker.io/library/debian', 'index.docker.io/debian',
  '127.0.0.1:5000/docker/docker', '127.0.0.1:5000/library/debian', '127.0.0.1:5000/debian', '192.168.0.1',
  '192.168.0.1:80', '192.168.0.1:8/debian', '192.168.0.2:25000/debian',
  'thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev', '[fc00::1]:5000/docker',
  '[fc00::1]:5000/docker/docker', '[fc00:1:2:3:4:5:6:7]:5000/library/debian',
  'docker.io/1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a', 'Docker/docker', 'DOCKER/docker',
  'docker-rules/docker', 'docker---rules/docker', 'doc/docker', 'd/docker', 'jess/t', 'dock__er/docker',
];
const invalidNames = [
  'https://github.com/docker/docker', 'docker/Docker', '-docker', '-docker/docker', '-docker.io/docker/docker',
  'docker///docker', 'docker.io/docker/Docker', 'docker.io/docker///docker', '[fc00::1]', '[fc00::1]:5000',
  'fc00::1:5000/debian', '[fe80::1%eth0]:5000/debian', '[2001:db8:3:4::192.0.2.33]:5000/debian',
  '1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a', 'docker-/docker', '-docker-/docker',
  '____/____', '_docker/_docker', 'dock..er/docker', 'dock_.er/docker', 'dock-.er/docker', 'docker/',
  'this_is_not_a_valid_namespace_because_its_lenth_is_greater_than_255_'.repeat(4) + '/docker',
];

describe('normalizeReference validity (normalize_test.go)', () => {
  for (const name of validNames) test(`valid ${name}`, () => {
    expect(() => normalizeReference(name)).not.toThrow();
  });
  for (const name of invalidNames) test(`invalid ${name}`, () => {
    expect(() => normalizeReference(name)).toThrow(OcibuildError);
  });
});

// TestParseRepositoryInfo: [remote path, familiar, full, ambiguous, domain]
const repoInfo: Array<[string, string, string, string, string]> = [
  ['fooo/bar', 'fooo/bar', 'docker.io/fooo/bar', 'index.docker.io/fooo/bar', 'docker.io'],
  ['library/ubuntu', 'ubuntu', 'docker.io/library/ubuntu', 'library/ubuntu', 'docker.io'],
  ['nonlibrary/ubuntu', 'nonlibrary/ubuntu', 'docker.io/nonlibrary/ubuntu', '', 'docker.io'],
  ['other/library', 'other/library', 'docker.io/other/library', '', 'docker.io'],
  ['private/moonbase', '127.0.0.1:8000/private/moonbase', '127.0.0.1:8000/private/moonbase', '', '127.0.0.1:8000'],
  ['privatebase', '127.0.0.1:8000/privatebase', '127.0.0.1:8000/privatebase', '', '127.0.0.1:8000'],
  ['private/moonbase', 'example.com/private/moonbase', 'example.com/private/moonbase', '', 'example.com'],
  ['privatebase', 'example.com/privatebase', 'example.com/privatebase', '', 'example.com'],
  ['private/moonbase', 'example.com:8000/private/moonbase', 'example.com:8000/private/moonbase', '', 'example.com:8000'],
  ['privatebasee', 'example.com:8000/privatebasee', 'example.com:8000/privatebasee', '', 'example.com:8000'],
  ['library/ubuntu-12.04-base', 'ubuntu-12.04-base', 'docker.io/library/ubuntu-12.04-base', 'index.docker.io/library/ubuntu-12.04-base', 'docker.io'],
  ['library/foo', 'foo', 'docker.io/library/foo', 'docker.io/foo', 'docker.io'],
  ['library/foo/bar', 'library/foo/bar', 'docker.io/library/foo/bar', '', 'docker.io'],
  ['store/foo/bar', 'store/foo/bar', 'docker.io/store/foo/bar', '', 'docker.io'],
  ['bar', 'Foo/bar', 'Foo/bar', '', 'Foo'],
  ['bar', 'FOO/bar', 'FOO/bar', '', 'FOO'],
];

describe('normalizeReference repository info (TestParseRepositoryInfo)', () => {
  const rows = repoInfo.flatMap(([remote, familiar, full, ambiguous, domain]) =>
    [familiar, full, ambiguous].filter((s) => s !== '').map((input) => [input, remote, familiar, full, domain] as const),
  );
  for (const [input, remote, familiar, full, domain] of rows) test(`info ${input}`, () => {
    const ref = normalizeReference(input, { defaultTag: false });
    expect(ref.path).toBe(remote);
    expect(ref.domain).toBe(domain);
    expect(referenceName(ref)).toBe(full);
    expect(familiarString(ref)).toBe(familiar);
  });
});

// TestNormalizedSplitHostname
const splitTable: Array<[string, string, string]> = [
  ['test.com/foo', 'test.com', 'foo'],
  ['test_com/foo', 'docker.io', 'test_com/foo'],
  ['docker/migrator', 'docker.io', 'docker/migrator'],
  ['test.com:8080/foo', 'test.com:8080', 'foo'],
  ['test-com:8080/foo', 'test-com:8080', 'foo'],
  ['foo', 'docker.io', 'library/foo'],
  ['xn--n3h.com/foo', 'xn--n3h.com', 'foo'],
  ['xn--n3h.com:18080/foo', 'xn--n3h.com:18080', 'foo'],
  ['docker.io/foo', 'docker.io', 'library/foo'],
  ['docker.io/library/foo', 'docker.io', 'library/foo'],
  ['docker.io/library/foo/bar', 'docker.io', 'library/foo/bar'],
  ['localhost/foo', 'localhost', 'foo'],
  ['localhost:5000/foo/bar', 'localhost:5000', 'foo/bar'],
];

describe('normalizeReference domain split (TestNormalizedSplitHostname)', () => {
  for (const [input, domain, path] of splitTable) test(`split ${input}`, () => {
    const ref = normalizeReference(input);
    expect(ref.domain).toBe(domain);
    expect(ref.path).toBe(path);
  });
});

describe('normalizeReference: tags and digests', () => {
  const D = 'sha256:86e0e091d0da6bde2456dbb48306f3956bbeb2eae1b5b9a43045843f69fe4aaa';
  test('busybox gets docker.io/library and :latest', () => {
    expect(formatReference(normalizeReference('busybox'))).toBe('docker.io/library/busybox:latest');
  });
  test('tag and digest together (TestParseReferenceWithTagAndDigest)', () => {
    const ref = normalizeReference(`busybox:latest@${D}`);
    expect(formatReference(ref)).toBe(`docker.io/library/busybox:latest@${D}`);
    expect(familiarString(ref)).toBe(`busybox:latest@${D}`);
    expect(referenceTarget(ref)).toBe(D);
  });
  test('digest only gets no default tag', () => {
    const ref = normalizeReference(`127.0.0.1:5000/a/b@${D}`);
    expect(ref.tag).toBeUndefined();
    expect(ref.digest).toBe(D);
    expect(ref.domain).toBe('127.0.0.1:5000');
    expect(ref.path).toBe('a/b');
  });
  test('64-hex identifiers are refused as names', () => {
    expect(() => normalizeReference('a'.repeat(64))).toThrow(/64-byte hexadecimal/);
  });
  test('upper-case repository says so', () => {
    expect(() => normalizeReference('docker.io/Foo/bar')).toThrow(/must be lowercase/);
  });
  test('withTag validates', () => {
    const ref = normalizeReference('busybox');
    expect(() => withTag(ref, '-foo')).toThrow(OcibuildError);
    expect(formatReference(withTag(ref, 'v1'))).toBe('docker.io/library/busybox:v1');
  });
  test('withDigest validates', () => {
    const ref = normalizeReference('busybox');
    expect(() => withDigest(ref, 'foo')).toThrow(OcibuildError);
    expect(withDigest(ref, D).digest).toBe(D);
  });
  test('repository names for mounts', () => {
    expect(normalizeRepositoryName('busybox')).toBe('docker.io/library/busybox');
    expect(() => normalizeRepositoryName('busybox:1')).toThrow(/cannot have a tag/);
  });
});
