/** A position in a source text: 1-based line and column (in characters), 0-based offset. */
export interface SourcePosition {
  line: number;
  column: number;
  offset: number;
}

/** A range in a source text; `end` is exclusive. */
export interface SourceRange {
  start: SourcePosition;
  end: SourcePosition;
}

/** Stable error codes. Add new ones here; never rename one. */
export type ErrorCode =
  | 'DOCKERFILE_SYNTAX'
  | 'DOCKERFILE_INSTRUCTION'
  | 'DOCKERFILE_EXPANSION'
  | 'DOCKERFILE_CHECK'
  | 'DOCKERIGNORE_PATTERN'
  | 'CONTEXT_NOT_FOUND'
  | 'CONTEXT_EXCLUDED'
  | 'CONTEXT_ESCAPE'
  | 'TARGET_NOT_FOUND'
  | 'STAGE_NOT_FOUND'
  | 'DIGEST_INVALID'
  | 'DIGEST_MISMATCH'
  | 'SIZE_MISMATCH'
  | 'BLOB_NOT_FOUND'
  | 'IMAGE_NOT_FOUND'
  | 'STORE_CORRUPT'
  | 'STORE_LOCKED'
  | 'STORE_IO'
  | 'LAYER_INVALID'
  | 'LAYER_ESCAPE'
  | 'REFERENCE_INVALID'
  | 'PLATFORM_NOT_FOUND'
  | 'MANIFEST_INVALID'
  | 'REGISTRY_UNAUTHORIZED'
  | 'REGISTRY_DENIED'
  | 'REGISTRY_NOT_FOUND'
  | 'REGISTRY_ERROR'
  | 'REGISTRY_UNREACHABLE'
  | 'REGISTRY_TIMEOUT'
  | 'CREDENTIALS_ERROR'
  | 'ADD_DOWNLOAD'
  | 'ADD_CHECKSUM'
  | 'ADD_GIT'
  | 'OUTPUT_INVALID'
  | 'USAGE'
  | 'UNSUPPORTED'
  | 'RUN_FAILED'
  | 'SANDBOX_UNAVAILABLE'
  | 'SANDBOX_ERROR'
  | 'RUN_MOUNT'
  | 'SECRET_MISSING'
  | 'SSH_MISSING'
  | 'INTERRUPTED'
  | 'COMPOSE_INVALID'
  | 'COMPOSE_VARIABLE'
  | 'CACHE_EXPORT';

export interface OcibuildErrorOptions {
  cause?: unknown;
  /** Name of the source file (e.g. the Dockerfile path) the range refers to. */
  file?: string;
  range?: SourceRange;
  /** A hint printed after the message ("did you mean --chown?"). */
  hint?: string;
  /** Extra machine-readable details (registry status, Distribution error codes, ...). */
  details?: Record<string, unknown>;
}

/**
 * Every error ocibuild reports to a user is an OcibuildError with a stable `code`.
 * Anything else escaping the library is a bug.
 */
export class OcibuildError extends Error {
  readonly code: ErrorCode;
  file?: string;
  range?: SourceRange;
  readonly hint?: string;
  readonly details?: Record<string, unknown>;

  constructor(code: ErrorCode, message: string, options: OcibuildErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'OcibuildError';
    this.code = code;
    this.file = options.file;
    this.range = options.range;
    this.hint = options.hint;
    this.details = options.details;
  }

  /** `file:line:column` when known. */
  get location(): string | undefined {
    if (!this.range) return this.file;
    const { line, column } = this.range.start;
    return `${this.file ?? '<input>'}:${line}:${column}`;
  }
}

/** Narrowing helper. */
export function isOcibuildError(e: unknown): e is OcibuildError {
  return e instanceof OcibuildError;
}
