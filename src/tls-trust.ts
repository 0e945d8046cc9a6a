/**
 * The certificates this process's TLS clients trust when Node did not load NODE_EXTRA_CA_CERTS
 * itself (issue 8: start-up).
 *
 * Node 20 parses that file, with its ~140 bundled roots, before any JavaScript runs: ~40 ms
 * of every command, though most make no TLS connection. So `bin/ocibuild`, run as a command,
 * starts node without the variable (when NODE_OPTIONS is unset), puts it back in
 * `process.env` for child processes and marks the process with {@link UNLOADED_EXTRA_CA}. Each
 * TLS client of ours (the registry client, ADD <url>) then takes {@link processSecureContext}:
 * Node's default roots (bundled, or OpenSSL's store under --use-openssl-ca) plus that file's
 * certificates, as Node would have had them, loaded at the first TLS connection. A process not
 * started that way (the library, `node bin/ocibuild`) is not marked: Node's defaults already
 * hold the file, and this returns undefined.
 */
import { readFile } from 'node:fs/promises';
import type { SecureContext } from 'node:tls';

/** Set on `process` by bin/ocibuild to the NODE_EXTRA_CA_CERTS file that Node did not load at start. */
export const UNLOADED_EXTRA_CA: unique symbol = Symbol.for('ocibuild.unloadedExtraCaCerts') as never;

let loaded: { file: string; context: Promise<SecureContext | undefined> } | undefined;

/** The file Node left to us, when bin/ocibuild started it so. */
export function unloadedExtraCaFile(): string | undefined {
  const file = (process as unknown as Record<symbol, unknown>)[UNLOADED_EXTRA_CA];
  return typeof file === 'string' && file !== '' ? file : undefined;
}

/**
 * The secure context for a TLS client of this process that trusts no CA list of its own:
 * undefined when Node's default store already is what it should be, else Node's default roots
 * with the NODE_EXTRA_CA_CERTS file's certificates added (made once per process). A file that
 * cannot be read is warned about and ignored, as Node does at start-up.
 */
export function processSecureContext(): Promise<SecureContext | undefined> {
  const file = unloadedExtraCaFile();
  if (file === undefined) return Promise.resolve(undefined);
  if (loaded?.file !== file) loaded = { file, context: withExtraCerts(file) };
  return loaded.context;
}

async function withExtraCerts(file: string): Promise<SecureContext | undefined> {
  let pem: string;
  try {
    pem = await readFile(file, 'utf8');
  } catch (e) {
    process.emitWarning(`Ignoring extra certs from \`${file}\`, load failed: ${(e as Error).message}`);
    return undefined;
  }
  const tls = await import('node:tls');
  // A context made without `ca` holds Node's shared root store; adding a certificate to it
  // gives the context a copy of the default roots with the certificate added (Node's
  // SecureContext::AddCACert), which is what NODE_EXTRA_CA_CERTS makes of the shared store.
  // `ca` itself would replace the defaults, so it is only the fallback, with the bundled roots.
  const context = tls.createSecureContext();
  const native = (context as unknown as { context?: { addCACert?: (pem: string) => void } }).context;
  if (typeof native?.addCACert === 'function') {
    native.addCACert(pem);
    return context;
  }
  return tls.createSecureContext({ ca: [...tls.rootCertificates, pem] });
}
