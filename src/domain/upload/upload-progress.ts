import type { EntityManager } from '@mikro-orm/postgresql';
import type { Upload } from '../../db/entities/index.js';
import { Chest } from '../../db/entities/index.js';
import { authorizeChest, may } from '../access/access.service.js';
import type { Actor } from '../actor.js';
import { currentActor, type Viewer } from '../events/chest-watch.js';
import type { EventBus } from '../../events/events.port.js';
import { topics } from '../../events/events.port.js';

/** What members watching a chest see of an upload in flight. */
export interface UploadProgressEvent {
  uploadId: string;
  chestId: string;
  filename: string;
  bytesReceived: number;
  totalBytes: number;
  status: string;
}

export const PROGRESS_INTERVAL_MS = 250;

/**
 * A reporter for one upload request: publishes at most once per interval while bytes arrive,
 * and always the final state, so a dashboard stays live without a flood of events.
 */
export function progressReporter(bus: EventBus, upload: Upload, now: () => number = Date.now, intervalMs = PROGRESS_INTERVAL_MS) {
  let last = -Infinity;
  const send = (bytesReceived: number) =>
    bus.publish<UploadProgressEvent>(topics.uploads(upload.chest.id), {
      uploadId: upload.id,
      chestId: upload.chest.id,
      filename: upload.filename,
      bytesReceived,
      totalBytes: upload.size,
      status: upload.status,
    });
  return {
    /** Bytes have arrived (stored or still in the part being written). */
    bytes(received: number) {
      const t = now();
      if (t - last < intervalMs) return;
      last = t;
      send(received);
    },
    /** The request is over (finished, failed, or cut): always published. */
    end() {
      send(upload.receivedBytes);
    },
  };
}

/**
 * Members follow every upload into a chest (a dashboard shows everyone's uploads live). Access is
 * checked when the subscription starts and again before every event, against the database: a
 * member removed or a session revoked mid-stream ends the subscription at its next event.
 */
export async function watchUploads(
  em: EntityManager,
  newEm: () => EntityManager,
  viewer: Viewer,
  actor: Actor,
  chestId: string,
  bus: EventBus,
): Promise<AsyncIterableIterator<UploadProgressEvent>> {
  await authorizeChest(em, actor, chestId, 'member');
  const source = bus.subscribe<UploadProgressEvent>(topics.uploads(chestId));
  const stillAllowed = async () => {
    const fresh = newEm();
    const now = await currentActor(fresh, viewer);
    const chest = now && (await fresh.findOne(Chest, { id: chestId }));
    return !!chest && may(now!, chest, 'member');
  };
  const watched: AsyncIterableIterator<UploadProgressEvent> = {
    async next() {
      const r = await source.next();
      if (r.done) return r;
      if (await stillAllowed()) return r;
      await source.return?.();
      return { done: true, value: undefined };
    },
    async return() {
      await source.return?.();
      return { done: true, value: undefined };
    },
    [Symbol.asyncIterator]() {
      return watched;
    },
  };
  return watched;
}
