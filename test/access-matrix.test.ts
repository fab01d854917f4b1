import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Account, Asset, Chest, Contribution, Membership, Story } from '../src/db/entities/index.js';
import { ChestRole, ProcessingStatus, StoryStatus } from '../src/db/enums.js';
import { hashToken, newToken } from '../src/domain/tokens.js';
import { createTestDatabase, type TestDatabase } from './support/db.js';
import { addMember, makeAccount, makeAsset, makeChest, makeContribution, makeStory } from './support/factories.js';
import { createGraphQLRunner, type GqlResult, ok } from './support/graphql.js';

/**
 * The access matrix: every query, mutation and nested field (OPS) × every kind of caller (ACTORS)
 * × every state of chest (STATES), one test per cell. Each cell's expected outcome comes from the
 * rules, written once below as data (`need`, `read`, per-op `expected`), never from running the
 * code. Every cell also checks the matrix-wide invariants: a denial on a chest the caller cannot
 * read is NOT_FOUND, a denied mutation changes nothing, and no response carries a storage key, a
 * token hash, a stored secret or a stack. An allowed cell checks what it returned (`verify`):
 * places only for members, drafts only for members, the change a mutation made.
 *
 * To add a field or an operation: one entry in OPS (its `expected` from the role table in docs/access-and-sharing.md "Roles").
 * To add a caller: one entry in ACTORS, how it sends requests (`requestOptions`, `onChest`), and
 * how the rules treat it (`canRead`).
 */

type ActorKind = 'anonymous' | 'shareHolder' | 'shareLinkOpener' | 'guest' | 'viewer' | 'editor' | 'owner' | 'otherAccount';
type State = 'private' | 'public' | 'revoked' | 'deleted' | 'deletedPrivate';
type Outcome = 'ALLOWED' | 'NOT_FOUND' | 'FORBIDDEN' | 'UNAUTHENTICATED' | 'CONFLICT' | 'ALREADY_IN_BIN';

/**
 * - shareHolder: sends the view link's token with every request (`X-Share-Token`), reaching
 *   everything by id, as docs/access-and-sharing.md "Share links" tells clients to.
 * - shareLinkOpener: presents the token only as `chestByShareToken`'s argument; anything by id
 *   comes in a later request that presents nothing (the grant must not outlive its request).
 * - guest: holds the contribution link and the guest token of a pending contribution; presents
 *   them only where an operation takes one (submitContribution, contributionByGuestToken,
 *   createUpload(guestToken)); everywhere else they are a caller without an account.
 * - otherAccount: signed in, no role in this chest.
 */
const ACTORS: readonly ActorKind[] = ['anonymous', 'shareHolder', 'shareLinkOpener', 'guest', 'viewer', 'editor', 'owner', 'otherAccount'];
/**
 * `revoked`: private, its share link revoked after the share holders got it. `deleted`: a *public*
 * chest in the bin (the strictest case: public must not outlive deletion); `deletedPrivate`: a
 * private one. Both were deleted through deleteChest, so their share tokens are still valid.
 */
const STATES: readonly State[] = ['private', 'public', 'revoked', 'deleted', 'deletedPrivate'];

type Signed = 'owner' | 'editor' | 'viewer' | 'otherAccount';
const ROLE: Partial<Record<ActorKind, ChestRole>> = { owner: ChestRole.OWNER, editor: ChestRole.EDITOR, viewer: ChestRole.VIEWER };
const isMember = (a: ActorKind): boolean => ROLE[a] !== undefined;
const isSignedIn = (a: ActorKind): a is Signed => a === 'owner' || a === 'editor' || a === 'viewer' || a === 'otherAccount';
const isLive = (s: State): boolean => s !== 'deleted' && s !== 'deletedPrivate';
const isPublic = (s: State): boolean => s === 'public' || s === 'deleted';

// ---------------------------------------------------------------------------------------------
// The rules, as data.

/**
 * How an operation reaches the chest: `share` when a share link's holder can present the token
 * in the same request (a nested field under chestByShareToken), `direct` when it names the chest,
 * asset or story by id (only the X-Share-Token header carries a share grant there). `null` for
 * operations not about one chest (the op's `expected` says everything).
 */
type Reach = 'share' | 'direct' | null;

/** Whether the actor can read the fixture chest in a request reaching it this way. */
function canRead(actor: ActorKind, state: State, reach: Exclude<Reach, null>): boolean {
  if (!isLive(state)) return false;
  if (isMember(actor)) return true;
  if (isPublic(state)) return true;
  if (state !== 'private') return false; // a revoked link grants nothing
  return actor === 'shareHolder' || (actor === 'shareLinkOpener' && reach === 'share');
}

/** Allowed for these actors on a readable chest; otherwise the right denial. */
const need =
  (allowed: readonly ActorKind[], reach: Exclude<Reach, null>) =>
  (actor: ActorKind, state: State): Outcome => {
    if (!canRead(actor, state, reach)) return 'NOT_FOUND';
    if (allowed.includes(actor)) return 'ALLOWED';
    return isSignedIn(actor) ? 'FORBIDDEN' : 'UNAUTHENTICATED';
  };
const read = (reach: Exclude<Reach, null>) => (actor: ActorKind, state: State): Outcome => (canRead(actor, state, reach) ? 'ALLOWED' : 'NOT_FOUND');
/** About something only members know exists (a draft story): NOT_FOUND for everyone else. */
const membersOnly =
  (allowed: readonly ActorKind[]) =>
  (actor: ActorKind, state: State): Outcome =>
    !isLive(state) || !isMember(actor) ? 'NOT_FOUND' : allowed.includes(actor) ? 'ALLOWED' : 'FORBIDDEN';
/** Contributions: those who may not moderate learn nothing of one; editors see them but only owners decide. */
const decideContribution = (actor: ActorKind, state: State): Outcome =>
  !isLive(state) ? 'NOT_FOUND' : actor === 'owner' ? 'ALLOWED' : actor === 'editor' ? 'FORBIDDEN' : 'NOT_FOUND';
/** Operations that take the guest's own credential; nobody else holds one (they try a well-formed token of their own making). */
const guestOnly = (actor: ActorKind, state: State): Outcome => (actor === 'guest' && isLive(state) ? 'ALLOWED' : 'NOT_FOUND');

/** A memory in the bin: only those who could bring it back (owners; the editor who added it) learn it exists. */
const binnedBy =
  (allowed: readonly ActorKind[]) =>
  (actor: ActorKind, state: State): Outcome =>
    !isLive(state) || (actor !== 'owner' && actor !== 'editor') ? 'NOT_FOUND' : allowed.includes(actor) ? 'ALLOWED' : 'FORBIDDEN';

const MEMBERS: readonly ActorKind[] = ['owner', 'editor', 'viewer'];
const MODERATORS: readonly ActorKind[] = ['owner', 'editor'];
const OWNERS: readonly ActorKind[] = ['owner'];

// ---------------------------------------------------------------------------------------------
// Fixtures.

