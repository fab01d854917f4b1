import type { EntityManager } from '@mikro-orm/postgresql';
import { Chest, Story } from '../../db/entities/index.js';
import { StoryStatus } from '../../db/enums.js';
import type { EventBus } from '../../events/events.port.js';
import { topics } from '../../events/events.port.js';
import { may } from '../access/access.service.js';
import type { Actor } from '../actor.js';
import { currentActor, type Viewer } from '../events/chest-watch.js';
import { getStory, type StoryProgressEvent } from './story.service.js';

/**
 * A story being written, live: first its state now (so a late subscriber is never left waiting
 * for a story already finished), then the narrative as it grows, ending with READY or FAILED.
 * Access is checked at the start and before every event, like the chest subscriptions.
 */
export async function watchStory(em: EntityManager, newEm: () => EntityManager, viewer: Viewer, actor: Actor, storyId: string, bus: EventBus): Promise<AsyncIterableIterator<StoryProgressEvent>> {
  const story = await getStory(em, actor, storyId);
  const source = bus.subscribe<StoryProgressEvent>(topics.story(story.id));
  // Subscribed before reading the state: nothing published in between is missed.
  const now = await newEm().findOneOrFail(Story, { id: story.id });
  let first: StoryProgressEvent | null = { storyId: story.id, chestId: story.chest.id, status: now.status, narrative: now.content, error: now.error };
  let finished = false;
  const end = async (): Promise<IteratorResult<StoryProgressEvent>> => {
    finished = true;
    await source.return?.();
    return { done: true, value: undefined };
  };
  const stillAllowed = async () => {
    const fresh = newEm();
    const who = await currentActor(fresh, viewer);
    const chest = who ? await fresh.findOne(Chest, { id: story.chest.id }) : null;
    if (!who || !chest || !(await may(who, chest, 'read'))) return false;
    return story.published || may(who, chest, 'member');
  };
  const done = (e: StoryProgressEvent) => e.status !== StoryStatus.GENERATING;
  const watched: AsyncIterableIterator<StoryProgressEvent> = {
    async next() {
      if (finished) return end();
      if (first) {
        const value = first;
        first = null;
        if (done(value)) finished = true;
        return { done: false, value };
      }
      const r = await source.next();
      if (r.done || !(await stillAllowed())) return end();
      if (done(r.value)) finished = true;
      return { done: false, value: r.value };
    },
    return: end,
    [Symbol.asyncIterator]() {
      return watched;
    },
  };
  return watched;
}
