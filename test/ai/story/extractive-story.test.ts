import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { describe, expect, it, vi } from 'vitest';
import { AiProviderError, type StoryContext, type StoryDraft, type StoryMemory, type StoryOptions } from '../../../src/ai/ai.port.js';
import { writeExtractiveStory } from '../../../src/ai/local/extractive-story.js';
import { describeLocally } from '../../../src/ai/local/image-tags.js';
import { narrativeOf } from '../../../src/ai/narrative.js';
import { FileType, StoryStyle } from '../../../src/db/enums.js';
import { hiddenNames, nameScrubber, scrubContext } from '../../../src/domain/story/hidden-names.js';

/**
 * The local writer's memory book, called directly with hand-built contexts: what it is made of
 * (people's words, events, copies once), its order (birth, life, passing, undated, remembrance),
 * what it never says (machine captions, objects, pixel facts, hidden names, filenames, coordinates)
 * and what each style promises. test/story/memory-book.test.ts checks the same book end to end.
 */

const STYLES = [StoryStyle.COMPREHENSIVE, StoryStyle.BRIEF, StoryStyle.FOR_CHILDREN, StoryStyle.EULOGY];
const MONTH = /\b(?:January|February|March|April|May|June|July|August|September|October|November|December)\b/;
const PIXELS = /\b(?:red|orange|yellow|green|teal|blue|purple|pink|brown|grey|gray|sepia|monochrome|mostly|toned?|winter|spring|summer|autumn|portrait|landscape|panoramic)\b/i;
// The stop list of memory-book.test.ts: words no theme may be.
const STOP_WORDS = new Set(
  `a about after again all also am an and any are as at be because been before being but by can could dear did do does
  done down each even ever every few for found from full get got had has have he her here him his how i if in into is it
  its just know like made make many me more most much my never no not now of off on once one only or other our out over
  own said same see she should so some still such than thank thanks that the their them then there these they this those
  through to too under until up very was we well were what when where which while who why will with would you your`.split(/\s+/),
);

function memory(id: string, over: Partial<StoryMemory>): StoryMemory {
  return { id, kind: FileType.IMAGE, title: `IMG_${id}.jpg`, date: null, caption: null, tags: [], transcript: null, text: null, contributor: null, relationship: null, ...over };
}

const TOM_LETTER = 'Dear Rose,\nThe boat came in late again and I thought of you the whole way home. Tell the children I will bring them shells. With all my love, Tom';
const ROUGH = 'had he married a more amiable woman he might have been made still more respectable many watts';
const SONG = 'Rose always said the garden was her second classroom. She sang in the church choir every Christmas until she was eighty.';
const MARY = 'Rose brought us soup every Sunday the year my husband was ill. She never once let us pay her back.';
const PETER = 'Mrs Ellis taught me to read. I still hear her voice when I open a book.';
const MACHINE = 'People with a wine glass and a dog, August 1988.';

/**
 * Rose's chest, with the event each memory belongs to: a letter, two photos of one day at Whitby,
 * three copies of the wedding photo (one undated), a machine caption, a rough and a clear recording,
 * two contributions with messages, an undated photo and two photos dated after the passing.
 */
const EVENT: Record<string, string> = {
  letter52: 'letter',
  pier: 'whitby-1962',
  chips: 'whitby-1962',
  wed1: 'wedding',
  wed2: 'wedding',
  wed3: 'wedding',
  choir: 'choir',
  machine: 'machine',
  rough: 'rough',
  mary: 'mary',
  song: 'song',
  peter: 'peter',
  garden: 'garden',
  after1: 'birthday',
  after2: 'birthday',
};

/** The days in reverse, each day's memories still in the order given. */
const latestDayFirst = (memories: readonly StoryMemory[]) => [...memories].sort((a, b) => ((a.date ?? '') < (b.date ?? '') ? 1 : (a.date ?? '') > (b.date ?? '') ? -1 : 0));

function roseContext(): StoryContext {
  const memories: StoryMemory[] = [
    memory('letter52', { kind: FileType.DOCUMENT, title: 'scan_0001.pdf', date: '1952-05-10', text: TOM_LETTER }),
    memory('pier', { date: '1962-06-01', place: 'Whitby', caption: 'Rose on the pier', people: ['Tom', 'Ann'] }),
    memory('chips', { date: '1962-06-01', place: 'Whitby', caption: 'Fish and chips on the harbour wall', people: ['Tom'] }),
    memory('wed1', { date: '1968-08-20', place: "St Mary's", caption: 'Rose and Tom on their wedding day', people: ['Tom'], duplicateGroup: 'wed1' }),
    memory('wed2', { date: '1968-08-20', people: ['Tom'], duplicateGroup: 'wed1' }),
    memory('wed3', { caption: 'Our wedding day', people: ['Tom'], duplicateGroup: 'wed1' }),
    memory('choir', { date: '1975-12-24', place: 'the church', caption: 'The church choir on Christmas Eve', people: ['Ann'] }),
    memory('machine', { date: '1988-08-06', caption: MACHINE, machineCaption: true, objects: ['wine glass', 'dog'], tags: ['blue', 'summer', 'landscape', '1980s'] }),
    memory('rough', { kind: FileType.AUDIO, title: 'New Recording 3.m4a', date: '1990-05-01', transcript: ROUGH, roughTranscript: true }),
    memory('mary', { date: '1990-04-02', caption: 'Sunday lunch next door', contributor: 'Mary Jones', relationship: 'neighbour', contribution: { id: 'c-mary', message: MARY } }),
    memory('song', { kind: FileType.AUDIO, date: '1995-12-25', transcript: SONG }),
    memory('peter', { caption: 'Rose at the school gate', contributor: 'Peter Hall', relationship: 'former pupil', contribution: { id: 'c-peter', message: PETER } }),
    memory('garden', { caption: 'Her garden with the roses out' }),
    memory('after1', { date: '2020-03-03', place: 'Whitby harbour', caption: 'Together at the harbour on her birthday', people: ['Tom', 'Ann'], afterPassing: true }),
    memory('after2', { date: '2020-03-03', place: 'Whitby harbour', afterPassing: true }),
  ];
  return {
    person: { name: 'Rose Ellis', birthDate: '1931-03-03', passingDate: '2019-11-12', description: 'Rose kept the garden and sang in the church choir.' },
    // Deliberately not in date order: the writer must sort. Within a day, the order they were taken
    // (buildStoryContext's order), which a YYYY-MM-DD date cannot tell: the stable sort keeps it.
    memories: latestDayFirst(memories),
  };
}

