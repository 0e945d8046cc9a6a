import { jest } from '@jest/globals';
import tls from 'node:tls';
import { processSecureContext, UNLOADED_EXTRA_CA, unloadedExtraCaFile } from './tls-trust.js';

const marks = process as unknown as Record<symbol, unknown>;
afterEach(() => {
  delete marks[UNLOADED_EXTRA_CA];
  jest.restoreAllMocks();
});

test('a process bin/ocibuild did not mark keeps Node defaults: no context of ours', async () => {
  expect(unloadedExtraCaFile()).toBeUndefined();
  await expect(processSecureContext()).resolves.toBeUndefined();
});

test('a file that cannot be read is warned about and ignored, as Node does at start-up', async () => {
  marks[UNLOADED_EXTRA_CA] = '/nonexistent/tls-trust-test.pem';
  const warn = jest.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
  await expect(processSecureContext()).resolves.toBeUndefined();
  expect(String(warn.mock.calls[0]?.[0])).toMatch(/^Ignoring extra certs from `\/nonexistent\/tls-trust-test\.pem`, load failed: /);
});

test('this Node adds certificates to a copy of its default roots (the path that keeps the defaults, not the bundled-roots fallback)', () => {
  const context = tls.createSecureContext() as unknown as { context?: { addCACert?: unknown } };
  expect(typeof context.context?.addCACert).toBe('function');
});