interface Person {
  id: string;
  email: string;
  token: string;
}
interface Cast {
  owner: Person;
  editor: Person;
  viewer: Person;
  otherAccount: Person;
  /** An account with no role anywhere, for inviteMember. */
  invitee: Person;
}

interface Fixture {
  state: State;
  cast: Cast;
  chestId: string;
  assetId: string;
  storageKey: string;
  contributionId: string;
  /** A memory the guest sent with the pending contribution: waiting for review, invisible to all. */
  pendingAssetId: string;
  /** A memory the editor added and moved to the bin (Chest.bin, restoreMemory, purgeMemory). */
  binnedAssetId: string;
  /** The guest's own token for the pending contribution (only its hash is stored). */
  guestToken: string;
  /** The chest's contribution link (only its hash is stored). */
  contributionLink: string;
  /** The view link, issued through createShareLink as the owner (revoked in state `revoked`). */
  shareToken: string;
  publishedStoryId: string;
  draftStoryId: string;
  /** Every secret value the fixture started with; none may ever appear in a response. */
  secrets: string[];
}

const LOCATION = { latitude: 48.8566, longitude: 2.3522, altitude: null, placeName: 'Paris' };
/** The place in the family's words: unlike the location, every reader sees it. */
const PLACE = 'Montmartre';
/** What the image pipeline reads from EXIF Make and Model: like the original it comes from, not for everyone. */
const MEDIA_INFO = { camera: 'Pentax K1000' };
const PUBLISHED = 'Published life';
const DRAFT = 'Draft life';

const OPEN_SHARE = `query($t: String!) { chestByShareToken(token: $t) { id } }`;
const CREATE_SHARE_LINK = `mutation($id: ID!) { createShareLink(chestId: $id) { token expiresAt chest { id } } }`;
const REVOKE_SHARE_LINK = `mutation($id: ID!) { revokeShareLink(chestId: $id) { id } }`;
const DELETE_CHEST = `mutation($id: ID!) { deleteChest(id: $id) { id deletedAt } }`;

let db: TestDatabase;
let gql: Awaited<ReturnType<typeof createGraphQLRunner>>;

async function makeCast(): Promise<Cast> {
  const em = db.orm.em.fork();
  const person = async (): Promise<Person> => {
    const { account, token } = await makeAccount(em);
    return { id: account.id, email: account.email, token };
  };
  return { owner: await person(), editor: await person(), viewer: await person(), otherAccount: await person(), invitee: await person() };
}

/**
 * A chest in the given state with an owner, an editor and a viewer, a processed photo with a
 * location (also the hero image), a published and an unpublished story, a pending contribution
 * whose guest token we hold, a contribution link, and a share link issued through the API.
 */
async function fixture(state: State, cast: Cast): Promise<Fixture> {
  const em = db.orm.em.fork();
  const contributionLink = newToken();
  const chest = await makeChest(
    em,
    { personName: 'Ada Matrix', isPublic: isPublic(state), allowContributions: true, contributionTokenHash: contributionLink.hash },
    em.getReference(Account, cast.owner.id),
  );
  await addMember(em, chest, em.getReference(Account, cast.editor.id), ChestRole.EDITOR);
  await addMember(em, chest, em.getReference(Account, cast.viewer.id), ChestRole.VIEWER);
  const asset = await makeAsset(em, chest, { location: { ...LOCATION }, place: PLACE, mediaInfo: { ...MEDIA_INFO }, status: ProcessingStatus.COMPLETE });
  // Its metadata-free copy (Asset.previewUrl), as the image pipeline leaves it.
  asset.thumbnails = [{ name: '1024', width: 1024, height: 768, mimeType: 'image/webp', storageKey: `chests/${chest.id}/derivatives/${asset.id}/1024` }];
  chest.heroImage = asset;
  const published = await makeStory(em, chest, { title: PUBLISHED, published: true, status: StoryStatus.READY });
  const draft = await makeStory(em, chest, { title: DRAFT, published: false, status: StoryStatus.READY });
  chest.publishedStory = published;
  await em.flush();
  const guest = newToken();
  const contribution = await makeContribution(em, chest, { guestTokenHash: guest.hash, contributorName: 'A neighbour' });
  const pending = await makeAsset(em, chest, { contribution, status: ProcessingStatus.COMPLETE });
  const editor = em.getReference(Account, cast.editor.id);
  const binned = await makeAsset(em, chest, { addedBy: editor, deletedBy: editor, deletedAt: new Date(), status: ProcessingStatus.COMPLETE });

  const asOwner = { token: cast.owner.token };
  const shareToken: string = ok(await gql.run(CREATE_SHARE_LINK, { id: chest.id }, asOwner)).createShareLink.token;
  if (state === 'revoked') ok(await gql.run(REVOKE_SHARE_LINK, { id: chest.id }, asOwner));
  if (!isLive(state)) ok(await gql.run(DELETE_CHEST, { id: chest.id }, asOwner));

  const people = [cast.owner, cast.editor, cast.viewer, cast.otherAccount, cast.invitee];
  return {
    state,
    cast,
    chestId: chest.id,
    assetId: asset.id,
    storageKey: asset.storageKey,
    contributionId: contribution.id,
    pendingAssetId: pending.id,
    binnedAssetId: binned.id,
    guestToken: guest.token,
    contributionLink: contributionLink.token,
    shareToken,
    publishedStoryId: published.id,
    draftStoryId: draft.id,
    secrets: [
      asset.storageKey,
      pending.storageKey,
      binned.storageKey,
      guest.token,
      guest.hash,
      contributionLink.token,
      contributionLink.hash,
      shareToken,
      hashToken(shareToken),
      ...people.flatMap((p) => [p.token, hashToken(p.token)]),
    ],
  };
}

/** What a denied mutation must leave untouched, and what an allowed one must have changed. */
interface Snapshot {
  chest: {
    personName: string;
    description: string | null;
    birthDate: string | null;
    passingDate: string | null;
    isPublic: boolean;
    allowContributions: boolean;
    shareTokenHash: string | null;
    /** The view link hands out originals (createShareLink allowOriginals). */
    shareAllowsOriginals: boolean;
    contributionTokenHash: string | null;
    deleted: boolean;
  };
  /** accountId → role */
  members: Record<string, ChestRole>;
  /** contributionId → status */
  contributions: Record<string, string>;
  /** What updateMemory changes on the fixture's memory. */
  asset: { caption: string | null; place: string | null; dateTaken: string | null; tags: string[] };
  /** Every story row (generateStory and editStory add rows): "title|published|status", sorted. */
  stories: string[];
  /** The chest's memories in the bin, sorted (deleteMemory, restoreMemory, purgeMemory, emptyBin). */
  bin: string[];
  /** Its guests' memories still waiting for review, and those approved alone, sorted. */
  waiting: string[];
  approvedAlone: string[];
}