/** A chest far larger than a page: 80 captioned photos with four people, 20 letters, over sixty years. */
function bigContext(): StoryContext {
  const context = roseContext();
  for (let i = 0; i < 80; i++) {
    const year = 1950 + (i % 60);
    const place = i % 3 ? 'Whitby' : 'the little church on the hill above the harbour at Robin Hood Bay';
    context.memories.push(memory(`b${i}`, { date: `${year}-0${1 + (i % 9)}-1${i % 10}`, place, caption: `Rose with the neighbours at the fair number ${i}, everyone laughing in the sun`, people: ['Tom', 'Ann', 'Joe', 'Liz'] }));
    if (i % 4 === 0) context.memories.push(memory(`l${i}`, { kind: FileType.DOCUMENT, date: `${year}-11-2${i % 10}`, text: `Dear Rose, I think of you every day in the garden and I hope the roses are well this year ${i}. Love, Ann` }));
  }
  return context;
}

const options = (style: StoryStyle, over: Partial<StoryOptions> = {}): StoryOptions => ({ style, includeTimeline: true, includeThemes: true, ...over });
const write = (context: StoryContext, style: StoryStyle) => writeExtractiveStory(context, options(style));

const byId = new Map(roseContext().memories.map((m) => [m.id, m]));
const ids = new Set(byId.keys());
const squash = (text: string) => text.replace(/\s+/g, ' ').trim();
const wordCount = (text: string) => text.split(/\s+/).filter(Boolean).length;

/** Every word the draft shows anyone: title, paragraphs, timeline, themes. */
function everything(draft: StoryDraft): string {
  return [draft.title, ...draft.paragraphs.map((p) => p.text), ...draft.timeline.flatMap((t) => [t.date, t.title, t.description ?? '']), ...draft.themes.flatMap((t) => [t.name, t.description ?? ''])].join('\n');
}

/** Every “…” in the text, with the quoted words only. */
function quotesIn(text: string): string[] {
  return [...text.matchAll(/“([^”]*)”/g)].map((match) => match[1] ?? '');
}

/** The words people gave a memory, as the writer may quote them. */
function wordsOf(m: StoryMemory): string[] {
  return [m.roughTranscript ? null : m.transcript, m.text, m.contribution?.message ?? null].filter((t): t is string => t !== null).map(squash);
}

