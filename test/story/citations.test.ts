import { describe, expect, it } from 'vitest';
import type { StoryDraft } from '../../src/ai/ai.port.js';
import { narrativeOf } from '../../src/ai/narrative.js';
import { validateCitations } from '../../src/domain/story/citations.js';

const allowed: ReadonlySet<string> = new Set(['a', 'b', 'c']);

function validDraft(): StoryDraft {
  return {
    provider: 'openai',
    model: 'gpt-test',
    title: 'The life of Rose',
    paragraphs: [
      { text: 'Rose planted the apple tree.', assetIds: ['a'] },
      { text: 'She sang in the choir.', assetIds: ['b', 'c'] },
    ],
    timeline: [{ date: '1962-06-01', title: 'The apple tree', description: 'Planted in June.', assetIds: ['a'] }],
    themes: [{ name: 'choir', description: 'Appears in 2 memories.', assetIds: ['b', 'c'] }],
  };
}

describe('validateCitations', () => {
  it('leaves a valid draft exactly as it was', () => {
    const { draft, report } = validateCitations(validDraft(), allowed);
    expect(draft).toEqual(validDraft());
    expect(report).toEqual({ droppedParagraphs: 0, droppedTimelineEntries: 0, droppedThemes: 0, removedIds: 0 });
  });

  it('removes foreign and repeated ids but keeps claims that still cite a memory', () => {
    const input = validDraft();
    input.paragraphs[1]!.assetIds = ['b', 'other-chest', 'b', 'c'];
    input.themes[0]!.assetIds = ['hidden', 'c'];
    const { draft, report } = validateCitations(input, allowed);
    expect(draft.paragraphs[1]!.assetIds).toEqual(['b', 'c']);
    expect(draft.themes[0]!.assetIds).toEqual(['c']);
    expect(report).toEqual({ droppedParagraphs: 0, droppedTimelineEntries: 0, droppedThemes: 0, removedIds: 3 });
  });

  it('drops every paragraph, entry and theme left citing nothing, keeping the order of the rest', () => {
    const input = validDraft();
    input.paragraphs = [
      { text: 'Uncited claim.', assetIds: [] },
      { text: 'Rose planted the apple tree.', assetIds: ['a'] },
      { text: 'Invented.', assetIds: ['x', 'y'] },
      { text: 'She sang in the choir.', assetIds: ['b'] },
    ];
    input.timeline.push({ date: '1970', title: 'Made up', description: null, assetIds: ['z'] });
    input.themes.unshift({ name: 'sea', description: null, assetIds: [] });
    const { draft, report } = validateCitations(input, allowed);
    expect(draft.paragraphs.map((p) => p.text)).toEqual(['Rose planted the apple tree.', 'She sang in the choir.']);
    expect(draft.timeline.map((e) => e.title)).toEqual(['The apple tree']);
    expect(draft.themes.map((t) => t.name)).toEqual(['choir']);
    expect(report).toEqual({ droppedParagraphs: 2, droppedTimelineEntries: 1, droppedThemes: 1, removedIds: 3 });
  });

  it('trims text and drops what is empty once trimmed', () => {
    const input = validDraft();
    input.title = '  The life of Rose \n';
    input.paragraphs = [
      { text: '  \n ', assetIds: ['a'] },
      { text: '\n Rose planted the apple tree.  ', assetIds: ['a'] },
    ];
    input.timeline = [
      { date: ' 1962 ', title: '  Tree ', description: '   ', assetIds: ['a'] },
      { date: '1963', title: ' ', description: 'No title', assetIds: ['b'] },
    ];
    input.themes = [{ name: '   ', description: null, assetIds: ['c'] }];
    const { draft, report } = validateCitations(input, allowed);
    expect(draft.title).toBe('The life of Rose');
    expect(draft.paragraphs).toEqual([{ text: 'Rose planted the apple tree.', assetIds: ['a'] }]);
    expect(draft.timeline).toEqual([{ date: '1962', title: 'Tree', description: null, assetIds: ['a'] }]);
    expect(draft.themes).toEqual([]);
    expect(report).toEqual({ droppedParagraphs: 1, droppedTimelineEntries: 1, droppedThemes: 1, removedIds: 0 });
  });

  it('does not change the draft it is given', () => {
    const input = validDraft();
    input.paragraphs[0]!.assetIds = ['a', 'nope'];
    const copy = structuredClone(input);
    validateCitations(input, allowed);
    expect(input).toEqual(copy);
  });

  it('keeps who made the draft', () => {
    const { draft } = validateCitations({ ...validDraft(), paragraphs: [] }, allowed);
    expect(draft.provider).toBe('openai');
    expect(draft.model).toBe('gpt-test');
  });
});

describe('narrativeOf', () => {
  it('joins paragraph texts with a blank line', () => {
    expect(narrativeOf(validDraft().paragraphs)).toBe('Rose planted the apple tree.\n\nShe sang in the choir.');
    expect(narrativeOf([])).toBe('');
  });
});