async function snapshot(fx: Fixture): Promise<Snapshot> {
  const em = db.orm.em.fork();
  const chest = await em.findOneOrFail(Chest, { id: fx.chestId });
  const members = await em.find(Membership, { chest: fx.chestId });
  const contributions = await em.find(Contribution, { chest: fx.chestId });
  const asset = await em.findOneOrFail(Asset, { id: fx.assetId });
  const stories = await em.find(Story, { chest: fx.chestId });
  const ids = async (where: Record<string, unknown>) => (await em.find(Asset, { chest: fx.chestId, ...where }, { fields: ['id'] })).map((a) => a.id).sort();
  const [bin, waiting, approvedAlone] = [
    await ids({ deletedAt: { $ne: null } }),
    await ids({ contribution: { $ne: null }, approvedAt: null, deletedAt: null }),
    await ids({ approvedAt: { $ne: null } }),
  ];
  return {
    bin,
    waiting,
    approvedAlone,
    chest: {
      personName: chest.personName,
      description: chest.description,
      birthDate: chest.birthDate,
      passingDate: chest.passingDate,
      isPublic: chest.isPublic,
      allowContributions: chest.allowContributions,
      shareTokenHash: chest.shareTokenHash,
      shareAllowsOriginals: chest.shareAllowsOriginals,
      contributionTokenHash: chest.contributionTokenHash,
      deleted: chest.deletedAt !== null,
    },
    members: Object.fromEntries(members.map((m) => [m.account.id, m.role])),
    contributions: Object.fromEntries(contributions.map((c) => [c.id, c.status])),
    asset: {
      caption: asset.caption,
      place: asset.place,
      dateTaken: asset.dateTaken?.toISOString() ?? null,
      tags: asset.tags.map((t) => `${t.source}:${t.name}`),
    },
    stories: stories.map((s) => `${s.title}|${s.published}|${s.status}`).sort(),
  };
}

// ---------------------------------------------------------------------------------------------
// Operations.

interface Cell {
  fx: Fixture;
  actor: ActorKind;
  state: State;
  /** Runs one request as this actor (with its session, or its share header). */
  as(query: string, variables?: Record<string, unknown>): Promise<GqlResult>;
}

interface Op {
  name: string;
  /** Changes state: each cell gets a fresh fixture, and denials must change nothing. */
  mutates: boolean;
  reach: Reach;
  /** Cells are generated only for these states (default: all). */
  states?: readonly State[];
  exec(c: Cell): Promise<GqlResult>;
  expected(actor: ActorKind, state: State): Outcome;
  /** Further checks on an allowed cell's data (and, for mutations, the state after). */
  verify?(data: any, c: Cell, after: Snapshot | null, before: Snapshot | null): void;
}

/** A nested selection on the chest: a link opener reaches it through chestByShareToken, everyone else by id. */
const onChest =
  (selection: string) =>
  (c: Cell): Promise<GqlResult> =>
    c.actor === 'shareLinkOpener'
      ? c.as(`query($t: String!) { chestByShareToken(token: $t) { id ${selection} } }`, { t: c.fx.shareToken })
      : c.as(`query($id: ID!) { chest(id: $id) { id ${selection} } }`, { id: c.fx.chestId });
const chestOf = (data: any): any => data.chestByShareToken ?? data.chest;

/** A request by id. A link opener opened their link in an earlier request, and presents nothing now. */
const byId =
  (query: string, variables: (fx: Fixture) => Record<string, unknown>) =>
  async (c: Cell): Promise<GqlResult> => {
    if (c.actor === 'shareLinkOpener') await c.as(OPEN_SHARE, { t: c.fx.shareToken });
    return c.as(query, variables(c.fx));
  };

function expectLocation(location: unknown, actor: ActorKind): void {
  if (isMember(actor)) expect(location, 'members see the location').toEqual({ latitude: LOCATION.latitude, placeName: LOCATION.placeName });
  else expect(location, 'only members see the location').toBeNull();
}