describe('the memory book: what it is made of', () => {
  it.each(STYLES)('%s: the local memory-book model, a title with the name (and the life span but for children)', (style) => {
    const draft = write(roseContext(), style);
    expect(draft).toMatchObject({ provider: 'local', model: 'memory-book-v1' });
    expect(draft.title).toContain('Rose Ellis');
    if (style === StoryStyle.FOR_CHILDREN) expect(draft.title).toBe('The story of Rose Ellis');
    else expect(draft.title).toContain('(1931–2019)');
  });

  it.each(STYLES)('%s: every paragraph, entry and theme cites memories of the chest, and nothing else', (style) => {
    const draft = write(roseContext(), style);
    expect(draft.paragraphs.length).toBeGreaterThan(0);
    for (const item of [...draft.paragraphs, ...draft.timeline, ...draft.themes]) {
      expect(item.assetIds.length).toBeGreaterThan(0);
      expect(new Set(item.assetIds).size).toBe(item.assetIds.length);
      for (const id of item.assetIds) expect(ids.has(id), id).toBe(true);
    }
  });

  it('COMPREHENSIVE: the whole book speaks of every memory, the undescribed one counted rather than described', () => {
    const draft = write(roseContext(), StoryStyle.COMPREHENSIVE);
    expect(new Set(draft.paragraphs.flatMap((p) => p.assetIds))).toEqual(ids);
    const machine = draft.paragraphs.find((p) => p.assetIds.includes('machine'))!;
    expect(machine.text).toContain('a photo that nobody has described yet');
  });

  it.each(STYLES)('%s: every quote is verbatim from the words of a memory its paragraph cites', (style) => {
    const draft = write(roseContext(), style);
    const quotes = draft.paragraphs.flatMap((p) => quotesIn(p.text).map((quote) => ({ quote, p })));
    expect(quotes.length).toBeGreaterThanOrEqual(2);
    for (const { quote, p } of quotes) {
      expect(p.assetIds.some((id) => wordsOf(byId.get(id)!).some((words) => words.includes(quote))), quote).toBe(true);
    }
  });

  it('COMPREHENSIVE: a letter, a recording and the guests are quoted and attributed, citing their memories', () => {
    const draft = write(roseContext(), StoryStyle.COMPREHENSIVE);
    const cites = (words: string, id: string) => draft.paragraphs.some((p) => p.text.includes(words) && p.assetIds.includes(id));
    expect(cites('“Dear Rose, The boat came in late again and I thought of you the whole way home.”', 'letter52')).toBe(true);
    expect(cites('“Rose always said the garden was her second classroom.”', 'song')).toBe(true);
    expect(cites(`Mary Jones, Rose's neighbour, remembers: “${MARY}”`, 'mary')).toBe(true);
    expect(cites(`Peter Hall, Rose's former pupil, remembers: “${PETER}”`, 'peter')).toBe(true);
    // A message is told once, however many memories came with it.
    expect(narrativeOf(draft.paragraphs).split(MARY)).toHaveLength(2);
  });

  it.each(STYLES)('%s: never quotes a rough transcript (no four-word run of it anywhere)', (style) => {
    const written = everything(write(roseContext(), style));
    const heard = ROUGH.split(' ');
    for (let i = 0; i + 4 <= heard.length; i++) expect(written).not.toContain(heard.slice(i, i + 4).join(' '));
  });

  it('the rough recording still has its place in the book, cited, and its timeline entry quotes nothing', () => {
    const draft = write(roseContext(), StoryStyle.COMPREHENSIVE);
    expect(draft.paragraphs.find((p) => p.assetIds.includes('rough'))!.text).toContain('On 1 May 1990, a recording.');
    expect(draft.timeline.find((t) => t.assetIds.includes('rough'))).toMatchObject({ date: '1990-05-01', description: null });
  });

  it.each(STYLES)('%s: machine captions, objects seen, tags and pixel facts are never words of the book', (style) => {
    const written = everything(write(roseContext(), style));
    expect(written).not.toMatch(/wine glass|\bdog\b|People with|August 1988/i);
    expect(written).not.toMatch(PIXELS);
  });

  it('a machine caption and the objects seen in two photos make no theme; the same word in people’s captions does', () => {
    const person = { name: 'Rose Ellis', birthDate: null, passingDate: null, description: null };
    const seen = (id: string, date: string) => memory(id, { date, caption: 'A dog on a beach, July 1980.', machineCaption: true, objects: ['dog', 'kite'], tags: ['dog', 'blue'] });
    const machine = write({ person, memories: [seen('a', '1980-07-01'), seen('b', '1981-07-01'), seen('c', '1982-07-01')] }, StoryStyle.COMPREHENSIVE);
    expect(machine.themes).toEqual([]);
    expect(everything(machine)).not.toMatch(/dog|kite|beach/i);
    const typed = (id: string, date: string, caption: string) => memory(id, { date, caption });
    const people = write({ person, memories: [typed('a', '1980-07-01', 'Rose walking the dog'), typed('b', '1981-07-01', 'The dog asleep by the fire')] }, StoryStyle.COMPREHENSIVE);
    expect(people.themes.map((t) => [t.name, t.assetIds])).toEqual([['dog', ['a', 'b']]]);
    // A tag a person gave is their word too; the same word among the AI's tags is not.
    const tagged = (id: string, date: string, own: boolean) => memory(id, { date, tags: ['sailing', 'boat'], ...(own && { ownTags: ['sailing'] }) });
    const own = write({ person, memories: [tagged('a', '1980-07-01', true), tagged('b', '1981-07-01', true), tagged('c', '1982-07-01', false)] }, StoryStyle.COMPREHENSIVE);
    expect(own.themes.map((t) => [t.name, t.assetIds])).toEqual([['sailing', ['a', 'b']]]);
  });

  it.each(STYLES)('%s: themes each backed by two events or more, in those events’ own words, never a stop word or a name', (style) => {
    const draft = write(roseContext(), style);
    expect(draft.themes.length).toBeGreaterThan(0);
    for (const theme of draft.themes) {
      expect(theme.name.toLowerCase().split(' ').some((w) => STOP_WORDS.has(w)), theme.name).toBe(false);
      expect(theme.name).not.toMatch(/\b(?:rose|ellis|tom|ann)\b/i);
      const events = new Set(theme.assetIds.map((id) => EVENT[id]));
      expect(events.size, theme.name).toBeGreaterThanOrEqual(2);
      // At least two of its events say the word in what people typed, wrote or said.
      const saying = [...events].filter((event) =>
        [...byId.values()].some((m) => EVENT[m.id] === event && !m.machineCaption && [m.caption, m.place, ...wordsOf(m)].join(' ').toLowerCase().includes(theme.name.toLowerCase())),
      );
      expect(saying.length, theme.name).toBeGreaterThanOrEqual(2);
    }
    expect(draft.themes.map((t) => t.name)).toEqual(expect.arrayContaining(['church choir', 'harbour', 'garden']));
  });

  it('themes say truly what they count, keep the capitals of names, and leave out a place word that only repeats another theme’s memories', () => {
    const context: StoryContext = {
      person: { name: 'Rose Ellis', birthDate: null, passingDate: null, description: null },
      memories: [
        memory('a', { date: '1962-06-01', place: 'Whitby', caption: 'Rose on the harbour wall' }),
        memory('b', { date: '1962-06-01', place: 'Whitby', caption: 'Chips by the harbour' }),
        memory('c', { date: '1975-07-01', caption: 'A day out to Whitby' }),
        memory('d', { date: '2020-03-03', place: 'Whitby harbour', caption: 'Together by the harbour' }),
        // "bread" and "bakery" come together in both: two things said of the same memories, both kept.
        memory('e', { date: '1980-01-05', caption: 'Bread from the bakery' }),
        memory('f', { date: '1985-01-05', caption: 'Bakery bread again' }),
        // "Scarborough" is only where "donkeys" happened: a place word beside a theme of the same memories goes.
        memory('g', { date: '1990-08-01', place: 'Scarborough', caption: 'Donkeys on the sand' }),
        memory('h', { date: '1991-08-01', place: 'Scarborough', caption: 'The donkeys again' }),
      ],
    };
    const themes = write(context, StoryStyle.COMPREHENSIVE).themes;
    expect(themes).toEqual([
      { name: 'Whitby', description: "In people's words on three occasions, in 1962, 1975 and 2020.", assetIds: ['a', 'b', 'c', 'd'] },
      { name: 'harbour', description: "In people's words on two occasions, in 1962 and 2020.", assetIds: ['a', 'b', 'd'] },
      { name: 'bakery', description: "In people's words on two occasions, in 1980 and 1985.", assetIds: ['e', 'f'] },
      { name: 'bread', description: "In people's words on two occasions, in 1980 and 1985.", assetIds: ['e', 'f'] },
      { name: 'donkeys', description: "In people's words on two occasions, in 1990 and 1991.", assetIds: ['g', 'h'] },
    ]);
  });

  it('one day and one place is one event, told once and cited by all its memories', () => {
    const draft = write(roseContext(), StoryStyle.COMPREHENSIVE);
    const text = narrativeOf(draft.paragraphs);
    expect(text.match(/1 June 1962/g)).toHaveLength(1);
    expect(text).toContain('On 1 June 1962 at Whitby, two photos with Tom and Ann: Rose on the pier; Fish and chips on the harbour wall.');
    expect(draft.paragraphs.find((p) => p.text.includes('Rose on the pier'))!.assetIds).toEqual(expect.arrayContaining(['pier', 'chips']));
    expect(draft.timeline.filter((t) => t.date === '1962-06-01').map((t) => t.assetIds)).toEqual([['pier', 'chips']]);
    expect(draft.timeline.filter((t) => t.date === '2020-03-03').map((t) => t.assetIds)).toEqual([['after1', 'after2']]);
  });

  it('the same day in two places is two events; a memory without a full date stands alone', () => {
    const context: StoryContext = {
      person: { name: 'Rose Ellis', birthDate: null, passingDate: null, description: null },
      memories: [
        memory('w', { date: '1962-06-01', place: 'Whitby', caption: 'Rose on the pier' }),
        memory('s', { date: '1962-06-01', place: 'Scarborough', caption: 'Tea at the Grand' }),
        memory('m1', { date: '1962-07', caption: 'Rose in the garden' }),
        memory('m2', { date: '1962-07', caption: 'The garden gate' }),
      ],
    };
    const draft = write(context, StoryStyle.COMPREHENSIVE);
    expect(draft.timeline.map((t) => [t.date, t.assetIds])).toEqual([
      ['1962-06-01', ['w']],
      ['1962-06-01', ['s']],
      ['1962-07', ['m1']],
      ['1962-07', ['m2']],
    ]);
  });

  it.each(STYLES)('%s: copies of one picture (duplicateGroup) are told once and all cited where it is told', (style) => {
    const draft = write(roseContext(), style);
    const text = narrativeOf(draft.paragraphs);
    expect(text.match(/wedding day/g)).toHaveLength(1);
    expect(text).not.toContain('Our wedding day');
    expect(text).not.toMatch(/(?:two|three) photos with Tom: Rose and Tom/);
    expect(draft.paragraphs.find((p) => p.text.includes('wedding day'))!.assetIds).toEqual(expect.arrayContaining(['wed1', 'wed2', 'wed3']));
    const entries = draft.timeline.filter((t) => t.assetIds.some((id) => id.startsWith('wed')));
    expect(entries.map((t) => t.assetIds)).toEqual([['wed1', 'wed2', 'wed3']]);
  });
});

