import { OcibuildError } from '../errors.js';

/** What the CLI talks to: injected so tests can run commands in-process. */
export interface CliIo {
  stdout: { write(chunk: string): unknown; isTTY?: boolean };
  stderr: { write(chunk: string): unknown; isTTY?: boolean };
  env: NodeJS.ProcessEnv;
  cwd: string;
  /** Reads all of stdin (for `-f -`). */
  readStdin(): Promise<string>;
  /**
   * Asks for a secret on the terminal without echoing it (`--creds USER`);
   * resolves undefined when stdin is not a terminal.
   */
  promptSecret?(prompt: string): Promise<string | undefined>;
}

/**
 * Read one line from a terminal in raw mode, echoing nothing; the prompt and
 * the final newline go to `out`. Ctrl-C and Ctrl-D cancel (a USAGE error).
 */
export function readSecretFromTty(input: NodeJS.ReadStream, out: { write(s: string): unknown }, prompt: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let value = '';
    const wasRaw = input.isRaw;
    input.setRawMode(true);
    input.resume();
    out.write(prompt);
    const done = (err?: Error) => {
      input.off('data', onData);
      input.setRawMode(wasRaw);
      input.pause();
      out.write('\n');
      if (err) reject(err);
      else resolve(value);
    };
    const onData = (chunk: Buffer) => {
      for (const ch of chunk.toString('utf8')) {
        if (ch === '\r' || ch === '\n') return done();
        if (ch === '\u0003' || ch === '\u0004') return done(new OcibuildError('USAGE', 'password prompt cancelled'));
        if (ch === '\u007f' || ch === '\b') value = [...value].slice(0, -1).join('');
        else if (ch >= ' ') value += ch;
      }
    };
    input.on('data', onData);
  });
}

/** The real process's streams, environment and working directory. */
export function processIo(): CliIo {
  return {
    stdout: process.stdout,
    stderr: process.stderr,
    env: process.env,
    cwd: process.cwd(),
    async readStdin() {
      const chunks: Buffer[] = [];
      for await (const c of process.stdin) chunks.push(c as Buffer);
      return Buffer.concat(chunks).toString('utf8');
    },
    async promptSecret(prompt: string) {
      if (!process.stdin.isTTY) return undefined;
      return readSecretFromTty(process.stdin, process.stderr, prompt);
    },
  };
}
