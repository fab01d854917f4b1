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
  /** Set for a guest's upload into their contribution (pending review): owners and editors only. */
  contributionId: string | null;
}

export const PROGRESS_INTERVAL_MS = 250;

/**
 * A reporter for one upload request: publishes at most once per interval while bytes arrive,
 * and always the final state, so a dashboard stays live without a flood of events.
 */
export function progressReporter(bus: EventBus, upload: Upload, now: () => number = Date.now, intervalMs = PROGRESS_INTERVAL_MS) {
  let last = -Infinity;
  const chest = upload.chest;
  // An archive belongs to no chest: nobody follows its bytes but its uploader's own client.
  const send = (bytesReceived: number) =>
    chest &&
    bus.publish<UploadProgressEvent>(topics.uploads(chest.id), {
      uploadId: upload.id,
      chestId: chest.id,
      filename: upload.filename,
      bytesReceived,
      totalBytes: upload.size,
      status: upload.status,
      contributionId: upload.contribution?.id ?? null,
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
 * Members follow the uploads into a chest (a dashboard shows everyone's uploads live); a guest's
 * upload goes only to those who may moderate, as the pending contribution it belongs to does.
 * Access is checked when the subscription starts and again before every event, against the
 * database: a member removed or a session revoked mid-stream ends the subscription at its next
 * event, and an editor demoted to viewer stops seeing guests' uploads from the next one.
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
  const verdict = async (event: UploadProgressEvent): Promise<'deliver' | 'skip' | 'end'> => {
    const fresh = newEm();
    const now = await currentActor(fresh, viewer);
    const chest = now && (await fresh.findOne(Chest, { id: chestId }));
    if (!chest || !(await may(now!, chest, 'member'))) return 'end';
    return !event.contributionId || (await may(now!, chest, 'moderate')) ? 'deliver' : 'skip';
  };
  const watched: AsyncIterableIterator<UploadProgressEvent> = {
    async next() {
      for (;;) {
        const r = await source.next();
        if (r.done) return r;
        const v = await verdict(r.value);
        if (v === 'deliver') return r;
        if (v === 'end') break;
      }
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
