/**
 * A copy merged into a memory by resolveDuplicates (domain/duplicates): where it came from, so
 * the kept memory still says who contributed it after the copy went to the bin.
 */
export interface MergedCopy {
  /** The copy, now in the bin (or purged: the id then names nothing). */
  assetId: string;
  /** The guest contribution it came with, or null. */
  contributionId: string | null;
  /** The member who added it, when known (null for guests and for memories added before that was recorded). */
  accountId: string | null;
  /** ISO 8601 instant of the merge. */
  mergedAt: string;
  /**
   * Set by an import (domain/import): who it was in the chest the archive came from. Accounts are
   * not portable between servers, so accountId is null there and the name is kept here instead.
   */
  imported?: { kind: 'MEMBER' | 'GUEST'; name: string | null };
}
