import { describe, expect, it } from 'vitest';
import type { Analysis } from '../../src/db/entities/asset.types.js';
import { recomposedCaption } from '../../src/domain/people/captions.js';

/** Which captions the family's decisions rewrite (domain/people/captions.ts), and into what. */
describe('recomposing a machine caption', () => {
  const at = new Date('2024-01-01T00:00:00Z');
  const objects = [
    { label: 'person', count: 3 },
    { label: 'wine glass', count: 1 },
  ];
  const described = (caption: string | null, over: Partial<Analysis> = {}): Analysis => ({
    task: 'describeImage',
    status: 'DONE',
    provider: 'local',
    model: 'centernet-coco',
    error: null,
    at,
    caption,
    composedFrom: { by: 'local', objects },
    ...over,
  });
  const june1962 = new Date(Date.UTC(1962, 5, 1, 10));
  const base = { people: ['Rose'], place: 'Whitby', dateTaken: june1962 };

  it('names the people, says where and when, from the objects the model saw', () => {
    const machine = 'People with a wine glass in Whitby, June 1962.';
    expect(recomposedCaption({ ...base, caption: machine, analyses: [described(machine)] })).toBe('Rose and others with a wine glass in Whitby, June 1962.');
    expect(recomposedCaption({ ...base, people: ['Rose', 'Tom', 'Ann'], caption: machine, analyses: [described(machine)] })).toBe('Rose, Tom and Ann with a wine glass in Whitby, June 1962.');
    // Nobody named (again): back to what the model saw.
    expect(recomposedCaption({ ...base, people: [], caption: 'Rose and others with a wine glass in Whitby, June 1962.', analyses: [described('Rose and others with a wine glass in Whitby, June 1962.')] })).toBe(machine);
  });

  it('a machine caption that was null (nothing known) is the machine\'s too, and gets one once something is known', () => {
    const bare = described(null, { composedFrom: { by: 'local', objects: [] } });
    expect(recomposedCaption({ people: [], place: null, dateTaken: null, caption: null, analyses: [bare] })).toBeNull();
    expect(recomposedCaption({ people: [], place: 'Whitby', dateTaken: null, caption: null, analyses: [bare] })).toBe('In Whitby.');
  });

  it("never rewrites a person's caption, nor one a person cleared", () => {
    const machine = 'People with a wine glass in Whitby, June 1962.';
    expect(recomposedCaption({ ...base, caption: "Grandma's eightieth", analyses: [described(machine)] })).toBeUndefined();
    expect(recomposedCaption({ ...base, caption: null, analyses: [described(machine)] })).toBeUndefined();
    expect(recomposedCaption({ ...base, caption: 'Someone wrote this', analyses: [described(null)] })).toBeUndefined();
  });

  it("leaves a remote model's free text, and memories no picture description was done for", () => {
    const text = 'Three women raise a glass at a party.';
    expect(recomposedCaption({ ...base, caption: text, analyses: [described(text, { provider: 'openai', model: 'gpt-4o', composedFrom: undefined })] })).toBeUndefined();
    expect(recomposedCaption({ ...base, caption: null, analyses: [] })).toBeUndefined();
    expect(recomposedCaption({ ...base, caption: null, analyses: [described(null, { status: 'FAILED' }), { ...described(null), task: 'faces' }] })).toBeUndefined();
    // A record from before captions were recorded says nothing of what the machine wrote.
    expect(recomposedCaption({ ...base, caption: 'Old', analyses: [described('x', { caption: undefined })] })).toBeUndefined();
  });

  it('goes by the last describeImage that was done', () => {
    const first = described('A dog.', { composedFrom: { by: 'local', objects: [{ label: 'dog', count: 1 }] } });
    const failed = described(null, { status: 'UNAVAILABLE', composedFrom: undefined });
    const last = described('People with a wine glass in Whitby, June 1962.');
    expect(recomposedCaption({ ...base, caption: 'People with a wine glass in Whitby, June 1962.', analyses: [first, last, failed] })).toBe('Rose and others with a wine glass in Whitby, June 1962.');
    expect(recomposedCaption({ ...base, caption: 'A dog.', analyses: [first, last] }), 'an older run\'s caption is no longer the machine\'s').toBeUndefined();
  });
});
