import type { EntityManager } from '@mikro-orm/postgresql';
import { Outcome, type OutcomeReader, Relay } from '../../events/take.js';
import { Chest, type Asset, Contribution, Story } from '../../db/entities/index.js';
import { ChestEventKind } from '../../db/enums.js';
import type { EventBus } from '../../events/events.port.js';
import { topics } from '../../events/events.port.js';
import { authenticate } from '../account/account.service.js';
import { authorizeChest, type ChestAction, may } from '../access/access.service.js';
import { type Actor, createActor } from '../actor.js';
import { loadVisibleAssetsById } from '../asset/asset.queries.js';
import { openShareLink } from '../chest/chest-links.service.js';
import { type ChestEventMessage, chestEventsAfter } from './chest-events.service.js';

/** Who holds a subscription: enough to ask again, at every event, whether they still may see it. */
export interface Viewer {
  accountId: string | null;
  sessionToken: string | null;
  shareToken: string | null;
}

/** An event with what it is about, loaded fresh, for a caller who may see both. */
export interface VisibleChestEvent {
  event: ChestEventMessage;
  asset: Asset | null;
  story: Story | null;
  contribution: Contribution | null;
}

/** A live event as one subscriber receives it: checked against, and loaded for, that subscriber just now. */
export interface WatchedChestEvent extends VisibleChestEvent {
  /** The subscriber as of this event (fresh roles, share grants). */
  actor: Actor;
  /** The EntityManager the event was checked and loaded in: resolve its fields with it. */
  em: EntityManager;
}

/** The least a caller needs to receive each kind of event live or in chestEvents. */
const NEEDS: Record<ChestEventKind, ChestAction> = {
  [ChestEventKind.ASSET_PROCESSING]: 'read',
  [ChestEventKind.MEMORY_ADDED]: 'read',
  // Only the id of a memory the reader could see until now; nothing about it.
  [ChestEventKind.MEMORY_REMOVED]: 'read',
  [ChestEventKind.STORY_READY]: 'read',
  [ChestEventKind.CONTRIBUTION_SUBMITTED]: 'moderate',
};

/**
 * The viewer as of now: null when their session has ended. A share token counts only while it is
 * still the chest's current, unexpired view link.
 */
export async function currentActor(em: EntityManager, viewer: Viewer): Promise<Actor | null> {
  if (viewer.sessionToken && !(await authenticate(em, viewer.sessionToken).then(() => true, () => false))) return null;
  const actor = createActor(em, viewer.accountId);
  if (viewer.shareToken) await openShareLink(em, actor, viewer.shareToken).catch(() => undefined);
  return actor;
}

/**
 * What of these events a caller may see, in order, with what each is about (loaded in one query per
 * kind, however many events). Memories must be visible (not deleted, not in a contribution still
 * awaiting approval), except in MEMORY_REMOVED, which names the memory that left by id only; unpublished stories are for members; contributions for owners and editors.
 */
export async function visibleEvents(em: EntityManager, actor: Actor, chest: Chest, events: readonly ChestEventMessage[]): Promise<VisibleChestEvent[]> {
  const allowed = new Map<ChestAction, boolean>();
  for (const action of new Set(['member' as ChestAction, ...events.map((e) => NEEDS[e.kind])])) allowed.set(action, await may(actor, chest, action));
  const shown = events.filter((e) => allowed.get(NEEDS[e.kind]));
  const ids = (pick: (e: ChestEventMessage) => string | null) => [...new Set(shown.map(pick).filter((id): id is string => id !== null))];
  // A removed memory is not visible by definition: its event carries the id alone (removedAssetId).
  const assetIds = ids((e) => (e.kind === ChestEventKind.MEMORY_REMOVED ? null : e.assetId));
  const storyIds = ids((e) => e.storyId);
  const contributionIds = ids((e) => e.contributionId);
  const assets = new Map((assetIds.length ? await loadVisibleAssetsById(em, assetIds) : []).filter((a): a is Asset => a !== null).map((a) => [a.id, a]));
  const stories = new Map((storyIds.length ? await em.find(Story, { id: { $in: storyIds }, chest: chest.id }) : []).map((s) => [s.id, s]));
  const contributions = new Map((contributionIds.length ? await em.find(Contribution, { id: { $in: contributionIds }, chest: chest.id }) : []).map((c) => [c.id, c]));
  const out: VisibleChestEvent[] = [];
  for (const event of shown) {
    const asset = event.assetId && event.kind !== ChestEventKind.MEMORY_REMOVED ? assets.get(event.assetId) : null;
    const story = event.storyId ? stories.get(event.storyId) : null;
    const contribution = event.contributionId ? contributions.get(event.contributionId) : null;
    if (asset === undefined || story === undefined || contribution === undefined) continue;
    if (story && !story.published && !allowed.get('member')) continue;
    out.push({ event, asset, story, contribution });
  }
  return out;
}

/**
 * Live events of some kinds in one chest. Access is checked when the subscription starts (a chest
 * the caller may not see is NOT_FOUND) and again, against the database, before every event: a
 * member removed, a link revoked, a session signed out or a chest binned ends the stream at its
 * next event; an event about something the caller may not see is skipped.
 */
