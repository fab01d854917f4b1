import type { EntityManager } from '@mikro-orm/postgresql';
import { ChestEventKind } from '../../db/enums.js';
import type { EventBus } from '../../events/events.port.js';
import { topics } from '../../events/events.port.js';

/** What travels on the bus and what chestEvents returns: ids and a little state, never content. */
export interface ChestEventMessage {
  chestId: string;
  seq: number;
  kind: ChestEventKind;
  assetId: string | null;
  storyId: string | null;
  contributionId: string | null;
  data: Record<string, string | number | null> | null;
  at: string;
}

export type ChestEventInput = Pick<ChestEventMessage, 'chestId' | 'kind'> & Partial<Pick<ChestEventMessage, 'assetId' | 'storyId' | 'contributionId' | 'data'>>;

/**
 * Records an event with the chest's next sequence number, inside the caller's transaction, so the
 * event exists exactly when what it reports does. Taking the number locks the chest row until
 * commit: numbers are gap-free and in commit order per chest. Publish the result after commit.
 */
export async function appendChestEvent(tx: EntityManager, input: ChestEventInput): Promise<ChestEventMessage> {
  const [row] = await tx.execute<{ seq: string | number }[]>('update chest set event_seq = event_seq + 1 where id = ? returning event_seq as seq', [input.chestId]);
  if (!row) throw new Error(`appendChestEvent: no chest ${input.chestId}`);
  const message: ChestEventMessage = {
    chestId: input.chestId,
    seq: Number(row.seq),
    kind: input.kind,
    assetId: input.assetId ?? null,
    storyId: input.storyId ?? null,
    contributionId: input.contributionId ?? null,
    data: input.data ?? null,
    at: new Date().toISOString(),
  };
  await tx.execute(
    'insert into chest_event (chest_id, seq, kind, asset_id, story_id, contribution_id, data, created_at) values (?, ?, ?, ?, ?, ?, ?, ?)',
    [message.chestId, message.seq, message.kind, message.assetId, message.storyId, message.contributionId, message.data ? JSON.stringify(message.data) : null, message.at],
  );
  return message;
}

export function publishChestEvents(bus: EventBus, messages: readonly ChestEventMessage[]): void {
  for (const m of messages) bus.publish(topics.chest(m.chestId), m);
}

/** Records and publishes one event in its own transaction. */
export async function emitChestEvent(em: EntityManager, bus: EventBus, input: ChestEventInput): Promise<ChestEventMessage> {
  const message = await em.transactional((tx) => appendChestEvent(tx, input));
  publishChestEvents(bus, [message]);
  return message;
}

interface EventRow {
  chest_id: string;
  seq: string | number;
  kind: ChestEventKind;
  asset_id: string | null;
  story_id: string | null;
  contribution_id: string | null;
  data: Record<string, string | number | null> | null;
  created_at: Date | string;
}

/** Events after `since`, oldest first, at most `limit`. Visibility is the caller's to decide. */
export async function chestEventsAfter(em: EntityManager, chestId: string, since: number, limit: number): Promise<ChestEventMessage[]> {
  const rows = await em.execute<EventRow[]>(
    'select chest_id, seq, kind, asset_id, story_id, contribution_id, data, created_at from chest_event where chest_id = ? and seq > ? order by seq limit ?',
    [chestId, since, limit],
  );
  return rows.map((r) => ({
    chestId: r.chest_id,
    seq: Number(r.seq),
    kind: r.kind,
    assetId: r.asset_id,
    storyId: r.story_id,
    contributionId: r.contribution_id,
    data: r.data,
    at: new Date(r.created_at).toISOString(),
  }));
}
