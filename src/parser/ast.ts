/**
 * The Dockerfile syntax tree: close to the text, one node per instruction,
 * shaped like BuildKit's parser.Node so the BuildKit AST dump falls out of it.
 * Variables are NOT expanded here (that is the compiler's job).
 */
import type { SourceRange } from '../errors.js';

export type EscapeToken = '\\' | '`';

/** A parser directive (`# syntax=...`, `# escape=...`, `# check=...`). */
export interface Directive {
  /** Lower-cased directive name. */
  name: 'syntax' | 'escape' | 'check';
  value: string;
  range: SourceRange;
}

/** One heredoc attached to an instruction (RUN/COPY/ADD only). */
export interface Heredoc {
  /** The terminator word with quotes removed (`EOF`). */
  name: string;
  /** The fd prefix (`3<<EOF`), 0 when none was written. */
  fileDescriptor: number;
  /** False when the terminator was quoted (no variable expansion of the body). */
  expand: boolean;
  /** True for `<<-` (leading tabs stripped from the body by the consumer). */
  chomp: boolean;
  /** The body, every line with its `\n`, terminator line excluded. */
  content: string;
  /** From the marker word (`<<EOF`) to the end of the terminator line. */
  range: SourceRange;
  /** The marker word only (`<<EOF`, `3<<-'EOF'`). */
  markerRange?: SourceRange;
}

/** A flag word (`--from=builder`), after quote/escape removal as BuildKit does it. */
export interface FlagNode {
  /** The processed text as BuildKit prints it, without the leading `--` removed: `--from=builder`. */
  text: string;
  /** Name without dashes: `from`. */
  name: string;
  /** Value after the first `=`, or undefined for a bare `--flag`. */
  value: string | undefined;
  range: SourceRange;
}

/** One instruction. */
export interface InstructionNode {
  /** Lower-cased keyword (`from`, `run`, `onbuild`, or an unknown word). */
  keyword: string;
  /** The keyword exactly as written. */
  keywordText: string;
  flags: FlagNode[];
  /**
   * The argument nodes as BuildKit produces them (see conformance README 1.3.8):
   * whitespace-split for FROM/EXPOSE, JSON elements in exec form, one verbatim
   * string for shell-form RUN/CMD/ENTRYPOINT, key/value/"=" triples for ENV/LABEL, ...
   */
  args: string[];
  /** True when the arguments were a JSON array (exec form). */
  json: boolean;
  /** For ONBUILD: the nested trigger instruction. */
  trigger?: InstructionNode;
  heredocs: Heredoc[];
  /**
   * The logical line after continuation joining (keyword and flags included),
   * what BuildKit calls `Original`.
   */
  original: string;
  /** The argument text after keyword and flags, trimmed (the "rest" of the line). */
  argText: string;
  /** Comment lines directly above this instruction (without `#`), for ARG/FROM doc comments. */
  comments: string[];
  /** From the keyword to the end of the last line (heredoc bodies included). */
  range: SourceRange;
  /** Range of the keyword only. */
  keywordRange: SourceRange;
  /** Range of the argument text. */
  argRange: SourceRange;
}

/** A warning from the parser (e.g. empty continuation lines). */
export interface ParseWarning {
  /** BuildKit rule name when there is one (e.g. `NoEmptyContinuation`). */
  rule: string;
  message: string;
  /** BuildKit's longer explanation, when it has one. */
  detail?: string;
  /** Documentation URL of the rule. */
  url?: string;
  range: SourceRange;
}

export interface DockerfileAst {
  directives: Directive[];
  escapeToken: EscapeToken;
  instructions: InstructionNode[];
  warnings: ParseWarning[];
  /** The source name used in errors (a path, or `Dockerfile`). */
  file: string;
  /** The source text after BOM removal (what ranges index into). */
  source: string;
}
