import { type ArchiveLimits, DEFAULT_ARCHIVE_LIMITS } from './zip-directory.js';
import { DEFAULT_SANDBOX_LIMITS, type SandboxLimits } from './sandbox.js';

/** How far the parsing of one untrusted file may go: the sandbox it runs in, and the archives it may open. */
export interface ParseLimits {
  sandbox: SandboxLimits;
  archive: ArchiveLimits;
}

export const DEFAULT_PARSE_LIMITS: ParseLimits = { sandbox: DEFAULT_SANDBOX_LIMITS, archive: DEFAULT_ARCHIVE_LIMITS };
