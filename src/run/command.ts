/**
 * The argv of a RUN, as BuildKit's dockerfile2llb builds it: exec form as
 * written; shell form prefixed by the image's SHELL (default `/bin/sh -c`)
 * with the words joined by spaces; heredocs:
 *
 * - `RUN <<EOF` alone: the body is the script given to the shell, or, when
 *   it starts with `#!`, a file `/dev/pipes/EOF` (mode 0755) that is executed
 *   directly (its interpreter line chooses the interpreter);
 * - anything else (`RUN <<EOF python3`, `RUN cat <<A <<B`): the command line
 *   and the bodies are joined back into one script for the shell, which
 *   handles the heredocs itself.
 *
 * Pure: no IO.
 */
import { OcibuildError } from '../errors.js';

/** A heredoc of a RUN, raw. */
export interface RunHeredoc {
  name: string;
  data: string;
  chomp: boolean;
}

/** What a RUN executes. */
export interface RunCommand {
  argv: string[];
  /** Files to bind read-only under `/dev/pipes` (a heredoc with an interpreter line). */
  pipes: { name: string; data: string; mode: number }[];
}

/** The default SHELL of Linux images. */
export const DEFAULT_SHELL: readonly string[] = ['/bin/sh', '-c'];

function chomp(data: string): string {
  return data.replace(/^\t+/gm, '');
}

/** True when the command line is exactly one heredoc marker (`<<EOF`, `<<-'EOF'`). */
function isSingleHeredocMarker(line: string): boolean {
  const m = /^(\d*)<<(-?)\s*([^<]*)$/u.exec(line);
  if (!m || m[3] === '') return false;
  // BuildKit: the rest must be a single shell word ("EOF", "'EOF'", "\"E O F\"").
  const rest = m[3]!.trim();
  return /^(?:[^\s'"\\]|\\.|'[^']*'|"(?:[^"\\]|\\.)*")+$/su.test(rest);
}

/**
 * The argv of a RUN step.
 * @param command exec form: the argv; shell form: one element, the command line as written
 * @param shell the image's SHELL (empty or undefined: `/bin/sh -c`)
 */
export function runCommand(command: readonly string[], prependShell: boolean, files: readonly RunHeredoc[], shell?: readonly string[]): RunCommand {
  let args = [...command];
  const pipes: RunCommand['pipes'] = [];
  if (files.length > 0) {
    if (args.length !== 1 || !prependShell) {
      throw new OcibuildError('DOCKERFILE_INSTRUCTION', `parsing produced an invalid run command: ${JSON.stringify(args)}`);
    }
    if (isSingleHeredocMarker(args[0]!)) {
      const f = files[0]!;
      const data = f.chomp ? chomp(f.data) : f.data;
      if (data.startsWith('#!')) {
        if (f.name.includes('/') || f.name === '.' || f.name === '..') {
          throw new OcibuildError('DOCKERFILE_INSTRUCTION', `heredoc name ${JSON.stringify(f.name)} cannot name a file`);
        }
        pipes.push({ name: f.name, data, mode: 0o755 });
        return { argv: [`/dev/pipes/${f.name}`], pipes };
      }
      args = [data];
    } else {
      let full = args[0]!;
      for (const f of files) full += '\n' + f.data + f.name;
      args = [full];
    }
  }
  if (!prependShell) {
    if (args.length === 0) throw new OcibuildError('DOCKERFILE_INSTRUCTION', 'RUN has an empty command');
    return { argv: args, pipes };
  }
  const sh = shell && shell.length > 0 ? shell : DEFAULT_SHELL;
  return { argv: [...sh, args.join(' ')], pipes };
}

/** The command as BuildKit names it in errors: `process "/bin/sh -c false" did not complete successfully`. */
export function commandText(argv: readonly string[]): string {
  return argv.join(' ');
}
