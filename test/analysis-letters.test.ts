import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Ai, createAi } from '../src/ai/ai.registry.js';
import type { AiSettings } from '../src/ai/ai.settings.js';
import { Asset, Chest } from '../src/db/entities/index.js';
import { ProcessingStatus, TagSource } from '../src/db/enums.js';
import { analyseAsset } from '../src/domain/analysis/analysis.service.js';
import { InProcessEventBus } from '../src/events/in-process.events.js';
import type { StorageBackend } from '../src/storage/storage.port.js';
import { createStorage } from '../src/storage/storage.registry.js';
import { createTestDatabase, type TestDatabase } from './support/db.js';
import { makeAccount, makeAsset, makeChest } from './support/factories.js';
import { DEFAULT_LETTERS, type LetterSpec, renderLetter, wordAccuracy, wordsOf } from './support/letters.js';

/**
 * Scanned letters through the whole AI step with the embedded default (the local provider, no
 * service): what issue 12 found on main, a slightly tilted scan with dark corners taken for "A
 * sepia photograph." and a grainy one turned into 1,388 junk words and junk tags.
 */

const log = pino({ level: 'silent' });

describe('the AI step on real scans, with the local provider', () => {
  let db: TestDatabase;
  let dir: string;
  let storage: StorageBackend;
  let chest: Chest;
  let ai: Ai;
  const em = () => db.orm.em.fork();

  async function analysed(spec: LetterSpec): Promise<{ row: Asset; text: string }> {
    const letter = await renderLetter(spec);
    const e = em();
    const asset = await makeAsset(e, e.getReference(Chest, chest.id), { status: ProcessingStatus.COMPLETE });
    await storage.put(asset.storageKey, Readable.from(letter.jpeg));
    await analyseAsset({ orm: db.orm, storage, events: new InProcessEventBus(), log, ai }, { id: spec.name, data: { assetId: asset.id }, attempt: 1, signal: new AbortController().signal });
    return { row: await em().findOneOrFail(Asset, asset.id), text: letter.text };
  }

  beforeAll(async () => {
    db = await createTestDatabase('postgres');
    dir = await mkdtemp(join(tmpdir(), 'dmc-letters-'));
    storage = await createStorage({ kind: 'filesystem', root: join(dir, 'files') });
    const e = em();
    chest = await makeChest(e, { personName: 'Rose Ellis' }, (await makeAccount(e)).account);
    ai = createAi({ providers: ['local'], cacheDir: join(dir, 'cache') } as unknown as AiSettings);
  });
  afterAll(async () => {
    await ai?.close();
    await db?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('finds and reads a tilted scan with dark corners, and a photographed, shadowed, grainy one', { timeout: 180_000 }, async () => {
    for (const name of ['tilt-5-dark-corners', 'everything']) {
      const { row, text } = await analysed(DEFAULT_LETTERS.find((s) => s.name === name)!);
      expect(row.analyses.map((a) => `${a.task}:${a.status}`), name).toEqual(['describeImage:DONE', 'extractText:DONE', 'keywords:DONE']);
      expect(row.tags.find((t) => t.name === 'document')).toMatchObject({ source: TagSource.AI });
      expect(wordAccuracy(text, row.extractedText ?? '').accuracy, name).toBeGreaterThanOrEqual(0.95);
      // Its keywords are words of the letter.
      const words = new Set(wordsOf(text));
      const keywords = row.tags.filter((t) => t.source === TagSource.KEYWORD);
      expect(keywords.length).toBeGreaterThan(0);
      for (const k of keywords) expect(wordsOf(k.name).every((w) => words.has(w)), `${name}: keyword ${k.name}`).toBe(true);
    }
  });

  it('reads a very grainy scan (over twice the corpus\'s worst grain) without junk words or junk tags', { timeout: 180_000 }, async () => {
    const { row, text } = await analysed({ name: 'grain-160', text: 1, font: 0, fontPx: 24, noise: 160, rotate: 3, border: 0.05, quality: 60, seed: 77 });
    const words = new Set(wordsOf(text));
    const read = wordsOf(row.extractedText ?? '');
    // Every word read is one of the letter's, or a misread of one: never lines of grain read as letters.
    expect(read.length).toBeLessThanOrEqual(wordsOf(text).length);
    expect(wordAccuracy(text, row.extractedText ?? '').accuracy).toBeGreaterThanOrEqual(0.85);
    // Its keyword tags are the letter's words; a word tesseract misread with confidence may be one
    // of them ("eal" for "eat": no confidence tells it), a run of grain never is.
    const keywords = row.tags.filter((t) => t.source === TagSource.KEYWORD);
    expect(keywords.length).toBeGreaterThanOrEqual(5);
    const strangers = keywords.filter((t) => !wordsOf(t.name).every((w) => words.has(w)));
    expect(strangers.length).toBeLessThanOrEqual(1);
    for (const t of strangers) expect(t.name).toMatch(/^[a-z]{3,}$/);
  });
});
