import { describe, expect, it } from 'vitest';
import { TagSource } from '../../src/db/enums.js';
import { CAPTION_JOIN, type MergeSide, mergeCopies } from '../../src/domain/duplicates/merge.js';
import { suggestKeep } from '../../src/domain/duplicates/duplicate-groups.queries.js';

/** The merge rules of resolveDuplicates and the keep suggestion of Chest.duplicateGroups, without a database. */

const side = (id: string, over: Partial<MergeSide> = {}): MergeSide => ({
  id,
  personCaption: null,
  tags: [],
  place: null,
  dateTaken: null,
  location: null,
  contributionId: null,
  addedById: null,
  mergedFrom: [],
  ...over,
});
const at = new Date('2026-12-03T18:00:00Z');

describe('mergeCopies', () => {
  it("keeps every person's distinct caption, the kept one first; none anywhere leaves the kept caption alone", () => {
    const merged = mergeCopies({ kept: side('k', { personCaption: 'Rose' }), copies: [side('a', { personCaption: ' rose ' }), side('b', { personCaption: '   ' }), side('c', { personCaption: 'Whitby, 1962' })], at });
    expect(merged.caption).toBe(['Rose', 'Whitby, 1962'].join(CAPTION_JOIN));
    expect(mergeCopies({ kept: side('k'), copies: [side('a')], at }).caption).toBeUndefined();
    expect(mergeCopies({ kept: side('k'), copies: [side('a', { personCaption: 'From Ann' })], at }).caption).toBe('From Ann');
  });

  it("unites tags by name: a person's over a machine's, then the surer, then the kept one's", () => {
    const merged = mergeCopies({
      kept: side('k', { tags: [{ name: 'Beach', source: TagSource.AI, confidence: 0.9 }, { name: 'dog', source: TagSource.AI, confidence: 0.5 }, { name: 'pier', source: TagSource.USER, confidence: 1 }] }),
      copies: [side('a', { tags: [{ name: 'beach', source: TagSource.USER, confidence: 1 }, { name: 'Dog', source: TagSource.AI, confidence: 0.8 }, { name: 'Pier', source: TagSource.USER, confidence: 1 }, { name: '1962', source: TagSource.EXIF, confidence: 1 }] })],
      at,
    });
    expect(merged.tags).toEqual([
      { name: 'beach', source: TagSource.USER, confidence: 1 },
      { name: 'Dog', source: TagSource.AI, confidence: 0.8 },
      { name: 'pier', source: TagSource.USER, confidence: 1 },
      { name: '1962', source: TagSource.EXIF, confidence: 1 },
    ]);
  });

  it("takes place, date and location from the kept memory when set, else from the first copy that has them; records who brought each copy", () => {
    const date = new Date('1962-06-01T00:00:00Z');
    const earlier = { assetId: 'old', contributionId: 'c0', accountId: null, mergedAt: '2026-01-01T00:00:00.000Z' };
    const merged = mergeCopies({
      kept: side('k', { place: 'Whitby', addedById: 'owner' }),
      copies: [side('a', { place: 'Scarborough', contributionId: 'c1' }), side('b', { dateTaken: date, location: { latitude: 1, longitude: 2 }, addedById: 'editor', mergedFrom: [earlier] })],
      at,
    });
    expect([merged.place, merged.dateTaken, merged.location]).toEqual(['Whitby', date, { latitude: 1, longitude: 2 }]);
    expect(merged.mergedFrom).toEqual([
      { assetId: 'a', contributionId: 'c1', accountId: null, mergedAt: at.toISOString() },
      { assetId: 'b', contributionId: null, accountId: 'editor', mergedAt: at.toISOString() },
      earlier,
    ]);
  });

  it('lists each copy once when a copy restored from the bin is merged again, and never the kept memory as its own copy', () => {
    const first = { assetId: 'x', contributionId: 'c1', accountId: null, mergedAt: '2026-01-01T00:00:00.000Z' };
    // x was merged into k, restored, and is merged into k again.
    const again = mergeCopies({ kept: side('k', { mergedFrom: [first] }), copies: [side('x', { contributionId: 'c1' })], at });
    expect(again.mergedFrom).toEqual([first]);
    // x was merged into k, restored, and now k is merged into x: x carries k, not itself.
    const turned = mergeCopies({ kept: side('x', { contributionId: 'c1' }), copies: [side('k', { addedById: 'owner', mergedFrom: [first] })], at });
    expect(turned.mergedFrom).toEqual([{ assetId: 'k', contributionId: null, accountId: 'owner', mergedAt: at.toISOString() }]);
  });
});

describe('suggestKeep', () => {
  const m = (id: string, pixels: number, personCaption: boolean, added: number) => ({ id, pixels, personCaption, createdAt: new Date(added) });
  it("prefers the most pixels, then a person's caption, then the one added first", () => {
    expect(suggestKeep([m('small', 100, true, 1), m('large', 400, false, 2)]).id).toBe('large');
    expect(suggestKeep([m('plain', 400, false, 1), m('captioned', 400, true, 2)]).id).toBe('captioned');
    expect(suggestKeep([m('second', 400, false, 2), m('first', 400, false, 1)]).id).toBe('first');
  });
});