describe('the memory book: its order', () => {
  it('COMPREHENSIVE: birth, the decades in order, the passing, the undated, then the remembrance', () => {
    const draft = write(roseContext(), StoryStyle.COMPREHENSIVE);
    const text = narrativeOf(draft.paragraphs);
    expect(text.startsWith('Rose Ellis was born on 3 March 1931. Rose kept the garden and sang in the church choir.')).toBe(true);
    const order = ['born on 3 March 1931', '**The 1950s.**', '**The 1960s: Whitby', '**The 1970s', '**The 1980s', '**The 1990s', 'died on 12 November 2019', '**Without a date.**', '**Remembering Rose.**', 'After Rose died'];
    const at = order.map((s) => text.indexOf(s));
    expect(at.every((i) => i >= 0), JSON.stringify(at)).toBe(true);
    expect([...at].sort((a, b) => a - b)).toEqual(at);
    // A chapter is headed by the places and the people its memories mark.
    expect(text).toContain("**The 1960s: Whitby and St Mary's, with Tom and Ann.**");
    const remembrance = draft.paragraphs.at(-1)!;
    expect(remembrance.text.startsWith('**Remembering Rose.**')).toBe(true);
    expect(remembrance.assetIds).toEqual(expect.arrayContaining(['after1', 'after2', 'mary', 'peter']));
    expect(draft.timeline.map((t) => t.date)).toEqual([...draft.timeline.map((t) => t.date)].sort());
  });

  it('splits a decade into periods where the memories mark one: a move, or other people appearing', () => {
    const context: StoryContext = {
      person: { name: 'Rose Ellis', birthDate: null, passingDate: null, description: null },
      memories: [
        memory('w1', { date: '1961-05-01', place: 'Whitby', caption: 'The cottage', people: ['Tom'] }),
        memory('w2', { date: '1962-05-01', place: 'Whitby', caption: 'The garden gate', people: ['Tom'] }),
        memory('w3', { date: '1963-05-01', place: 'Whitby', caption: 'Snow on the step' }),
        // A move: Tom came too, and it is still a new period.
        memory('l1', { date: '1966-05-01', place: 'Leeds', caption: 'The new house', people: ['Joe', 'Tom'] }),
        memory('l2', { date: '1968-05-01', place: 'Leeds', caption: 'Joe in the yard', people: ['Joe', 'Liz'] }),
        // One event in each place: no period of its own, the decade stays one chapter.
        memory('x1', { date: '1971-05-01', place: 'Whitby', caption: 'Back for a visit' }),
        memory('x2', { date: '1975-05-01', place: 'Leeds', caption: 'The yard again' }),
        // Other people, no places: the company marks the period.
        memory('p1', { date: '1981-05-01', caption: 'Tea in the garden', people: ['Tom'] }),
        memory('p2', { date: '1982-05-01', caption: 'A walk', people: ['Tom'] }),
        memory('p3', { date: '1986-05-01', caption: 'The new neighbours', people: ['Joe', 'Liz'] }),
        memory('p4', { date: '1988-05-01', caption: 'Cards on a Friday', people: ['Joe'] }),
      ],
    };
    const headings = write(context, StoryStyle.COMPREHENSIVE).paragraphs.flatMap((p) => [...p.text.matchAll(/\*\*([^*]+)\*\*/g)].map((h) => h[1]));
    expect(headings).toEqual(['1961–1963: Whitby, with Tom.', '1966–1968: Leeds, with Joe, Tom and Liz.', 'The 1970s: Whitby and Leeds.', '1981–1982, with Tom.', '1986–1988, with Joe and Liz.']);
  });

  it.each(STYLES)('%s: undated memories come after every dated memory of the life, and before what came after the passing', (style) => {
    const draft = write(roseContext(), style);
    const text = narrativeOf(draft.paragraphs);
    const undated = text.indexOf('Rose at the school gate');
    const dated = ['Rose on the pier', 'wedding day', 'Christmas Eve', 'second classroom'].map((s) => text.indexOf(s)).filter((i) => i >= 0);
    expect(dated.length).toBeGreaterThan(0);
    if (undated >= 0) {
      for (const i of dated) expect(i).toBeLessThan(undated);
      const after = text.indexOf('on her birthday');
      if (after >= 0) expect(undated).toBeLessThan(after);
    }
  });

  it('a memory dated after a full passing date belongs to the remembrance even when not marked', () => {
    const context: StoryContext = {
      person: { name: 'Rose Ellis', birthDate: '1931-03-03', passingDate: '2019-11-12', description: null },
      memories: [memory('before', { date: '2019-06-01', caption: 'Rose in her chair by the window' }), memory('later', { date: '2019-12-25', caption: 'Christmas without her' })],
    };
    const text = narrativeOf(write(context, StoryStyle.COMPREHENSIVE).paragraphs);
    expect(text.indexOf('by the window')).toBeLessThan(text.indexOf('died on 12 November 2019'));
    expect(text.indexOf('died on 12 November 2019')).toBeLessThan(text.indexOf('**Remembering Rose.**'));
    expect(text.indexOf('**Remembering Rose.**')).toBeLessThan(text.indexOf('Christmas without her'));
  });

  it('keeps partial dates as given and treats unreadable ones as undated', () => {
    const context: StoryContext = {
      person: { name: 'Rose Ellis', birthDate: '1931', passingDate: null, description: null },
      memories: [
        memory('y', { date: '1950', caption: 'Rose by the sea' }),
        memory('ym', { date: '1950-03', caption: 'The sea wall in the storm' }),
        memory('bad', { date: 'sometime', caption: 'A season at the seaside' }),
      ],
    };
    const draft = write(context, StoryStyle.COMPREHENSIVE);
    expect(draft.title).toBe('The life of Rose Ellis (born 1931)');
    expect(draft.timeline.map((e) => [e.date, e.assetIds])).toEqual([
      ['1950', ['y']],
      ['1950-03', ['ym']],
    ]);
    const text = narrativeOf(draft.paragraphs);
    expect(text).toContain('In March 1950, a photo: The sea wall in the storm.');
    expect(text.indexOf('The sea wall')).toBeLessThan(text.indexOf('**Without a date.**'));
    expect(text.indexOf('**Without a date.**')).toBeLessThan(text.indexOf('A season at the seaside'));
    // "season" and "seaside" are not "sea".
    expect(draft.themes.find((t) => t.name === 'sea')?.assetIds).toEqual(['y', 'ym']);
  });
});