const READ_OPS: Op[] = [
  {
    name: 'chest(id) / chestByShareToken',
    mutates: false,
    reach: 'share',
    exec: onChest('personName myRole'),
    expected: read('share'),
    verify(data, c) {
      const chest = chestOf(data);
      expect(chest.id).toBe(c.fx.chestId);
      expect(chest.personName).toBe('Ada Matrix');
      expect(chest.myRole).toBe(ROLE[c.actor] ?? null);
    },
  },
  {
    name: 'asset(id)',
    mutates: false,
    reach: 'direct',
    exec: byId(`query($id: ID!) { asset(id: $id) { id filename mediaInfo place location { latitude placeName } originalUrl previewUrl previewMimeType } }`, (fx) => ({
      id: fx.assetId,
    })),
    expected: read('direct'),
    verify(data, c) {
      expect(data.asset.id).toBe(c.fx.assetId);
      expect(data.asset.place, 'every reader sees the place in words').toBe(PLACE);
      expectLocation(data.asset.location, c.actor);
      // Any original can hold GPS, and a name a street: members only (the fixture's link does not allow originals).
      if (isMember(c.actor)) expect(data.asset.originalUrl).toEqual(expect.any(String));
      else expect(data.asset.originalUrl).toBeNull();
      if (isMember(c.actor)) expect(data.asset.filename).toMatch(/^memory-[0-9a-f]{8}\.jpg$/);
      else expect(data.asset.filename, 'non-members get a neutral name').toBe('photo.jpg');
      if (isMember(c.actor)) expect(data.asset.mediaInfo).toEqual(MEDIA_INFO);
      else expect(data.asset.mediaInfo, 'the camera is EXIF of the original: not for non-members').toEqual({});
      // The metadata-free copy: every reader.
      expect(data.asset.previewUrl).toMatch(new RegExp(`^/files/${c.fx.assetId}/1024\\?exp=\\d+&sig=`));
      expect(data.asset.previewMimeType).toBe('image/webp');
    },
  },
  {
    name: 'Chest.assets',
    mutates: false,
    reach: 'share',
    exec: onChest('assets { totalCount edges { node { id location { latitude placeName } } } }'),
    expected: read('share'),
    verify(data, c) {
      const assets = chestOf(data).assets;
      expect(assets.totalCount).toBe(1);
      expect(assets.edges).toHaveLength(1);
      expect(assets.edges[0].node.id).toBe(c.fx.assetId);
      expectLocation(assets.edges[0].node.location, c.actor);
    },
  },
  {
    name: 'Chest.summary',
    mutates: false,
    reach: 'share',
    exec: onChest('summary { totalAssets images recentAssets { id location { latitude placeName } } }'),
    expected: read('share'),
    verify(data, c) {
      const summary = chestOf(data).summary;
      expect(summary).toMatchObject({ totalAssets: 1, images: 1 });
      expect(summary.recentAssets).toHaveLength(1);
      expectLocation(summary.recentAssets[0].location, c.actor);
    },
  },
  {
    // Search reads what the caller may read: the place in words is the family's, the location never.
    name: 'search',
    mutates: false,
    reach: 'direct',
    exec: byId(`query($id: ID!, $q: String!) { search(chestId: $id, query: $q) { edges { node { field snippet asset { id } } } } }`, (fx) => ({
      id: fx.chestId,
      q: `Matrix OR ${PLACE.split(' ')[0]} OR ${LOCATION.placeName}`,
    })),
    expected: read('direct'),
    verify(data, c) {
      const hits = data.search.edges.map((e: any) => e.node);
      expect(hits.map((h: any) => h.field).sort()).toEqual(['CHEST_NAME', 'PLACE']);
      expect(hits.find((h: any) => h.field === 'PLACE').asset.id).toBe(c.fx.assetId);
    },
  },
  {
    name: 'Chest.timeline',
    mutates: false,
    reach: 'share',
    exec: onChest('timeline(granularity: DECADE) { buckets { total cover { id location { latitude placeName } } } undated { total } }'),
    expected: read('share'),
    verify(data, c) {
      const timeline = chestOf(data).timeline;
      const covers = timeline.buckets.map((b: any) => b.cover).filter(Boolean);
      expect(timeline.buckets.reduce((n: number, b: any) => n + b.total, timeline.undated.total)).toBe(1);
      for (const cover of covers) {
        expect(cover.id).toBe(c.fx.assetId);
        expectLocation(cover.location, c.actor);
      }
    },
  },
  {
    name: 'Chest.heroImage',
    mutates: false,
    reach: 'share',
    exec: onChest('heroImage { id location { latitude placeName } }'),
    expected: read('share'),
    verify(data, c) {
      const hero = chestOf(data).heroImage;
      expect(hero.id).toBe(c.fx.assetId);
      expectLocation(hero.location, c.actor);
    },
  },
  {
    name: 'Chest.stories',
    mutates: false,
    reach: 'share',
    exec: onChest('stories { edges { node { title published } } }'),
    expected: read('share'),
    verify(data, c) {
      const titles = chestOf(data)
        .stories.edges.map((e: any) => e.node.title)
        .sort();
      expect(titles, isMember(c.actor) ? 'members see drafts' : 'non-members see published stories only').toEqual(
        isMember(c.actor) ? [DRAFT, PUBLISHED] : [PUBLISHED],
      );
    },
  },
  {
    name: 'Chest.publishedStory',
    mutates: false,
    reach: 'share',
    exec: onChest('publishedStory { id title }'),
    expected: read('share'),
    verify: (data, c) => expect(chestOf(data).publishedStory).toEqual({ id: c.fx.publishedStoryId, title: PUBLISHED }),
  },
  {
    name: 'Chest.members',
    mutates: false,
    reach: 'share',
    exec: onChest('members { role account { id } }'),
    expected: need(MEMBERS, 'share'),
    verify(data, c) {
      const roles = Object.fromEntries(chestOf(data).members.map((m: any) => [m.account.id, m.role]));
      expect(roles).toEqual({ [c.fx.cast.owner.id]: 'OWNER', [c.fx.cast.editor.id]: 'EDITOR', [c.fx.cast.viewer.id]: 'VIEWER' });
    },
  },
  {
    name: 'Chest.contributions',
    mutates: false,
    reach: 'share',
    exec: onChest('contributions { edges { node { id status contributorName } } }'),
    expected: need(MODERATORS, 'share'),
    verify(data, c) {
      expect(chestOf(data).contributions.edges).toEqual([{ node: { id: c.fx.contributionId, status: 'PENDING', contributorName: 'A neighbour' } }]);
    },
  },
  {
    name: 'Chest.links',
    mutates: false,
    reach: 'share',
    exec: onChest('links { shareLinkActive shareLinkAllowsOriginals contributionLinkActive }'),
    expected: need(OWNERS, 'share'),
    verify(data, c) {
      expect(chestOf(data).links).toEqual({ shareLinkActive: c.state !== 'revoked', shareLinkAllowsOriginals: false, contributionLinkActive: true });
    },
  },
  {
    name: 'Chest.bin',
    mutates: false,
    reach: 'share',
    exec: onChest('bin { edges { node { id deletedAt deletedBy { id } } } }'),
    expected: need(OWNERS, 'share'),
    verify(data, c) {
      expect(chestOf(data).bin.edges).toEqual([{ node: { id: c.fx.binnedAssetId, deletedAt: expect.any(String), deletedBy: { id: c.fx.cast.editor.id } } }]);
    },
  },
  {
    name: 'Chest.exports',
    mutates: false,
    reach: 'share',
    exec: onChest('exports { edges { node { id status downloadUrl } } }'),
    expected: need(OWNERS, 'share'),
    verify(data) {
      expect(chestOf(data).exports.edges).toEqual([]);
    },
  },
  {
    // Copies across all contributors (issue 15, point 3): the fixture's memories are all different, and neither its guest's pending copy nor the binned one counts.
    name: 'Chest.duplicateGroups',
    mutates: false,
    reach: 'share',
    exec: onChest('duplicateGroups { edges { node { reason assets { id } } } }'),
    expected: need(MODERATORS, 'share'),
    verify: (data) => expect(chestOf(data).duplicateGroups.edges).toEqual([]),
  },
  {
    // Who sent a memory (guests' names) is for those who review contributions; every other reader gets null.
    name: 'Asset.contributors',
    mutates: false,
    reach: 'share',
    exec: onChest('assets { edges { node { id contributors { kind name assetId } } } }'),
    expected: read('share'),
    verify(data, c) {
      const contributors = MODERATORS.includes(c.actor) ? [{ kind: 'MEMBER', name: null, assetId: c.fx.assetId }] : null;
      expect(chestOf(data).assets.edges).toEqual([{ node: { id: c.fx.assetId, contributors } }]);
    },
  },
  {
    name: 'asset(id) of a memory in the bin',
    mutates: false,
    reach: 'direct',
    exec: byId(`query($id: ID!) { asset(id: $id) { id deletedAt deletedBy { id } } }`, (fx) => ({ id: fx.binnedAssetId })),
    // Gone for everyone but the owners, who look at it before restoring or erasing it.
    expected: (actor, state) => (isLive(state) && actor === 'owner' ? 'ALLOWED' : 'NOT_FOUND'),
    verify: (data, c) => expect(data.asset).toEqual({ id: c.fx.binnedAssetId, deletedAt: expect.any(String), deletedBy: { id: c.fx.cast.editor.id } }),
  },
  {
    name: 'Asset.canDelete',
    mutates: false,
    reach: 'direct',
    exec: byId(`query($id: ID!) { asset(id: $id) { canDelete } }`, (fx) => ({ id: fx.assetId })),
    expected: read('direct'),
    // The fixture's memory was added by nobody the cast knows: only owners may bin it.
    verify: (data, c) => expect(data.asset.canDelete).toBe(c.actor === 'owner'),
  },
  {
    name: 'asset(id) of a memory awaiting review',
    mutates: false,
    reach: 'direct',
    exec: byId(`query($id: ID!) { asset(id: $id) { id } }`, (fx) => ({ id: fx.pendingAssetId })),
    expected: () => 'NOT_FOUND',
  },
  {
    name: 'Contribution.assets',
    mutates: false,
    reach: 'share',
    exec: onChest('contributions { edges { node { id assets { edges { node { id approvedAt thumbnails { name } } } } } } }'),
    expected: need(MODERATORS, 'share'),
    verify(data, c) {
      const [contribution] = chestOf(data).contributions.edges;
      expect(contribution.node.assets.edges).toEqual([{ node: { id: c.fx.pendingAssetId, approvedAt: null, thumbnails: [] } }]);
    },
  },
  {
    name: 'Contribution.assets for the guest',
    mutates: false,
    reach: null,
    exec: (c) =>
      c.as(`query($g: String!) { contributionByGuestToken(guestToken: $g) { id assets { edges { node { id } } } } }`, {
        g: c.actor === 'guest' ? c.fx.guestToken : newToken().token,
      }),
    expected: guestOnly,
    verify: (data, c) => expect(data.contributionByGuestToken, 'the guest gets no review previews').toEqual({ id: c.fx.contributionId, assets: null }),
  },
  {
    name: 'chestEvents',
    mutates: false,
    reach: 'direct',
    exec: byId(`query($id: ID!) { chestEvents(chestId: $id) { lastSeq events { seq } } }`, (fx) => ({ id: fx.chestId })),
    expected: read('direct'),
    verify: (data) => expect(data.chestEvents.lastSeq).toEqual(expect.any(Number)),
  },
  {
    name: 'story(published)',
    mutates: false,
    reach: 'direct',
    exec: byId(`query($id: ID!) { story(id: $id) { id title } }`, (fx) => ({ id: fx.publishedStoryId })),
    expected: read('direct'),
    verify: (data, c) => expect(data.story).toEqual({ id: c.fx.publishedStoryId, title: PUBLISHED }),
  },
  {
    name: 'story(draft)',
    mutates: false,
    reach: 'direct',
    exec: byId(`query($id: ID!) { story(id: $id) { id title } }`, (fx) => ({ id: fx.draftStoryId })),
    expected: membersOnly(MEMBERS),
    verify: (data, c) => expect(data.story).toEqual({ id: c.fx.draftStoryId, title: DRAFT }),
  },
  {
    name: 'storyVersions',
    mutates: false,
    reach: 'direct',
    exec: byId(`query($id: ID!) { storyVersions(storyId: $id) { id version } }`, (fx) => ({ id: fx.publishedStoryId })),
    expected: need(MEMBERS, 'direct'),
    verify: (data, c) => expect(data.storyVersions.map((s: any) => s.id)).toContain(c.fx.publishedStoryId),
  },
  {
    name: 'chests()',
    mutates: false,
    reach: null,
    exec: (c) => c.as(`{ chests(first: 50) { edges { node { id } } } }`),
    expected: () => 'ALLOWED',
    verify(data, c) {
      const ids: string[] = data.chests.edges.map((e: any) => e.node.id);
      if (!isSignedIn(c.actor)) expect(ids, 'signed out: empty').toEqual([]);
      expect(ids.includes(c.fx.chestId), 'only live chests the caller is a member of').toBe(isMember(c.actor) && isLive(c.state));
    },
  },
  {
    name: 'chests(deleted: true)',
    mutates: false,
    reach: null,
    exec: (c) => c.as(`{ chests(first: 50, deleted: true) { edges { node { id deletedAt } } } }`),
    expected: () => 'ALLOWED',
    verify(data, c) {
      const ids: string[] = data.chests.edges.map((e: any) => e.node.id);
      if (!isSignedIn(c.actor)) expect(ids, 'signed out: empty').toEqual([]);
      expect(ids.includes(c.fx.chestId), "the bin lists the caller's own deleted chests").toBe(c.actor === 'owner' && !isLive(c.state));
    },
  },
  {
    name: 'contributionByGuestToken',
    mutates: false,
    reach: null,
    exec: (c) =>
      c.as(`query($g: String!) { contributionByGuestToken(guestToken: $g) { id status contributorName } }`, {
        g: c.actor === 'guest' ? c.fx.guestToken : newToken().token,
      }),
    expected: guestOnly,
    verify(data, c) {
      expect(data.contributionByGuestToken).toEqual({ id: c.fx.contributionId, status: 'PENDING', contributorName: 'A neighbour' });
    },
  },
  {
    name: 'createChest',
    mutates: false,
    reach: null,
    states: ['private'],
    exec: (c) => c.as(`mutation { createChest(input: { personName: "New Person" }) { id myRole isPublic } }`),
    expected: (actor) => (isSignedIn(actor) ? 'ALLOWED' : 'UNAUTHENTICATED'),
    verify(data) {
      expect(data.createChest).toMatchObject({ myRole: 'OWNER', isPublic: false });
    },
  },
];

