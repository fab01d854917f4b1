import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AiProviderError, AiUnavailableError, type AiProvider, type MadeBy, type StoryContext, type StoryDraft, type StoryOptions } from '../../src/ai/ai.port.js';
import { FileType, StoryStyle } from '../../src/db/enums.js';
import { letterScan, wav } from '../support/media.js';
import sharp from 'sharp';

export interface OpenedAi {
  provider: AiProvider;
  /** Makes the provider's next request fail the way its service fails (a 5xx, a refused key), if it has one. */
  failNext?(): void;
  close(): Promise<void>;
}

export interface AiContractOptions {
  /** Tasks on files to run (each costs an engine start or a request); the story is always run. */
  fileTasks: ReadonlyArray<'transcribe' | 'describeImage' | 'extractText'>;
}

const CONTEXT: StoryContext = {
  person: { name: 'Rose Martin', birthDate: '1931-04-02', passingDate: '2020-11-30', description: 'Gardener and grandmother.' },
  memories: [
    { id: 'm1', kind: FileType.IMAGE, title: 'Garden 1962', date: '1962-06-01', caption: 'Rose among her roses in the garden.', tags: ['garden', 'roses'], transcript: null, text: null, contributor: null, relationship: null },
    { id: 'm2', kind: FileType.AUDIO, title: 'Grandma speaks', date: '1990-05-01', caption: null, tags: [], transcript: 'We planted roses every spring, and the apple tree gave us pies.', text: null, contributor: 'Anna', relationship: 'granddaughter' },
    { id: 'm3', kind: FileType.DOCUMENT, title: 'Letter from Whitby', date: '1975-01-01', caption: null, tags: [], transcript: null, text: 'Dear Rose, the sea at Whitby was lovely and the choir sang.', contributor: null, relationship: null },
  ],
};
const EVERYTHING: StoryOptions = { style: StoryStyle.COMPREHENSIVE, includeTimeline: true, includeThemes: true };

/**
 * What every AI provider must do, whoever runs the model (ai.port.ts): a task it offers answers in
 * the port's shapes and names who made it, or fails with the port's typed errors (AiUnavailableError:
 * cannot here; AiProviderError: tried and failed, retryable or not), never a raw library error; a
 * story cites only the memories it was given and streams its narrative as it grows.
 */