describe('the memory book: the styles', () => {
  it('BRIEF: one page (at most 300 words in two paragraphs) even for a large chest, keeping quotes, the passing and the remembrance', () => {
    for (const context of [roseContext(), bigContext()]) {
      const draft = write(context, StoryStyle.BRIEF);
      const text = narrativeOf(draft.paragraphs);
      expect(wordCount(text)).toBeLessThanOrEqual(300);
      expect(draft.paragraphs.length).toBeLessThanOrEqual(2);
      expect(quotesIn(text).length).toBeGreaterThan(0);
      expect(text).toContain('Rose died on 12 November 2019.');
      expect(text).toContain('Since Rose died:');
      expect(text.length).toBeLessThan(narrativeOf(write(context, StoryStyle.COMPREHENSIVE).paragraphs).length);
    }
  });

  it('FOR_CHILDREN: short sentences and years only, even where people’s captions, places and words carry a month or a date', () => {
    const dated = bigContext();
    dated.memories.push(
      memory('bday', { date: '1971-03-03', caption: 'Rose on her birthday, 3 March 1971' }),
      memory('junegarden', { date: '1972-06-10', caption: 'The garden in June' }),
      memory('placed', { date: '1973-05-01', place: 'Whitby, May 1973', caption: 'Rose and the boats' }),
      memory('note', { kind: FileType.DOCUMENT, date: '1974-02-01', text: 'Dear Rose, we will come on the 3rd of March as planned. The children are so excited to see you again.' }),
      memory('guest', { date: '1976-01-01', contributor: 'Sue', contribution: { id: 'c-sue', message: 'Rose babysat for us every Friday. She came round on 12/10/1976 with a cake.' } }),
    );
    for (const context of [roseContext(), dated]) {
      const draft = write(context, StoryStyle.FOR_CHILDREN);
      const text = narrativeOf(draft.paragraphs);
      expect(everything(draft)).not.toMatch(MONTH);
      expect(everything(draft)).not.toMatch(/\d{1,4}[/.-]\d{1,2}/);
      for (const entry of draft.timeline) expect(entry.date).toMatch(/^\d{4}$/);
      for (const s of text.replace(/“[^”]*”/g, 'Q.').split(/(?<=[.!?:])\s+/)) expect(wordCount(s), s).toBeLessThanOrEqual(16);
      expect(text).toContain('Rose was born in 1931.');
      expect(text).toContain('Rose died in 2019.');
    }
    const text = narrativeOf(write(dated, StoryStyle.FOR_CHILDREN).paragraphs);
    // The words that do not say a month are still told; the guest's first sentence still quoted.
    expect(text).toContain('Rose babysat for us every Friday.');
    expect(text).not.toContain('with a cake');
  });

  it('EULOGY: spoken to her, within 450 words (about three minutes) even for a large chest', () => {
    for (const context of [roseContext(), bigContext()]) {
      const draft = write(context, StoryStyle.EULOGY);
      const text = narrativeOf(draft.paragraphs);
      expect(wordCount(text)).toBeLessThanOrEqual(450);
      expect(wordCount(text)).toBeGreaterThan(100);
      expect(text.startsWith('We are here to remember Rose Ellis, who was born on 3 March 1931 and died on 12 November 2019.')).toBe(true);
      expect(text).toMatch(/\byou\b/);
      expect(text.endsWith('Rose, we will keep remembering you.')).toBe(true);
      expect(text).not.toMatch(/\*\*/);
    }
    const text = narrativeOf(write(roseContext(), StoryStyle.EULOGY).paragraphs);
    expect(text).toContain(`Mary Jones, your neighbour, remembers: “${MARY}”`);
    expect(text).toContain('Since you left us, Rose, we have gone on keeping memories.');
  });

  it.each(STYLES)('%s: a large chest keeps its citations valid and its book in order', (style) => {
    const context = bigContext();
    const known = new Set(context.memories.map((m) => m.id));
    const draft = write(context, style);
    for (const item of [...draft.paragraphs, ...draft.timeline, ...draft.themes]) {
      expect(item.assetIds.length).toBeGreaterThan(0);
      for (const id of item.assetIds) expect(known.has(id)).toBe(true);
    }
    const text = narrativeOf(draft.paragraphs);
    // The years the events are told at ("On 10 May 1952", "In 1962, there", "We remember 1 June 1962"), oldest first.
    const years = [...text.matchAll(/(?:\bOn \d{1,2} [A-Z][a-z]+ |\bIn |We remember (?:\d{1,2} [A-Z][a-z]+ )?)(\d{4})\b/g)].map((m) => Number(m[1]));
    expect(years).toEqual([...years].sort((a, b) => a - b));
    if (style === StoryStyle.COMPREHENSIVE) expect(years.length).toBeGreaterThan(80);
  });
});

