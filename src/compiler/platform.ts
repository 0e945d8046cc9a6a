/**
 * Platform specifiers for `FROM --platform` and the TARGET/BUILD platform
 * args: containerd's rules, kept in one place (src/oci/platform.ts).
 */
export { PlatformError, parsePlatform, normalizePlatform, formatPlatform, hostPlatform } from '../oci/platform.js';