const UPDATE = `mutation($id: ID!, $input: UpdateChestInput!) { updateChest(id: $id, input: $input) {
  id personName description birthDate passingDate isPublic allowContributions } }`;
const byChestId = (fx: Fixture) => ({ id: fx.chestId });

const MUTATION_OPS: Op[] = [
  {
    name: 'updateChest(personName)',
    mutates: true,
    reach: 'direct',
    exec: byId(UPDATE, (fx) => ({ id: fx.chestId, input: { personName: 'Ada Renamed' } })),
    expected: need(MODERATORS, 'direct'),
    verify: (data, _c, after) => {
      expect(data.updateChest.personName).toBe('Ada Renamed');
      expect(after?.chest.personName).toBe('Ada Renamed');
    },
  },
  {
    name: 'updateChest(description, birthDate, passingDate)',
    mutates: true,
    reach: 'direct',
    exec: byId(UPDATE, (fx) => ({ id: fx.chestId, input: { description: 'Edited', birthDate: '1931-04-02', passingDate: '2019-11-30' } })),
    expected: need(MODERATORS, 'direct'),
    verify: (_data, _c, after) => {
      expect(after?.chest).toMatchObject({ description: 'Edited', birthDate: '1931-04-02', passingDate: '2019-11-30' });
    },
  },
  {
    name: 'updateChest(isPublic)',
    mutates: true,
    reach: 'direct',
    exec: byId(UPDATE, (fx) => ({ id: fx.chestId, input: { isPublic: fx.state !== 'public' } })),
    expected: need(OWNERS, 'direct'),
    verify: (_data, c, after) => expect(after?.chest.isPublic).toBe(c.state !== 'public'),
  },
  {
    name: 'updateChest(allowContributions)',
    mutates: true,
    reach: 'direct',
    exec: byId(UPDATE, (fx) => ({ id: fx.chestId, input: { allowContributions: false } })),
    expected: need(OWNERS, 'direct'),
    verify: (_data, _c, after) => expect(after?.chest.allowContributions).toBe(false),
  },
  {
    name: 'deleteChest',
    mutates: true,
    reach: 'direct',
    exec: byId(DELETE_CHEST, byChestId),
    expected: need(OWNERS, 'direct'),
    verify: (_data, _c, after) => expect(after?.chest.deleted).toBe(true),
  },
  {
    name: 'restoreChest',
    mutates: true,
    reach: 'direct',
    exec: byId(`mutation($id: ID!) { restoreChest(id: $id) { id deletedAt } }`, byChestId),
    // Only an owner, only from the bin; on a live chest the owner learns it is not deleted.
    expected: (actor, state) => {
      if (!isLive(state)) return actor === 'owner' ? 'ALLOWED' : 'NOT_FOUND';
      return actor === 'owner' ? 'CONFLICT' : need(OWNERS, 'direct')(actor, state);
    },
    verify: (data, _c, after) => {
      expect(data.restoreChest.deletedAt).toBeNull();
      expect(after?.chest.deleted).toBe(false);
    },
  },
  {
    name: 'createShareLink',
    mutates: true,
    reach: 'direct',
    exec: byId(CREATE_SHARE_LINK, byChestId),
    expected: need(OWNERS, 'direct'),
    verify: (data, _c, after, before) => {
      expect(after?.chest.shareTokenHash).toBe(hashToken(data.createShareLink.token));
      expect(after?.chest.shareTokenHash).not.toBe(before?.chest.shareTokenHash);
      expect(after?.chest.shareAllowsOriginals, 'originals only when asked for').toBe(false);
    },
  },
  {
    // Owners may let a link's holders have originals and real names; then its holder (sending only
    // the new token) gets them, and still no coordinates.
    name: 'createShareLink(allowOriginals) and asset(id) through it',
    mutates: true,
    reach: 'direct',
    exec: async (c) => {
      const made = await byId(`mutation($id: ID!) { createShareLink(chestId: $id, allowOriginals: true) { token } }`, byChestId)(c);
      if (!made.data) return made;
      const seen = await gql.run(`query($id: ID!) { asset(id: $id) { filename mediaInfo originalUrl location { latitude } } }`, { id: c.fx.assetId }, {
        token: null,
        shareToken: made.data.createShareLink.token,
        clientAddress: '10.255.0.1',
      });
      return { data: { viaLink: seen.data ?? null, errors: seen.errors ?? null } };
    },
    expected: need(OWNERS, 'direct'),
    verify: (data, _c, after) => {
      expect(after?.chest.shareAllowsOriginals).toBe(true);
      expect(data.errors).toBeNull();
      expect(data.viaLink.asset).toEqual({ filename: expect.stringMatching(/^memory-/), mediaInfo: MEDIA_INFO, originalUrl: expect.any(String), location: null });
    },
  },
  {
    name: 'revokeShareLink',
    mutates: true,
    reach: 'direct',
    exec: byId(REVOKE_SHARE_LINK, byChestId),
    expected: need(OWNERS, 'direct'),
    verify: (_data, _c, after) => {
      expect(after?.chest.shareTokenHash).toBeNull();
      expect(after?.chest.shareAllowsOriginals).toBe(false);
    },
  },
  {
    name: 'createContributionLink',
    mutates: true,
    reach: 'direct',
    exec: byId(`mutation($id: ID!) { createContributionLink(chestId: $id) { token expiresAt } }`, byChestId),
    expected: need(OWNERS, 'direct'),
    verify: (data, _c, after) => expect(after?.chest.contributionTokenHash).toBe(hashToken(data.createContributionLink.token)),
  },
  {
    name: 'revokeContributionLink',
    mutates: true,
    reach: 'direct',
    exec: byId(`mutation($id: ID!) { revokeContributionLink(chestId: $id) { id } }`, byChestId),
    expected: need(OWNERS, 'direct'),
    verify: (_data, _c, after) => expect(after?.chest.contributionTokenHash).toBeNull(),
  },
  {
    name: 'inviteMember',
    mutates: true,
    reach: 'direct',
    exec: byId(`mutation($id: ID!, $email: String!) { inviteMember(chestId: $id, email: $email, role: VIEWER) { id role } }`, (fx) => ({
      id: fx.chestId,
      email: fx.cast.invitee.email,
    })),
    expected: need(OWNERS, 'direct'),
    verify: (_data, c, after) => expect(after?.members[c.fx.cast.invitee.id]).toBe('VIEWER'),
  },
  {
    name: 'changeMemberRole(viewer → EDITOR)',
    mutates: true,
    reach: 'direct',
    exec: byId(`mutation($id: ID!, $acc: ID!) { changeMemberRole(chestId: $id, accountId: $acc, role: EDITOR) { id role } }`, (fx) => ({
      id: fx.chestId,
      acc: fx.cast.viewer.id,
    })),
    expected: need(OWNERS, 'direct'),
    verify: (_data, c, after) => expect(after?.members[c.fx.cast.viewer.id]).toBe('EDITOR'),
  },
  {
    // Owners remove anyone, a member may leave.
    name: 'removeMember(viewer)',
    mutates: true,
    reach: 'direct',
    exec: byId(`mutation($id: ID!, $acc: ID!) { removeMember(chestId: $id, accountId: $acc) }`, (fx) => ({
      id: fx.chestId,
      acc: fx.cast.viewer.id,
    })),
    expected: need(['owner', 'viewer'], 'direct'),
    verify: (data, c, after) => {
      expect(data.removeMember).toBe(true);
      expect(after?.members[c.fx.cast.viewer.id]).toBeUndefined();
    },
  },
  {
    // Adding memories is an edit (schema: "Members with EDITOR or OWNER").
    name: 'createUpload(chestId)',
    mutates: true,
    reach: 'direct',
    exec: byId(
      `mutation($id: ID!) { createUpload(input: { chestId: $id, filename: "letter.pdf", mimeType: "application/pdf", size: 1000 }) { url upload { id status } } }`,
      byChestId,
    ),
    expected: need(MODERATORS, 'direct'),
    verify: (data) => expect(data.createUpload.upload.status).toBe('OPEN'),
  },
  {
    // A guest adds memories to their own pending contribution.
    name: 'createUpload(guestToken)',
    mutates: true,
    reach: null,
    exec: (c) =>
      c.as(
        `mutation($g: String!) { createUpload(input: { guestToken: $g, filename: "letter.pdf", mimeType: "application/pdf", size: 1000 }) { url upload { id status } } }`,
        { g: c.actor === 'guest' ? c.fx.guestToken : newToken().token },
      ),
    expected: guestOnly,
    verify: (data) => expect(data.createUpload.upload.status).toBe('OPEN'),
  },
  {
    // The holder of the contribution link sends a contribution; the chest learns of it, nobody is told more.
    name: 'submitContribution',
    mutates: true,
    reach: null,
    exec: (c) =>
      c.as(`mutation($t: String!) { submitContribution(token: $t, input: { contributorName: "A cousin" }) { guestToken contribution { status contributorName } } }`, {
        t: c.actor === 'guest' ? c.fx.contributionLink : newToken().token,
      }),
    expected: guestOnly,
    verify: (data, _c, after, before) => {
      expect(data.submitContribution.contribution).toEqual({ status: 'PENDING', contributorName: 'A cousin' });
      expect(Object.keys(after?.contributions ?? {})).toHaveLength(Object.keys(before?.contributions ?? {}).length + 1);
    },
  },
  {
    // Saying what a memory is: an edit (docs/access-and-sharing.md "Roles"), on a memory the caller must be able to see.
    name: 'updateMemory',
    mutates: true,
    reach: 'direct',
    exec: byId(
      `mutation($id: ID!, $input: UpdateMemoryInput!) { updateMemory(assetId: $id, input: $input) { id caption place dateTaken tags { name source } location { latitude } } }`,
      (fx) => ({ id: fx.assetId, input: { caption: 'On the steps', place: 'Whitby', dateTaken: '1962-06-01', tags: ['holiday'] } }),
    ),
    expected: need(MODERATORS, 'direct'),
    verify: (data, c, after) => {
      expect(data.updateMemory).toMatchObject({ id: c.fx.assetId, caption: 'On the steps', place: 'Whitby', dateTaken: '1962-06-01T00:00:00.000Z' });
      expect(data.updateMemory.tags).toEqual([{ name: 'holiday', source: 'USER' }]);
      expect(data.updateMemory.location, 'editing the place in words does not touch the coordinates').toEqual({ latitude: LOCATION.latitude });
      expect(after?.asset).toEqual({ caption: 'On the steps', place: 'Whitby', dateTaken: '1962-06-01T00:00:00.000Z', tags: ['USER:holiday'] });
    },
  },
  {
    // Running the AI step again on a processed memory: an edit (docs/access-and-sharing.md "Roles"); it queues a job and changes no row yet.
    name: 'analyseAgain',
    mutates: true,
    reach: 'direct',
    exec: byId(`mutation($id: ID!) { analyseAgain(assetId: $id) { id status } }`, (fx) => ({ id: fx.assetId })),
    expected: need(MODERATORS, 'direct'),
    verify: (data, c) => expect(data.analyseAgain).toEqual({ id: c.fx.assetId, status: 'COMPLETE' }),
  },
  {
    name: 'generateStory',
    mutates: true,
    reach: 'direct',
    exec: byId(`mutation($id: ID!) { generateStory(input: { chestId: $id, style: BRIEF }) { status } }`, byChestId),
    expected: need(MODERATORS, 'direct'),
    verify: (data, _c, after, before) => {
      expect(data.generateStory.status).toEqual(expect.any(String));
      expect(after?.stories.length).toBe((before?.stories.length ?? 0) + 1);
    },
  },
  {
    name: 'editStory',
    mutates: true,
    reach: 'direct',
    exec: byId(`mutation($id: ID!) { editStory(storyId: $id, input: { title: "Edited" }) { title version } }`, (fx) => ({ id: fx.publishedStoryId })),
    expected: need(MODERATORS, 'direct'),
    verify: (data, _c, after) => {
      expect(data.editStory.title).toBe('Edited');
      expect(after?.stories.some((s) => s.startsWith('Edited|'))).toBe(true);
    },
  },
  {
    name: 'publishStory(draft)',
    mutates: true,
    reach: 'direct',
    exec: byId(`mutation($id: ID!) { publishStory(storyId: $id) { published } }`, (fx) => ({ id: fx.draftStoryId })),
    expected: membersOnly(OWNERS),
    verify: (data, _c, after) => {
      expect(data.publishStory.published).toBe(true);
      expect(after?.stories).toContain(`${DRAFT}|true|${StoryStatus.READY}`);
    },
  },
  {
    name: 'approveContribution',
    mutates: true,
    reach: 'direct',
    exec: byId(`mutation($id: ID!) { approveContribution(id: $id) { id status } }`, (fx) => ({ id: fx.contributionId })),
    expected: decideContribution,
    verify: (_data, c, after) => expect(after?.contributions[c.fx.contributionId]).toBe('APPROVED'),
  },
  {
    name: 'rejectContribution',
    mutates: true,
    reach: 'direct',
    exec: byId(`mutation($id: ID!) { rejectContribution(id: $id, reason: "Not this one") { id status rejectionReason } }`, (fx) => ({
      id: fx.contributionId,
    })),
    expected: decideContribution,
    verify: (data, c, after) => {
      expect(data.rejectContribution).toMatchObject({ status: 'REJECTED', rejectionReason: 'Not this one' });
      expect(after?.contributions[c.fx.contributionId]).toBe('REJECTED');
    },
  },
  {
    name: 'deleteMemory(a memory the editor did not add)',
    mutates: true,
    reach: 'direct',
    exec: byId(`mutation($id: ID!) { deleteMemory(assetId: $id) { id deletedAt } }`, (fx) => ({ id: fx.assetId })),
    expected: need(OWNERS, 'direct'),
    verify: (data, c, after) => {
      expect(data.deleteMemory).toEqual({ id: c.fx.assetId, deletedAt: expect.any(String) });
      expect(after?.bin).toContain(c.fx.assetId);
    },
  },
  {
    name: "deleteMemory(the editor's own memory)",
    mutates: true,
    reach: 'direct',
    async exec(c) {
      const em = db.orm.em.fork();
      const own = await makeAsset(em, em.getReference(Chest, c.fx.chestId), { addedBy: em.getReference(Account, c.fx.cast.editor.id), status: ProcessingStatus.COMPLETE });
      return byId(`mutation($id: ID!) { deleteMemory(assetId: $id) { id deletedAt deletedBy { id } } }`, () => ({ id: own.id }))(c);
    },
    expected: need(MODERATORS, 'direct'),
    verify: (data, c, after) => {
      // Who binned it is for owners (Chest.bin): the editor gets null.
      expect(data.deleteMemory.deletedBy).toEqual(c.actor === 'owner' ? { id: c.fx.cast.owner.id } : null);
      expect(after?.bin).toContain(data.deleteMemory.id);
    },
  },
  {
    name: 'deleteMemory(a memory in the bin)',
    mutates: true,
    reach: 'direct',
    exec: byId(`mutation($id: ID!) { deleteMemory(assetId: $id) { id } }`, (fx) => ({ id: fx.binnedAssetId })),
    // Those who may see it learn that it is binned already; nobody may bin it twice.
    expected: (actor, state) => (binnedBy(OWNERS)(actor, state) === 'NOT_FOUND' ? 'NOT_FOUND' : ('ALREADY_IN_BIN' as Outcome)),
  },
  {
    name: 'restoreMemory',
    mutates: true,
    reach: 'direct',
    exec: byId(`mutation($id: ID!) { restoreMemory(assetId: $id) { id deletedAt } }`, (fx) => ({ id: fx.binnedAssetId })),
    expected: binnedBy(MODERATORS),
    verify: (data, c, after) => {
      expect(data.restoreMemory).toEqual({ id: c.fx.binnedAssetId, deletedAt: null });
      expect(after?.bin).toEqual([]);
    },
  },
  {
    name: 'purgeMemory',
    mutates: true,
    reach: 'direct',
    exec: byId(`mutation($id: ID!) { purgeMemory(assetId: $id) }`, (fx) => ({ id: fx.binnedAssetId })),
    expected: binnedBy(OWNERS),
    verify: (data, _c, after) => {
      expect(data.purgeMemory).toBe(true);
      expect(after?.bin).toEqual([]);
    },
  },
  {
    name: 'emptyBin',
    mutates: true,
    reach: 'direct',
    exec: byId(`mutation($id: ID!) { emptyBin(chestId: $id) }`, byChestId),
    expected: need(OWNERS, 'direct'),
    verify: (data, _c, after) => {
      expect(data.emptyBin).toBe(1);
      expect(after?.bin).toEqual([]);
    },
  },
  {
    name: 'exportChest',
    mutates: true,
    reach: 'direct',
    exec: byId(`mutation($id: ID!) { exportChest(chestId: $id, input: { includeLocation: true }) { status includeLocation downloadUrl } }`, byChestId),
    expected: need(OWNERS, 'direct'),
    verify: (data) => {
      expect(data.exportChest).toEqual({ status: 'QUEUED', includeLocation: true, downloadUrl: null });
    },
  },
  {
    name: 'approveContributionMemory',
    mutates: true,
    reach: 'direct',
    exec: byId(`mutation($id: ID!) { approveContributionMemory(assetId: $id) { id approvedAt } }`, (fx) => ({ id: fx.pendingAssetId })),
    expected: decideContribution,
    verify: (data, c, after) => {
      expect(data.approveContributionMemory).toEqual({ id: c.fx.pendingAssetId, approvedAt: expect.any(String) });
      expect(after?.approvedAlone).toEqual([c.fx.pendingAssetId]);
      expect(after?.contributions[c.fx.contributionId], 'the rest of the contribution still waits').toBe('PENDING');
    },
  },
  {
    name: 'rejectContributionMemory',
    mutates: true,
    reach: 'direct',
    exec: byId(`mutation($id: ID!) { rejectContributionMemory(assetId: $id) { id status } }`, (fx) => ({ id: fx.pendingAssetId })),
    expected: decideContribution,
    verify: (data, c, after) => {
      expect(data.rejectContributionMemory).toEqual({ id: c.fx.contributionId, status: 'PENDING' });
      expect(after?.waiting, 'the rejected memory is erased').toEqual([]);
    },
  },
];

