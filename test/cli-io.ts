import type { CliIo } from '../src/cli/io.js';
import { main } from '../src/cli/main.js';

/** Runs the CLI in-process and captures what it prints. */
export async function runCli(argv: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv; stdin?: string } = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const io: CliIo = {
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: (s: string) => (stderr += s) },
    env: options.env ?? { ...process.env },
    cwd: options.cwd ?? process.cwd(),
    readStdin: async () => options.stdin ?? '',
  };
  const code = await main(argv, io);
  return { code, stdout, stderr };
}
