import { setTimeout as sleep } from 'node:timers/promises';
import type { EntityManager } from '@mikro-orm/postgresql';
import { Asset } from '../../db/entities/index.js';
import { ProcessingStatus } from '../../db/enums.js';
import type { JobQueue } from '../../jobs/jobs.port.js';
import { STORY_SOURCE_FILTER } from './story-context.js';

export interface SettleOptions {
  signal: AbortSignal;
  /** Longest wait; after it the story is written from what is ready. */
  timeoutMs?: number;
  pollMs?: number;
  /** Called once, with how many memories are still being worked on, when there is a wait. */
  onWait?: (unsettled: number) => void;
}

/** Long enough for a batch of photos and a voice memo; a stuck job must not hold a story for ever. */
const DEFAULT_TIMEOUT_MS = 5 * 60_000;

/**
 * A family uploads a scanned letter and a voice memo and asks for the story at once: the writer
 * should wait until those are processed and analysed (their text, transcript and tags are what
 * the story is made of) rather than write around them. Returns how many memories were still being
 * worked on when it stopped waiting (0: everything visible had settled).
 */
export async function awaitSettledMemories(em: EntityManager, queue: JobQueue, chestId: string, opts: SettleOptions): Promise<number> {
  const deadline = Date.now() + (opts.timeoutMs ?? DEFAULT_TIMEOUT_MS);
  let told = false;
  for (;;) {
    // The memories a story draws on, at any stage short of failing.
    const visible = await em.find(Asset, { ...STORY_SOURCE_FILTER(chestId), status: { $ne: ProcessingStatus.FAILED } }, { fields: ['id'], disableIdentityMap: true });
    const ids = visible.map((a) => a.id);
    const [processing, analysing] = await Promise.all([queue.unfinishedFor('asset.process', ids), queue.unfinishedFor('asset.analyse', ids)]);
    const unsettled = new Set([...processing, ...analysing]).size;
    if (unsettled === 0 || Date.now() >= deadline) return unsettled;
    if (!told) opts.onWait?.(unsettled);
    told = true;
    await sleep(opts.pollMs ?? 2000, undefined, { signal: opts.signal });
  }
}
