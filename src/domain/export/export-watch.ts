import type { EntityManager } from '@mikro-orm/postgresql';
import { Chest, ChestExport } from '../../db/entities/index.js';
import { ExportStatus } from '../../db/enums.js';
import { type EventBus, topics } from '../../events/events.port.js';
import { authorizeChest, may } from '../access/access.service.js';
import type { Actor } from '../actor.js';
import { currentActor, type Viewer } from '../events/chest-watch.js';
import type { ExportSignal } from './export.job.js';

export interface WatchExportsInput {
  em: EntityManager;
  /** A new EntityManager per event: rows are read fresh, never from the subscription's cache. */
  newEm: () => EntityManager;
  viewer: Viewer;
  actor: Actor;
  chestId: string;
  bus: EventBus;
  /** Only archives that finished (READY or FAILED): exportReady. Otherwise every step: exportProgress. */
  finishedOnly: boolean;
}

/**
 * A chest's archives as they are written, for its owners: checked when the subscription starts
 * (NOT_FOUND or FORBIDDEN as for the query) and again at every event, so an owner who stops
 * being one hears nothing more. Each event is the row as it is then.
 */
export async function watchExports(input: WatchExportsInput): Promise<AsyncIterableIterator<ChestExport>> {
  const { newEm, viewer, bus, finishedOnly } = input;
  const chest = await authorizeChest(input.em, input.actor, input.chestId, 'manage');
  const source = bus.subscribe<ExportSignal>(topics.exports(chest.id));
  const finished = (s: ExportStatus) => s === ExportStatus.READY || s === ExportStatus.FAILED;
  let ended = false;
  const end = async (): Promise<IteratorResult<ChestExport>> => {
    ended = true;
    await source.return?.();
    return { done: true, value: undefined };
  };
  const watched: AsyncIterableIterator<ChestExport> = {
    async next() {
      while (!ended) {
        const r = await source.next();
        if (r.done) return end();
        if (finishedOnly && !finished(r.value.status)) continue;
        const fresh = newEm();
        const who = await currentActor(fresh, viewer);
        const now = who ? await fresh.findOne(Chest, { id: chest.id }) : null;
        if (!who || !now || !(await may(who, now, 'manage'))) return end();
        const row = await fresh.findOne(ChestExport, { id: r.value.exportId });
        if (!row) continue;
        // The signal's step, on the row as it is (a late reader may find it further on).
        return { done: false, value: finishedOnly ? row : Object.assign(row, { status: r.value.status, progress: r.value.progress }) };
      }
      return end();
    },
    return: end,
    [Symbol.asyncIterator]() {
      return watched;
    },
  };
  return watched;
}