export function aiContract(name: string, open: () => Promise<OpenedAi>, options: AiContractOptions): void {
  describe(`AI contract: ${name}`, () => {
    let ai: OpenedAi;
    let dir: string;
    beforeAll(async () => {
      ai = await open();
      dir = await mkdtemp(join(tmpdir(), 'dmc-ai-contract-'));
    });
    afterAll(async () => {
      await ai?.close();
      await rm(dir, { recursive: true, force: true });
    });

    const madeBy = (result: MadeBy) => {
      expect(result.provider).toBe(ai.provider.name);
      expect(result.model).toMatch(/\S/);
    };

    it('writes a story that cites only the memories it was given, every claim citing one', async () => {
      const draft = await ai.provider.generateStory!(CONTEXT, EVERYTHING);
      madeBy(draft);
      expectCitesOnlyGiven(draft);
      expect(draft.title).toMatch(/\S/);
      expect(draft.paragraphs.length).toBeGreaterThan(0);
      for (const p of draft.paragraphs) expect(p.text).toMatch(/\S/);
      expect(draft.paragraphs.every((p) => p.assetIds.length > 0)).toBe(true);
    });

    it('leaves out the timeline and themes when not asked for', async () => {
      const draft = await ai.provider.generateStory!(CONTEXT, { style: StoryStyle.BRIEF, includeTimeline: false, includeThemes: false });
      expect(draft.timeline).toEqual([]);
      expect(draft.themes).toEqual([]);
      expectCitesOnlyGiven(draft);
    });

    it('streams the narrative as it grows, each report extending the last', async () => {
      const seen: string[] = [];
      const draft = await ai.provider.generateStory!(CONTEXT, EVERYTHING, { onNarrative: (soFar) => seen.push(soFar) });
      expect(seen.length).toBeGreaterThan(0);
      for (let i = 1; i < seen.length; i++) expect(seen[i]!.length).toBeGreaterThanOrEqual(seen[i - 1]!.length);
      // What was streamed last holds the paragraphs' opening words.
      expect(seen.at(-1)).toContain(draft.paragraphs[0]!.text.slice(0, 20));
    });

    it('writes from nothing without inventing citations', async () => {
      const draft = await ai.provider.generateStory!({ person: CONTEXT.person, memories: [] }, EVERYTHING).catch((err: unknown) => err);
      if (draft instanceof Error) expect(typedError(draft)).toBe(true);
      else expect(citedIds(draft as StoryDraft)).toEqual([]);
    });

    if (options.fileTasks.includes('describeImage')) {
      it('describes a picture: lower-case tags with confidences 0..1, a caption or null', async () => {
        const path = join(dir, 'garden.jpg');
        await writeFile(path, await sharp({ create: { width: 320, height: 240, channels: 3, background: '#4a7' } }).jpeg().toBuffer());
        const answer = await ai.provider.describeImage!({ path, mimeType: 'image/jpeg' }, { place: 'Whitby', people: ['Rose'] }).catch((err: unknown) => err);
        if (answer instanceof Error) return void expect(typedError(answer), String(answer)).toBe(true);
        const d = answer as Awaited<ReturnType<NonNullable<AiProvider['describeImage']>>>;
        madeBy(d);
        for (const tag of d.tags) {
          expect(tag.name).toBe(tag.name.toLowerCase());
          expect(tag.confidence).toBeGreaterThanOrEqual(0);
          expect(tag.confidence).toBeLessThanOrEqual(1);
        }
        expect(d.caption === null || /\S/.test(d.caption)).toBe(true);
      });
    }

    if (options.fileTasks.includes('extractText')) {
      it('reads the text of a scanned letter', async () => {
        const path = join(dir, 'letter.png');
        await writeFile(path, await letterScan(['Dear Rose', 'the apple tree is in bloom']));
        const answer = await ai.provider.extractText!({ path, mimeType: 'image/png' }).catch((err: unknown) => err);
        if (answer instanceof Error) return void expect(typedError(answer), String(answer)).toBe(true);
        const t = answer as Awaited<ReturnType<NonNullable<AiProvider['extractText']>>>;
        madeBy(t);
        expect(t.text.toLowerCase()).toContain('apple tree');
        expect(t.confidence === null || (t.confidence >= 0 && t.confidence <= 1)).toBe(true);
      });
    }

    if (options.fileTasks.includes('transcribe')) {
      it('transcribes a recording into ordered segments within it, or says it cannot here', async () => {
        const path = join(dir, 'speech.wav');
        await writeFile(path, wav(16_000));
        const answer = await ai.provider.transcribe!({ path, mimeType: 'audio/wav' }).catch((err: unknown) => err);
        if (answer instanceof Error) return void expect(typedError(answer), String(answer)).toBe(true);
        const t = answer as Awaited<ReturnType<NonNullable<AiProvider['transcribe']>>>;
        madeBy(t);
        expect(typeof t.text).toBe('string');
        expect(typeof t.rough).toBe('boolean');
        let last = 0;
        for (const s of t.segments) {
          expect(s.start).toBeGreaterThanOrEqual(last);
          expect(s.end).toBeGreaterThanOrEqual(s.start);
          last = s.start;
        }
        expect(t.confidence === null || (t.confidence >= 0 && t.confidence <= 1)).toBe(true);
      });
    }

    it('fails with the port\'s typed errors, never a raw library error, and works again afterwards', async ({ skip }) => {
      if (!ai.failNext) return skip('this provider has no service that can fail');
      ai.failNext();
      const error = await ai.provider.generateStory!(CONTEXT, EVERYTHING).then(
        () => null,
        (err: unknown) => err,
      );
      expect(error).toBeInstanceOf(Error);
      expect(typedError(error as Error)).toBe(true);
      expectCitesOnlyGiven(await ai.provider.generateStory!(CONTEXT, EVERYTHING));
    });
  });
}

function typedError(err: Error): boolean {
  return err instanceof AiUnavailableError || err instanceof AiProviderError;
}

function citedIds(draft: StoryDraft): string[] {
  return [...draft.paragraphs, ...draft.timeline, ...draft.themes].flatMap((c) => c.assetIds);
}

function expectCitesOnlyGiven(draft: StoryDraft): void {
  const given = new Set(CONTEXT.memories.map((m) => m.id));
  for (const id of citedIds(draft)) expect(given, `cites ${id}`).toContain(id);
  expect(citedIds(draft).length).toBeGreaterThan(0);
}
