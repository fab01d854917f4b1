import type { GeoLocation, Tag } from '../../db/entities/asset.types.js';
import type { MergedCopy } from '../../db/entities/duplicate.types.js';
import { TagSource } from '../../db/enums.js';

/** What a memory says about itself, as merging reads and writes it. */
export interface MergeSide {
  id: string;
  /** A caption a person wrote; null when there is none or it is the machine's. */
  personCaption: string | null;
  tags: readonly Tag[];
  place: string | null;
  dateTaken: Date | null;
  location: GeoLocation | null;
  contributionId: string | null;
  addedById: string | null;
  mergedFrom: readonly MergedCopy[];
}

export interface Merged {
  /** The caption to write, or undefined to leave the kept memory's (machine's or none) as it is. */
  caption: string | undefined;
  tags: Tag[];
  place: string | null;
  dateTaken: Date | null;
  location: GeoLocation | null;
  mergedFrom: MergedCopy[];
}

/** Between two captions of the merged memory. */
export const CAPTION_JOIN = '\n\n';

/**
 * One memory out of a kept one and its copies (copies in the order given, the caller's: oldest
 * first). Nothing a person said is lost:
 * - captions: every distinct person's caption (ignoring case and surrounding space), the kept
 *   memory's first, joined by a blank line; a person's caption replaces a machine's; with none
 *   anywhere the kept memory's caption stays;
 * - tags: the union by name (ignoring case), each with its source and confidence; where two share
 *   a name, a person's tag wins over a machine's, then the higher confidence, then the kept one's;
 * - place, date taken and GPS location: the kept memory's when set, else the first copy's that has one;
 * - who contributed: the kept memory's earlier merges, then each copy (its contribution, the member
 *   who added it) followed by the copies merged into it before.
 */
export function mergeCopies(input: { kept: MergeSide; copies: readonly MergeSide[]; at: Date }): Merged {
  const { kept, copies } = input;
  const all = [kept, ...copies];
  const captions: string[] = [];
  const seen = new Set<string>();
  for (const m of all) {
    const c = m.personCaption?.trim();
    if (!c || seen.has(c.toLowerCase())) continue;
    seen.add(c.toLowerCase());
    captions.push(c);
  }
  const first = <T>(pick: (m: MergeSide) => T | null): T | null => all.map(pick).find((v) => v !== null) ?? null;
  return {
    caption: captions.length > 0 ? captions.join(CAPTION_JOIN) : undefined,
    tags: mergeTags(all.map((m) => m.tags)),
    place: first((m) => m.place),
    dateTaken: first((m) => m.dateTaken),
    location: first((m) => m.location),
    mergedFrom: oncePerCopy(kept.id, [
      ...kept.mergedFrom,
      ...copies.flatMap((c) => [
        { assetId: c.id, contributionId: c.contributionId, accountId: c.addedById, mergedAt: input.at.toISOString() },
        ...c.mergedFrom,
      ]),
    ]),
  };
}

/**
 * A copy restored from the bin may be merged again, or become the kept memory of what it was
 * merged into: each copy is listed once (its first merge), and the kept memory never as its own copy.
 */
function oncePerCopy(keptId: string, entries: readonly MergedCopy[]): MergedCopy[] {
  const seen = new Set<string>([keptId]);
  return entries.filter((e) => !seen.has(e.assetId) && seen.add(e.assetId));
}

function mergeTags(lists: readonly (readonly Tag[])[]): Tag[] {
  const byName = new Map<string, Tag>();
  for (const list of lists) {
    for (const tag of list) {
      const key = tag.name.trim().toLowerCase();
      const held = byName.get(key);
      if (!held || outranks(tag, held)) byName.set(key, tag);
    }
  }
  return [...byName.values()];
}

/** A person's word over a machine's, then the surer machine. */
function outranks(tag: Tag, held: Tag): boolean {
  const person = (t: Tag) => Number(t.source === TagSource.USER);
  if (person(tag) !== person(held)) return person(tag) > person(held);
  return tag.confidence > held.confidence;
}
