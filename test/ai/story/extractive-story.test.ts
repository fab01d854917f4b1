import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { describe, expect, it, vi } from 'vitest';
import { AiProviderError, type StoryContext, type StoryDraft, type StoryMemory, type StoryOptions } from '../../../src/ai/ai.port.js';
import { isMeasuredTag, writeExtractiveStory } from '../../../src/ai/local/extractive-story.js';
import { describeLocally } from '../../../src/ai/local/image-tags.js';
import { narrativeOf } from '../../../src/ai/narrative.js';
import { FileType, StoryStyle } from '../../../src/db/enums.js';

const STYLES = [StoryStyle.COMPREHENSIVE, StoryStyle.BRIEF, StoryStyle.FOR_CHILDREN, StoryStyle.EULOGY];

function memory(id: string, over: Partial<StoryMemory>): StoryMemory {
  return {
    id,
    kind: FileType.IMAGE,
    title: `${id}.jpg`,
    date: null,
    caption: null,
    tags: [],
    transcript: null,
    text: null,
    contributor: null,
    relationship: null,
    ...over,
  };
}

/** Rose's chest: twelve memories over five decades, two undated, two sent by a granddaughter. */
function roseContext(): StoryContext {
  const memories: StoryMemory[] = [
    memory('m01', { title: 'IMG_0001.jpg', date: '1962-06-01', caption: 'Rose planting a small apple tree in the garden', tags: ['garden', 'apple tree'] }),
    memory('m02', {
      kind: FileType.AUDIO,
      title: 'New Recording 3.m4a',
      date: '1962-06-01',
      transcript: 'We planted the apple tree the week Anna was born. Every autumn there were more apples than we could eat.',
    }),
    memory('m03', { title: 'choir_outing_1965.jpg', date: '1965-05-09', caption: 'The church choir on the steps after Sunday service', tags: ['choir', 'church'] }),
    memory('m04', {
      kind: FileType.DOCUMENT,
      title: 'letter-from-the-choir.pdf',
      date: '1968-12-20',
      text: 'Dear Rose, thank you for twenty years in the choir. The carol service will not be the same without your voice.',
    }),
    memory('m05', {
      kind: FileType.AUDIO,
      title: 'grandma-and-the-sea.m4a',
      date: '1974-08-15',
      transcript: 'She swam in the sea every morning of the holiday. Even when the water was freezing she went in first.',
      contributor: 'Margaret',
      relationship: 'granddaughter',
    }),
    memory('m06', { title: 'DSC_1974.jpg', date: '1974-08-16', caption: 'A woman swimming in the sea near a pier', tags: ['sea', 'beach', 'summer'] }),
    memory('m07', {
      kind: FileType.VIDEO,
      title: 'choir-concert.mp4',
      date: '1979-12-24',
      transcript: 'This is the choir singing on Christmas Eve. Rose is the one in the front row, second from the left.',
      tags: ['choir', 'christmas'],
    }),
    memory('m08', { title: 'apple-harvest.jpg', date: '1987-10-02', caption: 'Baskets of apples under the apple tree', tags: ['apple tree', 'autumn'] }),
    memory('m09', {
      kind: FileType.AUDIO,
      title: 'memories-of-nana.m4a',
      date: '1987-10-03',
      transcript: 'Nana made apple pie from the apple tree every October. She hummed choir songs while she baked.',
      contributor: 'Margaret',
      relationship: 'granddaughter',
    }),
    memory('m10', { title: 'rose-at-the-sea.jpg', date: '1999-07-01', caption: 'Rose sitting on a bench by the sea', tags: ['sea', 'bench'] }),
    memory('m11', { title: 'scan_0042.png', caption: 'A black and white portrait of a young woman', tags: ['portrait', 'black and white'] }),
    memory('m12', {
      kind: FileType.DOCUMENT,
      title: 'recipe_apple_pie.docx',
      text: 'Apple pie. Take six apples from the apple tree, peel and slice them thinly.',
    }),
  ];
  return {
    person: { name: 'Rose Ellis', birthDate: '1931-03-03', passingDate: '2019-11-12', description: 'Gardener, singer and swimmer.' },
    // Deliberately not in date order: the writer must sort.
    memories: [...memories].reverse(),
  };
}

