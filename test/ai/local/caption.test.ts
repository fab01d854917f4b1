import { describe, expect, it } from 'vitest';
import { type CaptionFacts, composeCaption } from '../../../src/ai/local/caption.js';

const JUNE_1962 = new Date(Date.UTC(1962, 5, 14, 15, 30));
const none: CaptionFacts = { people: [], objects: [], place: null, date: null };
const caption = (facts: Partial<CaptionFacts>) => composeCaption({ ...none, ...facts });

describe('composeCaption', () => {
  it('says nothing when nothing is known', () => {
    expect(caption({})).toBeNull();
    expect(caption({ people: ['  '], objects: [{ label: 'dog', count: 0 }], place: ' ', date: new Date(Number.NaN) })).toBeNull();
  });

  it('names the people, then what else is there, where and when', () => {
    expect(caption({ people: ['Rose', 'Tom'], objects: [{ label: 'dog', count: 1 }], place: 'Whitby', date: JUNE_1962 })).toBe('Rose and Tom with a dog in Whitby, June 1962.');
    expect(caption({ people: ['Rose', 'Tom', 'Ann'] })).toBe('Rose, Tom and Ann.');
  });

  it('says "others" when more people were seen than are named, and nothing more of them', () => {
    expect(caption({ people: ['Rose'], objects: [{ label: 'person', count: 3 }, { label: 'wine glass', count: 1 }] })).toBe('Rose and others with a wine glass.');
    expect(caption({ people: ['Rose', 'Tom'], objects: [{ label: 'person', count: 2 }] })).toBe('Rose and Tom.');
  });

  it('without names, says a person or people, never a number it could get wrong', () => {
    expect(caption({ objects: [{ label: 'person', count: 1 }] })).toBe('A person.');
    expect(caption({ objects: [{ label: 'person', count: 4 }, { label: 'wine glass', count: 1 }, { label: 'cup', count: 1 }] })).toBe('People with a wine glass and a cup.');
    expect(caption({ objects: [{ label: 'dog', count: 2 }, { label: 'bench', count: 3 }] })).toBe('Dogs and benches.');
  });

  it('uses the right article and plural', () => {
    const one = (label: string) => caption({ objects: [{ label, count: 1 }] });
    const many = (label: string) => caption({ objects: [{ label, count: 2 }] });
    expect(one('umbrella')).toBe('An umbrella.');
    expect(one('scissors')).toBe('A pair of scissors.');
    expect(many('bus')).toBe('Buses.');
    expect(many('wine glass')).toBe('Wine glasses.');
    expect(many('knife')).toBe('Knives.');
    expect(many('sheep')).toBe('Sheep.');
    expect(many('teddy bear')).toBe('Teddy bears.');
  });

  it('lists at most three kinds of thing, in the order given', () => {
    const objects = ['cup', 'bottle', 'chair', 'clock'].map((label) => ({ label, count: 1 }));
    expect(caption({ objects })).toBe('A cup, a bottle and a chair.');
  });

  it('says where and when even when nothing was seen, in the family\'s words', () => {
    expect(caption({ place: 'Whitby', date: JUNE_1962 })).toBe('In Whitby, June 1962.');
    expect(caption({ place: 'Whitby' })).toBe('In Whitby.');
    expect(caption({ date: JUNE_1962 })).toBe('June 1962.');
    // A place the family wrote with its own preposition keeps it.
    expect(caption({ objects: [{ label: 'dog', count: 1 }], place: "at Grandma's house" })).toBe("A dog at Grandma's house.");
  });

  it('reads the date as the camera wrote it (UTC fields), whatever the server zone', () => {
    expect(caption({ date: new Date(Date.UTC(1972, 4, 31, 23, 30)) })).toBe('May 1972.');
  });

  it('no longer says colours, orientation, decade or season', () => {
    const text = caption({ objects: [{ label: 'dog', count: 1 }], date: JUNE_1962 })!;
    expect(text).not.toMatch(/mostly|photograph|1960s|summer|landscape|black-and-white|sepia/);
  });
});