const OPS: readonly Op[] = [...READ_OPS, ...MUTATION_OPS];

// ---------------------------------------------------------------------------------------------
// Running a cell.

function outcomeOf(res: GqlResult): string {
  const error = res.errors?.[0];
  if (error) return String(error.extensions?.code);
  return res.data ? 'ALLOWED' : 'NO_DATA';
}

const STORAGE_KEY = /chests\/[0-9a-f-]{36}/i;
/** SHA-256 hex: token hashes (no field selected by the matrix legitimately returns one). */
const HEX_HASH = /(?<![0-9a-f])[0-9a-f]{64}(?![0-9a-f])/i;
const STACK = /stacktrace|"stack"|\bat \S+ \(|\.[cm]?[jt]s:\d+:\d+/i;
const INTERNAL_FIELD = /storageKey|tokenHash/i;

function expectNoLeaks(res: GqlResult, secrets: readonly string[]): void {
  const body = JSON.stringify(res);
  expect(body, 'no storage key in the response').not.toMatch(STORAGE_KEY);
  expect(body, 'no token hash in the response').not.toMatch(HEX_HASH);
  expect(body, 'no stack in the response').not.toMatch(STACK);
  expect(body, 'no internal column name in the response').not.toMatch(INTERNAL_FIELD);
  for (const secret of secrets) expect(body.includes(secret), 'no stored secret in the response').toBe(false);
}

let cells = 0;
/**
 * What the actor sends with every request: a session, or (share holders) the view link's header.
 * Each cell is its own client address: the matrix tries many wrong tokens on purpose, and limits
 * on failed attempts per client must not turn a later cell's answer into RATE_LIMITED.
 */
function requestOptions(actor: ActorKind, fx: Fixture): { token: string | null; shareToken: string | null; clientAddress: string } {
  const n = ++cells;
  return {
    token: isSignedIn(actor) ? fx.cast[actor].token : null,
    shareToken: actor === 'shareHolder' ? fx.shareToken : null,
    clientAddress: `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`,
  };
}

async function runCell(op: Op, actor: ActorKind, state: State, fx: Fixture): Promise<void> {
  const options = requestOptions(actor, fx);
  const cell: Cell = { fx, actor, state, as: (query, variables) => gql.run(query, variables, options) };
  const before = op.mutates ? await snapshot(fx) : null;
  const res = await op.exec(cell);
  const after = op.mutates ? await snapshot(fx) : null;
  const actual = outcomeOf(res);
  const detail = JSON.stringify(res.errors ?? res.data);

  // Invariants that hold across the whole matrix.
  const secrets = after ? [...fx.secrets, after.chest.shareTokenHash ?? '', after.chest.contributionTokenHash ?? ''].filter(Boolean) : fx.secrets;
  expectNoLeaks(res, secrets);
  if (op.reach && actual !== 'ALLOWED' && !canRead(actor, state, op.reach)) {
    expect(actual, `a chest the caller cannot read is NOT_FOUND, never FORBIDDEN (${detail})`).toBe('NOT_FOUND');
  }

  expect(actual, detail).toBe(op.expected(actor, state));
  if (actual === 'ALLOWED') op.verify?.(res.data, cell, after, before);
  else if (before) expect(after, 'a denied mutation changes nothing').toEqual(before);
}

// ---------------------------------------------------------------------------------------------
// The matrix.

const cellName = (op: Op, actor: ActorKind, state: State) =>
  `${actor} × ${op.states && op.states.length === 1 ? 'any' : state} · ${op.name} → ${op.expected(actor, state)}`;

describe('access matrix', () => {
  /** Read-only cells share one fixture per state (and a cast of their own, so chests() stays small). */
  const readFixtures = new Map<State, Fixture>();
  let mutationCast: Cast;

  beforeAll(async () => {
    db = await createTestDatabase('postgres');
    // Limits high enough that the matrix's own submitContribution cells never meet them.
    gql = await createGraphQLRunner(db.orm, { perClientPerHour: 10_000, perLinkPerHour: 10_000 });
    const readCast = await makeCast();
    for (const state of STATES) readFixtures.set(state, await fixture(state, readCast));
    mutationCast = await makeCast();
  });
  afterAll(async () => {
    await gql?.stop();
    await db?.close();
  });

  it('the rules: every denial on a chest the caller cannot read is NOT_FOUND', () => {
    let checked = 0;
    for (const op of OPS) {
      if (!op.reach) continue;
      for (const state of op.states ?? STATES)
        for (const actor of ACTORS) {
          const want = op.expected(actor, state);
          if (want !== 'ALLOWED' && !canRead(actor, state, op.reach)) {
            expect(want, `${actor} ${state} ${op.name}`).toBe('NOT_FOUND');
            checked++;
          }
        }
    }
    expect(checked).toBeGreaterThan(0);
  });

  for (const op of READ_OPS) {
    describe(op.name, () => {
      for (const state of op.states ?? STATES) {
        for (const actor of ACTORS) {
          it(cellName(op, actor, state), async () => {
            const fx = readFixtures.get(state);
            if (!fx) throw new Error(`no fixture for ${state}`);
            await runCell(op, actor, state, fx);
          });
        }
      }
    });
  }

  for (const op of MUTATION_OPS) {
    describe(op.name, () => {
      for (const state of op.states ?? STATES) {
        for (const actor of ACTORS) {
          it(cellName(op, actor, state), async () => {
            await runCell(op, actor, state, await fixture(state, mutationCast));
          });
        }
      }
    });
  }
});
