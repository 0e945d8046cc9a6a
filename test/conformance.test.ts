/** Missing conformance tables: one line and a skip, or a failure with CI=true (issue 9). */
import path from 'node:path';
import { jest } from '@jest/globals';
import { CONFORMANCE_ROOT, conformancePath, missingConformanceMessage } from './conformance.js';

describe('conformance tables', () => {
  it('finds a table that exists', () => {
    expect(conformancePath('README.md', {})).toBe(path.join(CONFORMANCE_ROOT, 'README.md'));
  });

  it('a missing table: undefined and one line naming the path without CI, a failure with CI=true', () => {
    const write = jest.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      expect(conformancePath('no-such-table', {})).toBeUndefined();
      expect(conformancePath('no-such-table', {})).toBeUndefined();
      expect(write).toHaveBeenCalledTimes(1);
      expect(String(write.mock.calls[0]![0])).toBe(missingConformanceMessage(path.join(CONFORMANCE_ROOT, 'no-such-table')) + '\n');
    } finally {
      write.mockRestore();
    }
    expect(() => conformancePath('no-such-table', { CI: 'true' })).toThrow(/conformance table .*no-such-table is missing: put the shared conformance tables at /);
  });
});
