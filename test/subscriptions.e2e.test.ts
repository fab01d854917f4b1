import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Chest } from '../src/db/entities/index.js';
import { ChestEventKind, ChestRole, ContributionStatus, ProcessingStatus } from '../src/db/enums.js';
import { neutralFilename } from '../src/domain/asset/download.js';
import { emitChestEvent } from '../src/domain/events/chest-events.service.js';
import { topics } from '../src/events/events.port.js';
import { subscriptionStats } from '../src/graphql/shared-execution.js';
import { apiClient, eventually } from './support/client.js';
import { addMember, makeAccount, makeAsset, makeContribution, makeStory } from './support/factories.js';
import { startTestServer, type TestServer } from './support/server.js';

const PROCESSING = `subscription($c: ID!) { assetProcessing(chestId: $c) { seq stage asset { id } } }`;

/**
 * Who receives live chest events, over real graphql-ws on the served mode (events travel through
 * Postgres LISTEN/NOTIFY even within one process). Access is checked at subscribe time and again
 * before every event.
 */
describe('chest event subscriptions: access at subscribe time and per event', () => {
  let server: TestServer;
  let api: ReturnType<typeof apiClient>;

  /** Subscriptions the server's bus has taken per topic (never decremented: every test has its own chest). */
  const taken = new Map<string, number>();

  beforeAll(async () => {
    server = await startTestServer();
    api = apiClient(server.app.url());
    const bus = server.app.services.events;
    const subscribe = bus.subscribe.bind(bus);
    bus.subscribe = <T>(topic: string, signal?: AbortSignal) => {
      taken.set(topic, (taken.get(topic) ?? 0) + 1);
      return subscribe<T>(topic, signal);
    };
  });
  afterAll(async () => {
    await server?.stop();
  });

  async function fixture() {
    const em = server.db.orm.em.fork();
    const owner = await makeAccount(em);
    const viewer = await makeAccount(em);
    const editor = await makeAccount(em);
    const chest = em.create(Chest, { personName: 'June Ellis' });
    await em.flush();
    await addMember(em, chest, owner.account, ChestRole.OWNER);
    await addMember(em, chest, viewer.account, ChestRole.VIEWER);
    await addMember(em, chest, editor.account, ChestRole.EDITOR);
    const asset = await makeAsset(em, chest);
    return { em, chest, owner, viewer, editor, asset };
  }

  /**
   * `settled` only says the server answered a later operation on the same socket; graphql-ws runs
   * operations concurrently, and a subscription checks access before it listens. Wait until the
   * bus holds the expected number of listeners, or an event emitted now can pass them by.
   */
  const listening = (chestId: string, n: number) =>
    eventually(async () => ((taken.get(topics.chest(chestId)) ?? 0) >= n ? true : undefined), 20_000, 20);

  const emit = (chestId: string, kind: ChestEventKind, ids: { assetId?: string; storyId?: string; contributionId?: string }, stage = 'thumbnails') =>
    emitChestEvent(server.db.orm.em.fork(), server.app.services.events, {
      chestId,
      kind,
      ...ids,
      data: kind === ChestEventKind.ASSET_PROCESSING ? { stage, percent: 50, status: ProcessingStatus.PROCESSING, error: null } : null,
    });

  it('stops a removed member at the next event, and keeps the others', async () => {
    const f = await fixture();
    const viewerWs = api.ws(f.viewer.token);
    const ownerWs = api.ws(f.owner.token);
    const viewerSees = api.collect(viewerWs, PROCESSING, { c: f.chest.id }, () => false);
    const ownerSees = api.collect(ownerWs, PROCESSING, { c: f.chest.id }, (all) => all.length === 2);
    await Promise.all([api.settled(viewerWs), api.settled(ownerWs)]);
    await listening(f.chest.id, 2);

    await emit(f.chest.id, ChestEventKind.ASSET_PROCESSING, { assetId: f.asset.id }, 'first');
    await expect.poll(() => viewerSees.results.length).toBe(1);
    await api.must(`mutation($c: ID!, $a: ID!) { removeMember(chestId: $c, accountId: $a) }`, { c: f.chest.id, a: f.viewer.account.id }, f.owner.token);
    await emit(f.chest.id, ChestEventKind.ASSET_PROCESSING, { assetId: f.asset.id }, 'second');

    expect((await ownerSees.done).map((r) => r.data.assetProcessing.stage)).toEqual(['first', 'second']);
    // The removed viewer's stream ended instead of delivering 'second'.
    expect((await viewerSees.done).map((r) => r.data.assetProcessing.stage)).toEqual(['first']);
    await Promise.all([viewerWs.dispose(), ownerWs.dispose()]);
  });

  it('ends the stream when the session signs out', async () => {
    const f = await fixture();
    const ws = api.ws(f.viewer.token);
    const sees = api.collect(ws, PROCESSING, { c: f.chest.id }, () => false);
    await api.settled(ws);
    await listening(f.chest.id, 1);
    await api.must(`mutation { signOut }`, {}, f.viewer.token);
    await emit(f.chest.id, ChestEventKind.ASSET_PROCESSING, { assetId: f.asset.id });
    expect(await sees.done).toEqual([]);
    await ws.dispose();
  });

  it('serves a view link holder until the link is revoked; a private chest is NOT_FOUND without it', async () => {
    const f = await fixture();
    const link = (await api.must(`mutation($c: ID!) { createShareLink(chestId: $c) { token } }`, { c: f.chest.id }, f.owner.token)).createShareLink.token as string;
    const anonymous = api.ws();
    const refused = await api.collect(anonymous, PROCESSING, { c: f.chest.id }, () => false).done;
    expect(refused.map((r) => r.errors?.[0]?.extensions?.code)).toEqual(['NOT_FOUND']);
    await anonymous.dispose();

    const holder = api.ws(undefined, link);
    const sees = api.collect(holder, PROCESSING, { c: f.chest.id }, () => false);
    await api.settled(holder);
    await listening(f.chest.id, 1);
    await emit(f.chest.id, ChestEventKind.ASSET_PROCESSING, { assetId: f.asset.id }, 'while-shared');
    await expect.poll(() => sees.results.length).toBe(1);
    await api.must(`mutation($c: ID!) { revokeShareLink(chestId: $c) { id } }`, { c: f.chest.id }, f.owner.token);
    await emit(f.chest.id, ChestEventKind.ASSET_PROCESSING, { assetId: f.asset.id }, 'after-revoke');
    expect((await sees.done).map((r) => r.data.assetProcessing.stage)).toEqual(['while-shared']);
    await holder.dispose();
  });

  it('skips memories still awaiting approval, and announces them on approval', async () => {
    const f = await fixture();
    const pending = await makeContribution(f.em, f.chest);
    const hidden = await makeAsset(f.em, f.chest, { contribution: pending });
    const ws = api.ws(f.viewer.token);
    const sees = api.collect(ws, `subscription($c: ID!) { memoryAdded(chestId: $c) { id } }`, { c: f.chest.id }, (all) => all.length === 2);
    await api.settled(ws);
    await listening(f.chest.id, 1);
    await emit(f.chest.id, ChestEventKind.MEMORY_ADDED, { assetId: hidden.id });
    await emit(f.chest.id, ChestEventKind.MEMORY_ADDED, { assetId: f.asset.id });
    await api.must(`mutation($id: ID!) { approveContribution(id: $id) { status } }`, { id: pending.id }, f.owner.token);
    expect((await sees.done).map((r) => r.data.memoryAdded.id)).toEqual([f.asset.id, hidden.id]);
    await ws.dispose();
  });

  it('tells owners and editors of contributions; viewers are FORBIDDEN; guests send them through the link', async () => {
    const f = await fixture();
    await api.must(`mutation($c: ID!) { updateChest(id: $c, input: { allowContributions: true }) { id } }`, { c: f.chest.id }, f.owner.token);
    const link = (await api.must(`mutation($c: ID!) { createContributionLink(chestId: $c) { token } }`, { c: f.chest.id }, f.owner.token)).createContributionLink.token as string;
    const SUB = `subscription($c: ID!) { contributionSubmitted(chestId: $c) { contributorName status } }`;
    const viewerWs = api.ws(f.viewer.token);
    const refused = await api.collect(viewerWs, SUB, { c: f.chest.id }, () => false).done;
    expect(refused.map((r) => r.errors?.[0]?.extensions?.code)).toEqual(['FORBIDDEN']);
    const editorWs = api.ws(f.editor.token);
    const sees = api.collect(editorWs, SUB, { c: f.chest.id }, (all) => all.length === 1);
    await api.settled(editorWs);
    await listening(f.chest.id, 1);
    await api.must(`mutation($t: String!) { submitContribution(token: $t, input: { contributorName: "Cousin May" }) { guestToken } }`, { t: link });
    expect((await sees.done).map((r) => r.data.contributionSubmitted)).toEqual([{ contributorName: 'Cousin May', status: ContributionStatus.PENDING }]);
    await Promise.all([viewerWs.dispose(), editorWs.dispose()]);
  });

  it('brings unpublished stories to members only', async () => {
    const f = await fixture();
    f.chest.isPublic = true;
    await f.em.flush();
    const draft = await makeStory(f.em, f.chest, { title: 'Draft' });
    const published = await makeStory(f.em, f.chest, { title: 'Published', published: true });
    const SUB = `subscription($c: ID!) { storyReady(chestId: $c) { title } }`;
    const publicWs = api.ws();
    const memberWs = api.ws(f.viewer.token);
    const publicSees = api.collect(publicWs, SUB, { c: f.chest.id }, (all) => all.length === 1);
    const memberSees = api.collect(memberWs, SUB, { c: f.chest.id }, (all) => all.length === 2);
    await Promise.all([api.settled(publicWs), api.settled(memberWs)]);
    await listening(f.chest.id, 2);
    await emit(f.chest.id, ChestEventKind.STORY_READY, { storyId: draft.id });
    await emit(f.chest.id, ChestEventKind.STORY_READY, { storyId: published.id });
    expect((await publicSees.done).map((r) => r.data.storyReady.title)).toEqual(['Published']);
    expect((await memberSees.done).map((r) => r.data.storyReady.title)).toEqual(['Draft', 'Published']);

    // chestEvents applies the same rules to the catch-up.
    const anon = await api.must(`query($c: ID!) { chestEvents(chestId: $c) { lastSeq events { kind story { title } } } }`, { c: f.chest.id });
    expect(anon.chestEvents.events.map((e: any) => e.story?.title)).toEqual(['Published']);
    const member = await api.must(`query($c: ID!) { chestEvents(chestId: $c) { lastSeq events { story { title } } } }`, { c: f.chest.id }, f.viewer.token);
    expect(member.chestEvents.events.map((e: any) => e.story?.title)).toEqual(['Draft', 'Published']);
    expect(anon.chestEvents.lastSeq).toBe(member.chestEvents.lastSeq);
    await Promise.all([publicWs.dispose(), memberWs.dispose()]);
  });

  it('executes each event once per distinct subscription, not once per socket', async () => {
    const f = await fixture();
    f.chest.isPublic = true;
    await f.em.flush();
    const SUB = `subscription($c: ID!) { assetProcessing(chestId: $c) { stage asset { id filename thumbnails { name } } } }`;
    const sockets = [api.ws(), api.ws(), api.ws(), api.ws(), api.ws(), api.ws(f.viewer.token), api.ws(f.viewer.token)];
    const streams = sockets.map((ws) => api.collect(ws, SUB, { c: f.chest.id }, (all) => all.length === 1));
    await Promise.all(sockets.map((ws) => api.settled(ws)));
    await listening(f.chest.id, sockets.length);
    const before = { ...subscriptionStats };
    await emit(f.chest.id, ChestEventKind.ASSET_PROCESSING, { assetId: f.asset.id }, 'shared');
    const received = await Promise.all(streams.map((s) => s.done));
    // The five anonymous sockets get a neutral file name; the member's two get the real one.
    received.forEach((r, i) => {
      const filename = i < 5 ? neutralFilename(f.asset) : f.asset.filename;
      expect(r.map((x) => x.data.assetProcessing)).toEqual([{ stage: 'shared', asset: { id: f.asset.id, filename, thumbnails: [] } }]);
    });
    // Seven sockets, two distinct viewers (anonymous, and the member on two sockets): two executions.
    expect(subscriptionStats.delivered - before.delivered).toBe(7);
    expect(subscriptionStats.executed - before.executed).toBe(2);
    await Promise.all(sockets.map((ws) => ws.dispose()));
  });

  it('validates chestEvents arguments', async () => {
    const f = await fixture();
    const bad = await api.gql(`query($c: ID!) { chestEvents(chestId: $c, since: -1) { lastSeq } }`, { c: f.chest.id }, f.owner.token);
    expect(bad.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    const tooMany = await api.gql(`query($c: ID!) { chestEvents(chestId: $c, first: 100000) { lastSeq } }`, { c: f.chest.id }, f.owner.token);
    expect(tooMany.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    const stranger = await makeAccount(f.em);
    const hidden = await api.gql(`query($c: ID!) { chestEvents(chestId: $c) { lastSeq } }`, { c: f.chest.id }, stranger.token);
    expect(hidden.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
  });
});
