/**
 * A syntactic check of image references as distribution/reference's
 * ParseNormalizedNamed does it (used for FROM and its lint rules).
 */

const ALNUM = '[a-z0-9]+';
const SEPARATOR = '(?:[._]|__|[-]+)';
const PATH_COMPONENT = `${ALNUM}(?:${SEPARATOR}${ALNUM})*`;
const DOMAIN_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const DOMAIN_NAME = `${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*`;
const IPV6 = '\\[(?:[a-fA-F0-9:]+)\\]';
const DOMAIN = `(?:${DOMAIN_NAME}|${IPV6})(?::[0-9]+)?`;
const TAG = '[\\w][\\w.-]{0,127}';
const DIGEST = '[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}';
const NAME = `(?:${DOMAIN}/)?${PATH_COMPONENT}(?:/${PATH_COMPONENT})*`;
const REFERENCE = new RegExp(`^(${NAME})(?::(${TAG}))?(?:@(${DIGEST}))?$`);

/** Why a reference is invalid, in distribution/reference's words, or undefined when valid. */
export function referenceError(ref: string): string | undefined {
  if (ref === '') return 'invalid reference format';
  if (/^[a-f0-9]{64}$/.test(ref)) {
    return 'invalid repository name (64-byte hexadecimal strings are reserved)';
  }
  const m = REFERENCE.exec(ref);
  if (!m) {
    // distinguish upper-case repository names, as distribution does
    const lowered = ref.replace(/^[^/]*\//, (d) => d).toLowerCase();
    if (REFERENCE.test(lowered)) return 'invalid reference format: repository name must be lowercase';
    return 'invalid reference format';
  }
  if (m[1].length > 255) return 'repository name must not be more than 255 characters';
  return undefined;
}
