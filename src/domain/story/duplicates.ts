import type { FileType } from '../../db/enums.js';
import { hammingDistance } from '../../media/perceptual-hash.js';

/** Perceptual hashes this few bits apart are one picture (resized, recompressed, re-saved); different photos differ in about 32. */
export const NEAR_COPY_BITS = 6;
/**
 * Two readings of one page or one recording share at least this share of their words (OCR and
 * speech recognition misread some words of each copy); two different letters, even from one
 * family, share far fewer (words of three letters or more: 0.18 for two letters of the tests, 0.77
 * for one letter read twice with three words misread).
 */
const SAME_WORDS = 0.6;

/** What decides whether two memories are copies of one: the file, its picture, and the words in it. */
export interface CopyCandidate {
  id: string;
  kind: FileType;
  sha256: string;
  perceptualHash: string | null;
  /** OCR text of a page (a letter, a document). */
  text: string | null;
  transcript: string | null;
  /** A caption a person wrote (never the machine's). */
  caption: string | null;
  /** Who wrote that caption: the contribution it came with, null for the family. */
  captionBy: string | null;
}

/**
 * Copies of one picture: the same bytes (sha256) or perceptual hashes within NEAR_COPY_BITS, and
 * nothing telling them apart. White pages look alike to a perceptual hash, so two different
 * letters photographed on one table are near; a writer tells a group once, from its first memory's
 * words, so memories of different kinds, with different text or transcripts, or captioned
 * differently by different people are never copies: each is told with its own words.
 * Each memory in a group maps to the group's first memory in `memories` order; unique memories are
 * absent. Quadratic in the memories, which MAX_STORY_MEMORIES bounds.
 */
export function duplicateGroups(memories: readonly CopyCandidate[]): Map<string, string> {
  const groupOf = new Map<string, string>();
  const sameContent = contentJudge();
  for (let i = 0; i < memories.length; i++) {
    const a = memories[i]!;
    if (groupOf.has(a.id)) continue;
    for (let j = i + 1; j < memories.length; j++) {
      const b = memories[j]!;
      if (groupOf.has(b.id)) continue;
      const looksSame = a.sha256 === b.sha256 || (a.perceptualHash !== null && b.perceptualHash !== null && hammingDistance(a.perceptualHash, b.perceptualHash) <= NEAR_COPY_BITS);
      if (!looksSame || !sameContent(a, b) || !sameCaptions(a, b)) continue;
      groupOf.set(a.id, a.id);
      groupOf.set(b.id, a.id);
    }
  }
  return groupOf;
}

/**
 * Whether nothing in two memories' kind or words tells them apart: the same kind, and both
 * without text (or transcript) or with mostly the same words. What makes two near pictures one,
 * for stories and for the chest's duplicate suggestions (domain/duplicates) alike. Each memory's
 * words are read once per judge.
 */
export function contentJudge(): (a: CopyCandidate, b: CopyCandidate) => boolean {
  const words = new Map<string, Words>();
  const of = (m: CopyCandidate): Words => {
    let w = words.get(m.id);
    if (!w) words.set(m.id, (w = { text: wordsOf(m.text), transcript: wordsOf(m.transcript) }));
    return w;
  };
  return (a, b) => {
    if (a.kind !== b.kind) return false;
    const aw = of(a);
    const bw = of(b);
    return sameWords(aw.text, bw.text) && sameWords(aw.transcript, bw.transcript);
  };
}

interface Words {
  text: Set<string>;
  transcript: Set<string>;
}

/**
 * A story tells each person's words: the family's caption and a guest's, or two guests', differ,
 * so both are told. One person's two captions of copies ("Our wedding day") tell one picture.
 */
function sameCaptions(a: CopyCandidate, b: CopyCandidate): boolean {
  const ac = a.caption?.trim();
  const bc = b.caption?.trim();
  return !(ac && bc && a.captionBy !== b.captionBy && ac.toLowerCase() !== bc.toLowerCase());
}

/** Both without words, or both with mostly the same words. Words on one only: not the same page. */
function sameWords(a: Set<string>, b: Set<string>): boolean {
  if (a.size === 0 || b.size === 0) return a.size === b.size;
  let shared = 0;
  for (const w of a) if (b.has(w)) shared++;
  return shared / (a.size + b.size - shared) >= SAME_WORDS;
}

/** The distinct words of a text (letters and digits, lower case), ignoring one- and two-letter OCR crumbs. */
function wordsOf(text: string | null): Set<string> {
  return new Set((text?.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? []).filter((w) => w.length > 2));
}
