import type { EntityManager } from '@mikro-orm/postgresql';
import { Chest, Story } from '../../db/entities/index.js';
import { StoryStatus } from '../../db/enums.js';
import type { EventBus } from '../../events/events.port.js';
import { topics } from '../../events/events.port.js';
import { may } from '../access/access.service.js';
import type { Actor } from '../actor.js';
import { currentActor, type Viewer } from '../events/chest-watch.js';
import { getStory, type StoryProgressEvent, type StoryProgressSignal } from './story.service.js';

/**
 * A story being written, live: first its state now (so a late subscriber sees the narrative so
 * far, or the story already finished), then the narrative as it grows, ending with READY or
 * FAILED. The bus only signals that the row changed; each event is read from the row, after
 * checking again that the viewer may see it, like the chest subscriptions.
 */
export async function watchStory(em: EntityManager, newEm: () => EntityManager, viewer: Viewer, actor: Actor, storyId: string, bus: EventBus): Promise<AsyncIterableIterator<StoryProgressEvent>> {
  const story = await getStory(em, actor, storyId);
  const source = bus.subscribe<StoryProgressSignal>(topics.story(story.id));
  // Subscribed before reading the row: no change made in between is missed.
  let first: StoryProgressEvent | null = progressOf(await newEm().findOneOrFail(Story, { id: story.id }));
  let last: StoryProgressEvent | null = null;
  let finished = false;
  const end = async (): Promise<IteratorResult<StoryProgressEvent>> => {
    finished = true;
    await source.return?.();
    return { done: true, value: undefined };
  };
  /** The story as it is now, or null when the viewer may no longer see it (or it is gone). */
  const current = async (): Promise<StoryProgressEvent | null> => {
    const fresh = newEm();
    const who = await currentActor(fresh, viewer);
    const chest = who ? await fresh.findOne(Chest, { id: story.chest.id }) : null;
    if (!who || !chest || !(await may(who, chest, 'read'))) return null;
    const row = await fresh.findOne(Story, { id: story.id });
    if (!row || !(row.published || (await may(who, chest, 'member')))) return null;
    return progressOf(row);
  };
  const deliver = (value: StoryProgressEvent): IteratorResult<StoryProgressEvent> => {
    last = value;
    if (value.status !== StoryStatus.GENERATING) finished = true;
    return { done: false, value };
  };
  const watched: AsyncIterableIterator<StoryProgressEvent> = {
    async next() {
      if (finished) return end();
      if (first) {
        const value = first;
        first = null;
        return deliver(value);
      }
      for (;;) {
        const r = await source.next();
        if (r.done) return end();
        const now = await current();
        if (!now) return end();
        const shown = asSignalled(now, r.value, last);
        // Signals can outrun their readers: several may find the row as it was already shown.
        if (!same(shown, last) && !behind(shown, last)) return deliver(shown);
      }
    },
    return: end,
    [Symbol.asyncIterator]() {
      return watched;
    },
  };
  return watched;
}

function progressOf(row: Story): StoryProgressEvent {
  return { storyId: row.id, chestId: row.chest.id, status: row.status, narrative: row.content, error: row.error };
}

/**
 * The narrative as the signal saw it stored. While GENERATING the content only grows (the writer
 * appends; editStory refuses a story not READY), so its first `length` characters are what was
 * stored then: a reader that finds the row further on, or already READY (the local writer stores a
 * paragraph every few milliseconds and finishes before the readers catch up), still shows every
 * step, as long as the row goes on from what this subscriber was shown (a READY story whose checked
 * content changed an earlier paragraph is shown as it is). A FAILED row is shown as it is.
 */
function asSignalled(now: StoryProgressEvent, signal: StoryProgressSignal, last: StoryProgressEvent | null): StoryProgressEvent {
  const growing = signal.status === StoryStatus.GENERATING && (now.status === StoryStatus.GENERATING || now.status === StoryStatus.READY);
  const further = now.narrative.length >= signal.length && (last === null || now.narrative.startsWith(last.narrative));
  return growing && further ? { ...now, status: StoryStatus.GENERATING, narrative: now.narrative.slice(0, signal.length), error: null } : now;
}

/** Not past what was already shown (a late subscriber's first event was read after this signal's write). */
const behind = (a: StoryProgressEvent, b: StoryProgressEvent | null): boolean =>
  b !== null && a.status === StoryStatus.GENERATING && b.status === StoryStatus.GENERATING && a.narrative.length <= b.narrative.length;

const same = (a: StoryProgressEvent, b: StoryProgressEvent | null): boolean =>
  b !== null && a.status === b.status && a.narrative === b.narrative && a.error === b.error;