const options = (style: StoryStyle, over: Partial<StoryOptions> = {}): StoryOptions => ({
  style,
  includeTimeline: true,
  includeThemes: true,
  ...over,
});

const byId = new Map(roseContext().memories.map((m) => [m.id, m]));
const ids = new Set(byId.keys());

function allCitations(draft: StoryDraft): string[][] {
  return [...draft.paragraphs, ...draft.timeline, ...draft.themes].map((item) => item.assetIds);
}

/** Every “…” in the text, with the quoted words only. */
function quotesIn(text: string): string[] {
  return [...text.matchAll(/“([^”]*)”/g)].map((match) => match[1] ?? '');
}

describe('writeExtractiveStory', () => {
  it.each(STYLES)('%s: names the local extractive model and a title with the life span', (style) => {
    const draft = writeExtractiveStory(roseContext(), options(style));
    expect(draft.provider).toBe('local');
    expect(draft.model).toBe('extractive-v1');
    expect(draft.title).toContain('Rose Ellis');
    if (style !== StoryStyle.FOR_CHILDREN) expect(draft.title).toContain('(1931–2019)');
  });

  it.each(STYLES)('%s: the timeline is in date order, one entry per date, citing exactly that date’s memories', (style) => {
    const draft = writeExtractiveStory(roseContext(), options(style));
    expect(draft.timeline.map((entry) => [entry.date, entry.assetIds])).toEqual([
      ['1962-06-01', ['m01', 'm02']],
      ['1965-05-09', ['m03']],
      ['1968-12-20', ['m04']],
      ['1974-08-15', ['m05']],
      ['1974-08-16', ['m06']],
      ['1979-12-24', ['m07']],
      ['1987-10-02', ['m08']],
      ['1987-10-03', ['m09']],
      ['1999-07-01', ['m10']],
    ]);
    const first = draft.timeline[0]!;
    // A caption titles the photo; the camera-named recording adds nothing to the title but gives the excerpt.
    expect(first.title).toBe('Rose planting a small apple tree in the garden and a voice recording');
    expect(first.description).toBe('We planted the apple tree the week Anna was born.');
    expect(draft.timeline[2]!.title).toBe('Letter from the choir');
    expect(draft.timeline[2]!.description).toBe('Dear Rose, thank you for twenty years in the choir.');
    for (const entry of draft.timeline) expect(entry.description?.length ?? 0).toBeLessThanOrEqual(200);
  });

  it.each(STYLES)('%s: every paragraph, entry and theme cites at least one memory of the chest, and nothing else', (style) => {
    const draft = writeExtractiveStory(roseContext(), options(style));
    expect(draft.paragraphs.length).toBeGreaterThan(0);
    for (const cited of allCitations(draft)) {
      expect(cited.length).toBeGreaterThan(0);
      expect(new Set(cited).size).toBe(cited.length);
      for (const id of cited) expect(ids.has(id)).toBe(true);
    }
    // Together the paragraphs speak of every memory.
    expect(new Set(draft.paragraphs.flatMap((p) => p.assetIds))).toEqual(ids);
  });

  it.each(STYLES)('%s: every quote is verbatim from a transcript of a memory its paragraph cites', (style) => {
    const draft = writeExtractiveStory(roseContext(), options(style));
    let quotes = 0;
    for (const paragraph of draft.paragraphs) {
      for (const quote of quotesIn(paragraph.text)) {
        quotes += 1;
        const sources = paragraph.assetIds.map((id) => byId.get(id)?.transcript ?? '');
        expect(sources.some((transcript) => transcript.includes(quote))).toBe(true);
      }
    }
    expect(quotes).toBeGreaterThan(0);
  });

  it('attributes a contributor’s quote to them and their relationship', () => {
    const draft = writeExtractiveStory(roseContext(), options(StoryStyle.COMPREHENSIVE));
    const seventies = draft.paragraphs.find((p) => p.text.includes('the 1970s'))!;
    expect(seventies.assetIds).toEqual(['m05', 'm06', 'm07']);
    expect(seventies.text).toContain('As Margaret (granddaughter) remembers, “She swam in the sea every morning of the holiday.”');
    // A recording with no contributor is not put in anyone's mouth.
    expect(seventies.text).toContain('A video from 24 December 1979 says: “This is the choir singing on Christmas Eve.”');
  });

  it.each(STYLES)('%s: themes are recurring keywords citing exactly the memories that mention them', (style) => {
    const draft = writeExtractiveStory(roseContext(), options(style));
    const names = draft.themes.map((theme) => theme.name);
    expect(names.length).toBeGreaterThanOrEqual(3);
    expect(names.length).toBeLessThanOrEqual(6);
    expect(names).toEqual(expect.arrayContaining(['apple tree', 'choir', 'sea']));
    expect(names).not.toContain('rose');
    const theme = (name: string) => draft.themes.find((t) => t.name === name)!;
    expect(theme('apple tree').assetIds).toEqual(['m01', 'm02', 'm08', 'm09', 'm12']);
    expect(theme('apple tree').description).toBe('Appears in 5 memories, from 1962 to 1987.');
    expect(theme('choir').assetIds).toEqual(['m03', 'm04', 'm07', 'm09']);
    expect(theme('sea').assetIds).toEqual(['m05', 'm06', 'm10']);
    // Every theme's memories really contain its words.
    for (const t of draft.themes) {
      for (const id of t.assetIds) {
        const m = byId.get(id)!;
        const haystack = [m.transcript, m.text, m.caption, ...m.tags].join(' ').toLowerCase();
        expect(haystack).toContain(t.name.replace(/s$/, ''));
      }
    }
  });

  it('COMPREHENSIVE: one paragraph per decade, undated last, the person’s facts open the first', () => {
    const draft = writeExtractiveStory(roseContext(), options(StoryStyle.COMPREHENSIVE));
    expect(draft.paragraphs.map((p) => p.assetIds)).toEqual([
      ['m01', 'm02', 'm03', 'm04'],
      ['m05', 'm06', 'm07'],
      ['m08', 'm09'],
      ['m10'],
      ['m11', 'm12'],
    ]);
    const first = draft.paragraphs[0]!.text;
    expect(first.startsWith('Rose Ellis was born on 3 March 1931 and died on 12 November 2019. Gardener, singer and swimmer.')).toBe(true);
    expect(first).toContain('From the 1960s, the chest holds four memories:');
    expect(first).toContain('Rose planting a small apple tree in the garden (a photo, 1 June 1962)');
    expect(draft.paragraphs[1]!.text).toContain('a woman swimming in the sea near a pier (a photo, 16 August 1974)');
    expect(draft.paragraphs[4]!.text).toBe(
      'Two memories have no date: a black and white portrait of a young woman (a photo) and Recipe apple pie (a document).',
    );
  });

  it('BRIEF: at most three paragraphs, merging neighbouring decades', () => {
    const draft = writeExtractiveStory(roseContext(), options(StoryStyle.BRIEF));
    expect(draft.paragraphs.length).toBeLessThanOrEqual(3);
    expect(draft.paragraphs.map((p) => p.assetIds)).toEqual([
      ['m01', 'm02', 'm03', 'm04', 'm05', 'm06', 'm07'],
      ['m08', 'm09', 'm10'],
      ['m11', 'm12'],
    ]);
    expect(draft.paragraphs[0]!.text).toContain('From the 1960s and 1970s:');
    expect(draft.paragraphs[1]!.text).toContain('From the 1980s and 1990s:');
    const comprehensive = writeExtractiveStory(roseContext(), options(StoryStyle.COMPREHENSIVE));
    expect(narrativeOf(draft.paragraphs).length).toBeLessThan(narrativeOf(comprehensive.paragraphs).length);
  });

  it('FOR_CHILDREN: short sentences and no dates but years', () => {
    const draft = writeExtractiveStory(roseContext(), options(StoryStyle.FOR_CHILDREN));
    const text = narrativeOf(draft.paragraphs);
    expect(text.startsWith('This is the story of Rose Ellis. Rose was born in 1931 and died in 2019.')).toBe(true);
    expect(text).toContain('In 1962, there is a photo. It shows: Rose planting a small apple tree in the garden.');
    expect(text).toContain('In 1974, there is a photo. It shows a woman swimming in the sea near a pier.');
    // Quotes are the family's own words and stay as spoken; the rest names years only.
    const own = text.replace(/“[^”]*”/g, '');
    expect(own).not.toMatch(/January|February|March|April|May|June|July|August|September|October|November|December/);
    expect(own).not.toMatch(/\d{4}-\d{2}/);
    expect(own.match(/\b\d+\b/g)?.every((n) => /^\d{4}$/.test(n))).toBe(true);
    for (const sentence of text.replace(/“[^”]*”/g, 'Q.').split(/(?<=[.!?])\s+/)) {
      expect(sentence.split(' ').length).toBeLessThanOrEqual(16);
    }
  });

  it('EULOGY: written to be read aloud, in the first person plural', () => {
    const draft = writeExtractiveStory(roseContext(), options(StoryStyle.EULOGY));
    expect(draft.title).toBe('Remembering Rose Ellis (1931–2019)');
    expect(draft.paragraphs[0]!.text.startsWith('We remember Rose Ellis, who was born on 3 March 1931 and died on 12 November 2019.')).toBe(true);
    for (const paragraph of draft.paragraphs) expect(paragraph.text).toContain('We remember');
    expect(draft.paragraphs.at(-1)!.text.endsWith('These are the memories we keep of Rose.')).toBe(true);
  });

  it.each(STYLES)('%s: deterministic, and independent of the order memories arrive in', (style) => {
    const a = writeExtractiveStory(roseContext(), options(style));
    const b = writeExtractiveStory(roseContext(), options(style));
    expect(b).toEqual(a);
    const shuffled = roseContext();
    shuffled.memories = [...shuffled.memories].sort((x, y) => (x.title < y.title ? -1 : 1));
    expect(writeExtractiveStory(shuffled, options(style))).toEqual(a);
  });

  it.each(STYLES)('%s: leaves out the timeline and themes when not asked for', (style) => {
    const draft = writeExtractiveStory(roseContext(), options(style, { includeTimeline: false, includeThemes: false }));
    expect(draft.timeline).toEqual([]);
    expect(draft.themes).toEqual([]);
    expect(draft.paragraphs).toEqual(writeExtractiveStory(roseContext(), options(style)).paragraphs);
  });

  it.each(STYLES)('%s: streams the narrative once per paragraph, ending with the whole of it', (style) => {
    const onNarrative = vi.fn<(soFar: string) => void>();
    const draft = writeExtractiveStory(roseContext(), options(style), onNarrative);
    const calls = onNarrative.mock.calls.map(([soFar]) => soFar);
    expect(calls).toHaveLength(draft.paragraphs.length);
    calls.forEach((soFar, i) => {
      expect(soFar).toBe(narrativeOf(draft.paragraphs.slice(0, i + 1)));
      if (i > 0) expect(soFar.startsWith(`${calls[i - 1]}\n\n`)).toBe(true);
    });
    expect(calls.at(-1)).toBe(narrativeOf(draft.paragraphs));
  });

  it('keeps partial dates as given, treats unreadable ones as undated and matches whole words only', () => {
    const context: StoryContext = {
      person: { name: 'Rose Ellis', birthDate: '1931', passingDate: null, description: null },
      memories: [
        memory('y', { date: '1950', caption: 'Rose by the sea', tags: ['sea'] }),
        memory('ym', { date: '1950-03', caption: 'The sea in March', tags: ['sea'] }),
        memory('bad', { date: 'sometime', caption: 'A season at the seaside' }),
      ],
    };
    const draft = writeExtractiveStory(context, options(StoryStyle.COMPREHENSIVE));
    expect(draft.title).toBe('The life of Rose Ellis (born 1931)');
    expect(draft.timeline.map((e) => [e.date, e.assetIds])).toEqual([
      ['1950', ['y']],
      ['1950-03', ['ym']],
    ]);
    expect(draft.paragraphs.map((p) => p.assetIds)).toEqual([['y', 'ym'], ['bad']]);
    expect(draft.paragraphs[0]!.text).toContain('the sea in March (a photo, March 1950)');
    // "season" and "seaside" are not "sea".
    expect(draft.themes.find((t) => t.name === 'sea')?.assetIds).toEqual(['y', 'ym']);
  });

  it('refuses to write from no memories, with a final error people can read', () => {
    const empty: StoryContext = { ...roseContext(), memories: [] };
    expect(() => writeExtractiveStory(empty, options(StoryStyle.COMPREHENSIVE))).toThrow(AiProviderError);
    try {
      writeExtractiveStory(empty, options(StoryStyle.COMPREHENSIVE));
    } catch (err) {
      expect((err as AiProviderError).retryable).toBe(false);
      expect((err as Error).message).toMatch(/no memories/);
    }
  });

  it('writes a short but valid story from one undated memory of a person with no dates', () => {
    const context: StoryContext = {
      person: { name: 'Tom', birthDate: null, passingDate: null, description: null },
      memories: [memory('only', { kind: FileType.AUDIO, title: 'Tom laughing.m4a', transcript: 'Tom laughed at his own jokes before the punchline.' })],
    };
    for (const style of STYLES) {
      const draft = writeExtractiveStory(context, options(style));
      expect(draft.paragraphs.length).toBe(1);
      expect(draft.paragraphs[0]!.assetIds).toEqual(['only']);
      expect(draft.timeline).toEqual([]);
      expect(draft.title).not.toMatch(/\(/);
      expect(draft.paragraphs[0]!.text).not.toMatch(/born|died/);
    }
  });
});

describe('places in the family’s words', () => {
  /** Places as people typed them: a name, a phrase with its own preposition, one the caption already says, stray spaces. */
  function placesContext(): StoryContext {
    return {
      person: { name: 'Rose Ellis', birthDate: null, passingDate: null, description: null },
      memories: [
        memory('p1', { date: '1962-06-01', caption: 'Rose on the pier', place: 'Whitby' }),
        memory('p2', { date: '1962-06-01', title: 'IMG_0002.jpg', place: 'In the garden' }),
        memory('p3', { date: '1963-08-02', caption: 'Fish and chips in Whitby', place: 'whitby' }),
        memory('p4', { kind: FileType.AUDIO, title: 'New Recording 4.m4a', place: '  Scarborough.  ' }),
        memory('p5', { date: '1964-01-01', caption: 'The old house', place: null }),
      ],
    };
  }

  it('names the place in timeline titles, "at" unless the family gave their own preposition', () => {
    const draft = writeExtractiveStory(placesContext(), options(StoryStyle.COMPREHENSIVE));
    expect(draft.timeline.map((e) => [e.date, e.title])).toEqual([
      ['1962-06-01', 'Rose on the pier at Whitby and a photo in the garden'],
      // The caption already says where: it is not said twice.
      ['1963-08-02', 'Fish and chips in Whitby'],
      ['1964-01-01', 'The old house'],
    ]);
  });

  it.each([StoryStyle.COMPREHENSIVE, StoryStyle.BRIEF, StoryStyle.EULOGY])('%s: names the place of each memory it lists', (style) => {
    const text = narrativeOf(writeExtractiveStory(placesContext(), options(style)).paragraphs);
    expect(text).toContain('Rose on the pier at Whitby (a photo, 1 June 1962)');
    expect(text).toContain('a photo in the garden (1 June 1962)');
    expect(text).toContain('a voice recording at Scarborough');
    // Said once, as typed but tidied: no repeat of a place the caption names, no stray spaces or full stops.
    expect(text).not.toMatch(/Whitby at|at whitby|Scarborough\.\.| {2}|Scarborough\. \(/);
  });

  it('FOR_CHILDREN: says where, in a short sentence', () => {
    const text = narrativeOf(writeExtractiveStory(placesContext(), options(StoryStyle.FOR_CHILDREN)).paragraphs);
    expect(text).toContain('In 1962, at Whitby, there is a photo. It shows: Rose on the pier.');
    expect(text).toContain('In 1962, in the garden, there is a photo.');
    expect(text).toContain('At Scarborough, there is a voice recording.');
    expect(text).toContain('In 1964, there is a photo. It shows the old house.');
  });

  it.each(STYLES)('%s: deterministic with places too, whatever the order', (style) => {
    const a = writeExtractiveStory(placesContext(), options(style));
    expect(writeExtractiveStory(placesContext(), options(style))).toEqual(a);
    const reversed = placesContext();
    reversed.memories.reverse();
    expect(writeExtractiveStory(reversed, options(style))).toEqual(a);
  });
});

describe('themes are about the life, not the pixels', () => {
  it('ignores colour, shape, tone, season and decade tags, the object model’s "person" and the describer’s captions; people’s own words still count', () => {
    const pixels = { tags: ['blue', 'landscape', 'summer', '1960s', 'sepia', 'portrait', 'green', 'person'], caption: 'A mostly blue photograph from the 1960s, taken in summer.' };
    const context: StoryContext = {
      person: { name: 'Rose Ellis', birthDate: null, passingDate: null, description: null },
      memories: [
        memory('a', { date: '1962-07-01', ...pixels }),
        memory('b', { date: '1963-07-01', ...pixels }),
        memory('c', { date: '1964-07-01', ...pixels, tags: [...pixels.tags, 'choir'] }),
        memory('d', { date: '1965-07-01', ...pixels, tags: [...pixels.tags, 'Choir'] }),
        memory('e', { kind: FileType.AUDIO, transcript: 'She painted the blue door every spring.' }),
        memory('f', { kind: FileType.AUDIO, transcript: 'Nobody else was allowed to touch the blue door.' }),
      ],
    };
    const themes = writeExtractiveStory(context, options(StoryStyle.COMPREHENSIVE)).themes;
    expect(themes.map((t) => [t.name, t.assetIds])).toEqual([
      ['blue door', ['e', 'f']],
      ['choir', ['c', 'd']],
    ]);
  });

  it('finds no theme in what the local describer says of real pictures', async () => {
    const picture = (width: number, height: number, background: string) =>
      sharp({ create: { width, height, channels: 3, background } }).png().toBuffer();
    const dir = await mkdtemp(join(tmpdir(), 'dmc-themes-'));
    try {
      const pictures: [number, number, string, string | null][] = [
        [600, 400, '#1f4fbf', '1962-07-14T10:00:00Z'],
        [400, 600, '#c0392b', '1971-12-24T10:00:00Z'],
        [500, 500, '#2e8b57', null],
        [1600, 500, '#2e8b57', '1985-04-02T10:00:00Z'],
        [600, 400, '#1f4fbf', '1990-10-10T10:00:00Z'],
      ];
      const memories: StoryMemory[] = [];
      for (const [i, [width, height, colour, date]] of pictures.entries()) {
        const path = join(dir, `${i}.png`);
        await writeFile(path, await picture(width, height, colour));
        const described = await describeLocally(path, { dateTaken: date ? new Date(date) : null, latitude: 54.5, width, height });
        for (const tag of described.tags) expect(isMeasuredTag(tag.name), tag.name).toBe(true);
        memories.push(memory(`pic${i}`, { date: date?.slice(0, 10) ?? null, caption: null, tags: described.tags.map((t) => t.name) }));
      }
      // The pixel check tags none of these any more (it once said blue, landscape, green, summer...): no theme either.
      const context: StoryContext = { person: { name: 'Rose Ellis', birthDate: null, passingDate: null, description: null }, memories };
      expect(writeExtractiveStory(context, options(StoryStyle.COMPREHENSIVE)).themes).toEqual([]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