export async function watchChest(
  em: EntityManager,
  newEm: () => EntityManager,
  viewer: Viewer,
  actor: Actor,
  chestId: string,
  kinds: readonly ChestEventKind[],
  bus: EventBus,
): Promise<AsyncIterableIterator<WatchedChestEvent>> {
  const action = kinds.every((k) => NEEDS[k] === 'moderate') ? 'moderate' : 'read';
  await authorizeChest(em, actor, chestId, action);
  const source = bus.subscribe<ChestEventMessage>(topics.chest(chestId));
  const viewerKey = JSON.stringify([viewer.accountId, viewer.sessionToken, viewer.shareToken, action]);
  const watched = new ChestWatch({ source, newEm, viewer, chestId, action, kinds, viewerKey });
  perEventViewer.add(watched);
  return watched;
}

/**
 * Streams from watchChest: every value carries the subscriber's actor and EntityManager as of that
 * event, so whoever runs the subscription needs nothing of the context it was opened with.
 */
const perEventViewer = new WeakSet<object>();
export const carriesViewerPerEvent = (stream: object): boolean => perEventViewer.has(stream);

/** A viewer's decision on an event: the result every socket of that viewer is handed (one object), or no. */
type Decision = IteratorYieldResult<WatchedChestEvent> | 'skip' | 'end';
/** Per bus message, each viewer's decision; collected together with the message. */
const decisions = new WeakMap<ChestEventMessage, Map<string, Outcome<Decision>>>();

export interface ChestEventPage {
  events: VisibleChestEvent[];
  /** Pass as `since` to continue; the chest's latest number when there is nothing more. */
  lastSeq: number;
  hasMore: boolean;
}

/**
 * Catch-up for a client that was away: events after `since`, oldest first, that the caller may
 * see. Numbers of events hidden from this caller are skipped but still advance `lastSeq`.
 */
export async function listChestEvents(em: EntityManager, actor: Actor, chestId: string, since: number, first: number): Promise<ChestEventPage> {
  const chest = await authorizeChest(em, actor, chestId, 'read');
  const rows = await chestEventsAfter(em, chestId, since, first + 1);
  const page = rows.slice(0, first);
  const events = await visibleEvents(em, actor, chest, page);
  return { events, lastSeq: page.at(-1)?.seq ?? Math.min(since, chest.eventSeq), hasMore: rows.length > first };
}

interface ChestWatchInput {
  source: AsyncIterableIterator<ChestEventMessage>;
  newEm: () => EntityManager;
  viewer: Viewer;
  chestId: string;
  action: ChestAction;
  kinds: readonly ChestEventKind[];
  /** Subscribers with the same key share one decision per event. */
  viewerKey: string;
}

/** One subscriber's stream: a class, since a memorial's idle subscribers each hold one and closures cost more. */
class ChestWatch extends Relay<WatchedChestEvent, ChestEventMessage> implements AsyncIterableIterator<WatchedChestEvent>, OutcomeReader<Decision> {
  // The input's fields on the object itself: one object per subscriber, not two. As a Relay, it is
  // its source's sink and its decision's reader: an idle subscriber holds nothing here but the
  // object, and an event allocates nothing per socket.
  private readonly newEm: ChestWatchInput['newEm'];
  private readonly viewer: Viewer;
  private readonly chestId: string;
  private readonly action: ChestAction;
  private readonly kinds: readonly ChestEventKind[];
  private readonly viewerKey: string;

  constructor({ source, newEm, viewer, chestId, action, kinds, viewerKey }: ChestWatchInput) {
    super(source);
    this.newEm = newEm;
    this.viewer = viewer;
    this.chestId = chestId;
    this.action = action;
    this.kinds = kinds;
    this.viewerKey = viewerKey;
  }

  /** Sink: the bus's next message. */
  result(r: IteratorResult<ChestEventMessage>): void {
    try {
      if (r.done) return this.finish();
      if (!this.kinds.includes(r.value.kind)) return this.pull();
      // Sockets of the same viewer share one check per event (the bus hands every local
      // subscriber the same message object): fifty tabs on a memorial cost one check.
      let byViewer = decisions.get(r.value);
      if (!byViewer) decisions.set(r.value, (byViewer = new Map()));
      let decision = byViewer.get(this.viewerKey);
      if (!decision) byViewer.set(this.viewerKey, (decision = new Outcome(this.decide(r.value))));
      decision.read(this);
    } catch (err) {
      this.error(err);
    }
  }

  /** Reader: this viewer's decision on the event. */
  settled(d: Decision): void {
    if (d === 'end') this.finish();
    else if (d === 'skip') this.pull();
    else this.handOn(d);
  }

  /** The stream ends: unsubscribed, then the taker hears done. */
  private finish(): void {
    this.return().then(
      (r) => this.handOn(r),
      (err: unknown) => this.failed(err),
    );
  }

  async return(): Promise<IteratorResult<WatchedChestEvent>> {
    await this.source.return?.();
    return { done: true, value: undefined };
  }

  private async decide(event: ChestEventMessage): Promise<Decision> {
    const { newEm, viewer, chestId, action } = this;
    const fresh = newEm();
    const now = await currentActor(fresh, viewer);
    const chest = now ? await fresh.findOne(Chest, { id: chestId }) : null;
    if (!now || !chest || !(await may(now, chest, action))) return 'end';
    const [seen] = await visibleEvents(fresh, now, chest, [event]);
    return seen ? { done: false, value: { ...seen, actor: now, em: fresh } } : 'skip';
  }
}
