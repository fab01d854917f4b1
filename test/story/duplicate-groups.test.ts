import { describe, expect, it } from 'vitest';
import { FileType } from '../../src/db/enums.js';
import { type CopyCandidate, duplicateGroups } from '../../src/domain/story/duplicates.js';

/**
 * Which memories a story tells once, as copies of one picture (issue 13 review point 4): near
 * perceptual hashes alone are not enough, since white pages look alike.
 */

const photo = (id: string, over: Partial<CopyCandidate> = {}): CopyCandidate => ({
  id,
  kind: FileType.IMAGE,
  sha256: `sha-${id}`,
  perceptualHash: 'a5c3f00f0ff0c35a',
  text: null,
  transcript: null,
  caption: null,
  captionBy: null,
  ...over,
});

const TOM = 'Dear Rose, The boat came in late again and I thought of you the whole way home. Tell the children I will bring them shells. With all my love, Tom';
const ANN = 'Dear Mum, the parcel came on Tuesday. Rose, you always knew what we needed before we did. The children ask about your garden every day. Love, Ann';
// The same letter read again from a second photo: OCR misreads a few words.
const TOM_AGAIN = 'Dear Rose, The boat carne in late again and I thougbt of you the whole way home. Tell the childrcn I will bring them shells. With all my love, Tom';

describe('duplicateGroups', () => {
  it('groups the same file, and near copies of one photo, under the first of them', () => {
    const groups = duplicateGroups([photo('scan', { caption: 'Rose and Tom on their wedding day' }), photo('phone', { perceptualHash: 'a5c3f00f0ff0c35b' }), photo('again', { sha256: 'sha-scan', perceptualHash: null, caption: 'Our wedding day' }), photo('other', { perceptualHash: '5a3c0ff0f00f3ca5' })]);
    expect(Object.fromEntries(groups)).toEqual({ scan: 'scan', phone: 'scan', again: 'scan' });
  });

  it('never groups two different letters photographed alike (near hashes, different text)', () => {
    const groups = duplicateGroups([photo('tom', { text: TOM }), photo('ann', { text: ANN, perceptualHash: 'a5c3f00f0ff0c35b' })]);
    expect(groups.size).toBe(0);
  });

  it('groups two readings of one letter, whose OCR differs in a few words', () => {
    const groups = duplicateGroups([photo('tom', { text: TOM }), photo('tom2', { text: TOM_AGAIN, perceptualHash: 'a5c3f00f0ff0c35b' })]);
    expect(Object.fromEntries(groups)).toEqual({ tom: 'tom', tom2: 'tom' });
  });

  it('never groups a page with text and one without, memories of different kinds, or different transcripts', () => {
    expect(duplicateGroups([photo('read', { text: TOM }), photo('unread', { perceptualHash: 'a5c3f00f0ff0c35b' })]).size).toBe(0);
    expect(duplicateGroups([photo('poster', { kind: FileType.VIDEO }), photo('still')]).size).toBe(0);
    const song = 'Rose always said the garden was her second classroom. She sang in the church choir every Christmas.';
    const toast = 'We are here to raise a glass to Rose and Tom, who met at the harbour dance in the summer of sixty one.';
    expect(duplicateGroups([photo('v1', { kind: FileType.VIDEO, transcript: song }), photo('v2', { kind: FileType.VIDEO, transcript: toast })]).size).toBe(0);
    expect(duplicateGroups([photo('v1', { kind: FileType.VIDEO, transcript: song }), photo('v2', { kind: FileType.VIDEO, transcript: song, sha256: 'sha-v1' })]).size).toBe(2);
  });

  it("keeps each person's own caption of a picture: the family's and a guest's differ, so both are told", () => {
    expect(duplicateGroups([photo('family', { caption: 'Rose at the school gate' }), photo('guest', { caption: 'Mrs Baker on my first day', captionBy: 'contribution-1' })]).size).toBe(0);
    // The same words from both, or a caption from one only: one picture.
    expect(duplicateGroups([photo('family', { caption: 'Rose at the school gate' }), photo('guest', { caption: 'Rose at the school gate', captionBy: 'contribution-1' })]).size).toBe(2);
    expect(duplicateGroups([photo('family', { caption: 'Rose at the school gate' }), photo('guest', { captionBy: 'contribution-1' })]).size).toBe(2);
  });
});