describe('the memory book: little material', () => {
  it.each(STYLES)('%s: a chest with little in it gets a short book that says so, and a full chest does not', (style) => {
    const context: StoryContext = {
      person: { name: 'Tom', birthDate: null, passingDate: null, description: null },
      memories: [memory('a', { date: '1980-05-01', caption: 'Tom at the allotment' }), memory('b', { date: '1981-05-01' })],
    };
    const draft = write(context, style);
    const text = narrativeOf(draft.paragraphs);
    expect(text).toContain('The chest holds only a few memories so far, so this book is short');
    expect(draft.paragraphs.length).toBeLessThanOrEqual(2);
    expect(wordCount(text)).toBeLessThan(80);
    expect(narrativeOf(write(roseContext(), style).paragraphs)).not.toContain('only a few memories');
  });

  it.each(STYLES)('%s: memories nobody described are only counted, and cited', (style) => {
    const context: StoryContext = {
      person: { name: 'Tom', birthDate: null, passingDate: null, description: null },
      memories: [memory('a', { date: '1980-05-01' }), memory('b', { kind: FileType.AUDIO, title: 'New Recording.m4a' })],
    };
    const draft = write(context, style);
    const text = narrativeOf(draft.paragraphs);
    expect(draft.paragraphs.flatMap((p) => p.assetIds).sort()).toEqual(['a', 'b']);
    expect(text).toContain('only a few memories');
    if (style === StoryStyle.COMPREHENSIVE) {
      // The whole book counts them where they belong: the 1980s, then without a date.
      expect(draft.paragraphs.map((p) => p.assetIds)).toEqual([['a'], ['b']]);
      expect(text).toContain('**The 1980s.** The chest also keeps a photo that nobody has described yet.');
      expect(text).toContain('**Without a date.** The chest also keeps a recording that nobody has described yet.');
    } else {
      expect(draft.paragraphs).toHaveLength(1);
      expect(text).toContain('a photo and a recording that nobody has described yet');
    }
  });

  it('writes a short but valid story from one undated recording of a person with no dates', () => {
    const context: StoryContext = {
      person: { name: 'Tom', birthDate: null, passingDate: null, description: null },
      memories: [memory('only', { kind: FileType.AUDIO, title: 'Tom laughing.m4a', transcript: 'Tom laughed at his own jokes before the punchline.' })],
    };
    for (const style of STYLES) {
      const draft = write(context, style);
      expect(draft.paragraphs.length).toBe(1);
      expect(draft.paragraphs[0]!.assetIds).toEqual(['only']);
      expect(draft.paragraphs[0]!.text).toContain('“Tom laughed at his own jokes before the punchline.”');
      expect(draft.timeline).toEqual([]);
      expect(draft.title).not.toMatch(/\(/);
      expect(draft.paragraphs[0]!.text).not.toMatch(/born|died/);
    }
  });

  it('refuses to write from no memories, with a final error people can read', () => {
    const empty: StoryContext = { ...roseContext(), memories: [] };
    let error: unknown;
    try {
      writeExtractiveStory(empty, options(StoryStyle.COMPREHENSIVE));
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(AiProviderError);
    expect((error as AiProviderError).retryable).toBe(false);
    expect((error as Error).message).toMatch(/no memories/);
  });
});

describe('the memory book: as a writer behaves', () => {
  it.each(STYLES)('%s: deterministic, and independent of the order the days arrive in', (style) => {
    const a = write(roseContext(), style);
    expect(write(roseContext(), style)).toEqual(a);
    const oldestFirst = roseContext();
    oldestFirst.memories.sort((x, y) => ((x.date ?? '\uffff') < (y.date ?? '\uffff') ? -1 : (x.date ?? '\uffff') > (y.date ?? '\uffff') ? 1 : 0));
    expect(write(oldestFirst, style)).toEqual(a);
    const undatedFirst = roseContext();
    undatedFirst.memories.sort((x, y) => ((x.date ?? '') < (y.date ?? '') ? -1 : (x.date ?? '') > (y.date ?? '') ? 1 : 0));
    expect(write(undatedFirst, style)).toEqual(a);
  });

  it("tells a day's memories, and the people in them, in the order they were taken (the context's order)", () => {
    const day = (first: StoryMemory, second: StoryMemory): StoryContext => ({ person: { name: 'Rose Ellis', birthDate: null, passingDate: null, description: null }, memories: [first, second] });
    const pier = memory('pier', { date: '1962-06-01', place: 'Whitby', caption: 'Rose on the pier', people: ['Ann', 'Tom'] });
    const chips = memory('chips', { date: '1962-06-01', place: 'Whitby', caption: 'Fish and chips on the harbour wall', people: ['Tom', 'Joe'] });
    const morning = write(day(pier, chips), StoryStyle.COMPREHENSIVE).paragraphs.map((p) => p.text).join(' ');
    expect(morning).toContain('two photos with Ann, Tom and Joe: Rose on the pier; Fish and chips on the harbour wall.');
    const noon = write(day(chips, pier), StoryStyle.COMPREHENSIVE).paragraphs.map((p) => p.text).join(' ');
    expect(noon).toContain('two photos with Tom, Joe and Ann: Fish and chips on the harbour wall; Rose on the pier.');
  });

  it.each(STYLES)('%s: leaves out the timeline and themes when not asked for', (style) => {
    const draft = writeExtractiveStory(roseContext(), options(style, { includeTimeline: false, includeThemes: false }));
    expect(draft.timeline).toEqual([]);
    expect(draft.themes).toEqual([]);
    expect(draft.paragraphs).toEqual(write(roseContext(), style).paragraphs);
  });

  it.each(STYLES)('%s: streams the narrative once per paragraph, ending with the whole of it', (style) => {
    const onNarrative = vi.fn<(soFar: string) => void>();
    const draft = writeExtractiveStory(roseContext(), options(style), onNarrative);
    const calls = onNarrative.mock.calls.map(([soFar]) => soFar);
    expect(draft.paragraphs.length).toBeGreaterThan(1);
    expect(calls).toHaveLength(draft.paragraphs.length);
    calls.forEach((soFar, i) => {
      expect(soFar).toBe(narrativeOf(draft.paragraphs.slice(0, i + 1)));
      if (i > 0) expect(soFar.startsWith(`${calls[i - 1]}\n\n`)).toBe(true);
    });
  });

  it.each(STYLES)('%s: a person the family hid is named nowhere once the context is scrubbed, and the book still tells their memories', (style) => {
    // Tom is hidden: the context builder leaves him out of `people`; his name in people's words is rewritten.
    const context = roseContext();
    for (const m of context.memories) if (m.people) m.people = m.people.filter((p) => p !== 'Tom');
    context.memories.push(memory('tomfile', { title: 'Tom_Baker_birthday.jpg', date: '1977-04-04', caption: 'Tom Baker blowing out the candles', place: "Tom's flat" }));
    const scrubbed = scrubContext(context, nameScrubber(hiddenNames({ hidden: ['Tom Baker'], shown: ['Rose Ellis', 'Ann'] })));
    const draft = write(scrubbed, style);
    expect(everything(draft)).not.toMatch(/\bTom\b|Baker/);
    expect(everything(draft)).toContain('Ann');
    if (style === StoryStyle.COMPREHENSIVE) expect(narrativeOf(draft.paragraphs)).toMatch(/[Ss]omeone blowing out the candles/);
  });

  it.each(STYLES)('%s: never names a filename, and no coordinates even when the context carries them', (style) => {
    const context = roseContext();
    // A careless caller passing more than the port allows: the writer reads only what it may.
    for (const m of context.memories) Object.assign(m, { latitude: 54.486_123, longitude: -0.615_987, storageKey: `chests/c1/${m.id}.jpg` });
    const written = everything(write(context, style));
    expect(written).not.toMatch(/54\.48|0\.61|latitude|longitude|chests\/|\.jpe?g|\.pdf|\.m4a|IMG_|scan_|New Recording/);
  });
});

describe('places in the family’s words', () => {
  function placesContext(): StoryContext {
    return {
      person: { name: 'Rose Ellis', birthDate: null, passingDate: null, description: null },
      memories: [
        memory('p1', { date: '1962-06-01', caption: 'Rose on the pier', place: 'Whitby' }),
        memory('p2', { date: '1962-06-02', place: 'In the garden', people: ['Ann'] }),
        memory('p3', { date: '1963-08-02', caption: 'Fish and chips in Whitby', place: 'whitby' }),
        memory('p4', { kind: FileType.AUDIO, title: 'New Recording 4.m4a', place: '  Scarborough.  ' }),
      ],
    };
  }

  it('COMPREHENSIVE: "at" the place unless the family gave their own preposition, said once, tidied', () => {
    const draft = write(placesContext(), StoryStyle.COMPREHENSIVE);
    const text = narrativeOf(draft.paragraphs);
    expect(text).toContain('On 1 June 1962 at Whitby, a photo: Rose on the pier.');
    expect(text).toContain('On 2 June 1962 in the garden, a photo with Ann.');
    // The caption already says where: it is not said twice.
    expect(text).toContain('On 2 August 1963, a photo: Fish and chips in Whitby.');
    expect(text).toContain('Without a date at Scarborough, a recording.');
    expect(text).not.toMatch(/at In|and In|Scarborough\.\.| {2}/);
    // A chapter's heading names its places as places, in any case once.
    expect(text).toContain('**The 1960s: Whitby and the garden, with Ann.**');
    expect(text).toContain('**Without a date: Scarborough.**');
    expect(draft.timeline.map((e) => [e.date, e.title])).toEqual([
      ['1962-06-01', 'Rose on the pier at Whitby'],
      ['1962-06-02', 'A photo with Ann in the garden'],
      ['1963-08-02', 'Fish and chips in Whitby'],
    ]);
  });

  it('FOR_CHILDREN: says where in a short sentence, and leaves out a place too long for one', () => {
    const context = placesContext();
    context.memories.push(memory('p5', { date: '1964-01-01', caption: 'The chapel', place: 'the little church on the hill above the harbour at Robin Hood Bay' }));
    const text = narrativeOf(write(context, StoryStyle.FOR_CHILDREN).paragraphs);
    expect(text).toContain('In 1962, there is a photo from Whitby. It says: Rose on the pier.');
    expect(text).toContain('In 1962, there is a photo from the garden. Ann is in it.');
    expect(text).toContain('In 1964, there is a photo. It says: The chapel.');
    expect(text).not.toContain('Robin Hood');
  });
});

/**
 * What the local describer measures rather than sees (src/ai/local/image-tags.ts): colours, shape,
 * tone, "document", and decade and season from the date. Facts of the pixels or the calendar, not
 * of a life: whatever of these it gives, no theme may come of them.
 */
const MEASURED_TAGS: ReadonlySet<string> = new Set([
  'person',
  ...['red', 'orange', 'yellow', 'green', 'teal', 'blue', 'purple', 'pink', 'brown', 'black', 'white', 'grey', 'gray'],
  ...['portrait', 'landscape', 'square', 'panorama'],
  ...['black and white', 'sepia', 'document'],
  ...['winter', 'spring', 'summer', 'autumn'],
]);
const isMeasuredTag = (tag: string) => MEASURED_TAGS.has(tag.trim().toLowerCase()) || /^\d{3,4}s$/.test(tag.trim().toLowerCase());

describe('themes are about the life, not the pixels', () => {
  it('finds no theme in what the local describer says of real pictures', async () => {
    const picture = (width: number, height: number, background: string) => sharp({ create: { width, height, channels: 3, background } }).png().toBuffer();
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
      const context: StoryContext = { person: { name: 'Rose Ellis', birthDate: null, passingDate: null, description: null }, memories };
      const draft = write(context, StoryStyle.COMPREHENSIVE);
      expect(draft.themes).toEqual([]);
      expect(everything(draft)).not.toMatch(PIXELS);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
