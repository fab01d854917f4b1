import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AiUnavailableError } from '../../src/ai/ai.port.js';
import type { Ai } from '../../src/ai/ai.registry.js';
import { FaceApiEngine } from '../../src/ai/local/faces.js';
import { storyContextJson } from '../../src/ai/openai/story.js';
import { type Account, Asset, Chest, Face } from '../../src/db/entities/index.js';
import { ChestRole } from '../../src/db/enums.js';
import { analyseAsset } from '../../src/domain/analysis/analysis.service.js';
import { redactAsset } from '../../src/domain/people/redaction.js';
import { buildStoryContext } from '../../src/domain/story/story-context.js';
import { InProcessEventBus } from '../../src/events/in-process.events.js';
import type { JobQueue } from '../../src/jobs/jobs.port.js';
import { createPgBossQueue } from '../../src/jobs/pg-boss.queue.js';
import type { StorageBackend } from '../../src/storage/storage.port.js';
import { createStorage } from '../../src/storage/storage.registry.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { DEMO_FACES, demoFaceCrop, demoThumbnail, photoMemory, regionDetail, type RelativeBox } from '../support/faces.js';
import { addMember, makeAccount, makeChest } from '../support/factories.js';
import { createGraphQLRunner, ok } from '../support/graphql.js';
import { filesServer } from '../support/people.js';

/**
 * Consent (issue 12 point 2), end to end on a real photo with the real face engine: a person the
 * family hides is never shown outside the family, never named to a story writer, and their face
 * is blurred in the thumbnails people outside the family receive (measured in the bytes served).
 */

const log = pino({ level: 'silent' });
const noAi: Ai = {
  chain: [],
  describeImage: async () => {
    throw new AiUnavailableError('Not offered in this test');
  },
  transcribe: async () => {
    throw new AiUnavailableError('Not offered in this test');
  },
  extractText: async () => {
    throw new AiUnavailableError('Not offered in this test');
  },
  generateStory: async () => {
    throw new AiUnavailableError('Not offered in this test');
  },
  close: async () => {},
};

const ASSET = `id previewUrl originalUrl thumbnails { name url } faces { id person { id name } }`;

describe('consent: a hidden person', () => {
  let db: TestDatabase;
  let dir: string;
  let storage: StorageBackend;
  let engine: FaceApiEngine;
  let gql: Awaited<ReturnType<typeof createGraphQLRunner>>;
  let queue: JobQueue;
  let files: Awaited<ReturnType<typeof filesServer>>;
  let owner: { account: Account; token: string };
  let chest: Chest;
  let shareToken: string;
  let photo: Asset;
  /** The photo's faces, left to right: Anna is named, Bill is named and then hidden, the third nobody named. */
  let anna: Face;
  let bill: Face;
  const em = () => db.orm.em.fork();
  const deps = () => ({ orm: db.orm, storage, events: new InProcessEventBus(), log, ai: noAi, faces: engine });
  const analyse = (assetId: string) => analyseAsset(deps(), { id: 'job', data: { assetId }, attempt: 1, signal: new AbortController().signal });
  /** What the faces.redact job does in the worker. */
  const redactJob = (assetId: string) => redactAsset(deps(), assetId);

  const asOwner = (query: string, variables: Record<string, unknown> = {}) => gql.run(query, variables, { token: owner.token });
  const asLinkHolder = (query: string, variables: Record<string, unknown> = {}) => gql.run(query, variables, { shareToken });
  const asset = async (as: typeof asOwner, id = photo.id) => ok(await as(`query($id: ID!) { asset(id: $id) { ${ASSET} } }`, { id })).asset;

  async function bytesOf(url: string): Promise<Buffer> {
    const got = await files.get(url);
    expect(got.status, url).toBe(200);
    return got.bytes;
  }

  beforeAll(async () => {
    db = await createTestDatabase('postgres');
    dir = await mkdtemp(join(tmpdir(), 'dmc-consent-'));
    storage = await createStorage({ kind: 'filesystem', root: dir });
    engine = new FaceApiEngine();
    queue = await createPgBossQueue({ orm: db.orm, supervise: false, log });
    gql = await createGraphQLRunner(db.orm, { storage, queue });
    files = await filesServer(db.orm, storage);
    const e = em();
    owner = await makeAccount(e);
    chest = await makeChest(e, { personName: 'Rose Ellis' }, owner.account);
    await addMember(e, chest, (await makeAccount(e)).account, ChestRole.VIEWER);
    shareToken = ok(await asOwner(`mutation($id: ID!) { createShareLink(chestId: $id, allowOriginals: true) { token } }`, { id: chest.id })).createShareLink.token;
    photo = await photoMemory(e, storage, chest, await demoThumbnail(1));
    await analyse(photo.id);
    const faces = await em().find(Face, { asset: photo.id });
    expect(faces).toHaveLength(DEMO_FACES[1]);
    const leftToRight = faces.sort((a, b) => a.box.x - b.box.x);
    anna = leftToRight[0]!;
    bill = leftToRight[1]!;
    ok(await asOwner(`mutation($p: ID!) { namePerson(personId: $p, name: "Anna") { id } }`, { p: anna!.person!.id }));
    ok(await asOwner(`mutation($p: ID!) { namePerson(personId: $p, name: "Bill") { id } }`, { p: bill!.person!.id }));
  }, 240_000);
  afterAll(async () => {
    await engine?.close();
    await files?.close();
    await gql?.stop();
    await queue?.stop();
    await db?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('before anyone is hidden, the link holder sees the named people and the very thumbnails members get', async () => {
    const seen = await asset(asLinkHolder);
    expect(seen.faces.map((f: any) => f.person.name)).toEqual(['Anna', 'Bill']);
    expect(seen.thumbnails.map((t: any) => t.name)).toEqual(['1024', '256']);
    expect(seen.originalUrl, 'this link allows originals').toEqual(expect.any(String));
  });

  it('once hidden: the link holder gets no picture of the photo until its blurred copies are made, and never the original', async () => {
    ok(await asOwner(`mutation($p: ID!) { hidePerson(personId: $p) { hidden } }`, { p: bill.person!.id }));
    // The worker is told to blur the photo.
    expect((await queue.counts('faces.redact')).created).toBeGreaterThanOrEqual(1);
    const seen = await asset(asLinkHolder);
    expect(seen.thumbnails).toEqual([]);
    expect(seen.previewUrl).toBeNull();
    expect(seen.originalUrl, 'a photo of a hidden person never leaves the family unblurred').toBeNull();
    expect(seen.faces.map((f: any) => f.person.name)).toEqual(['Anna']);
    // Members are unaffected.
    const member = await asset(asOwner);
    expect(member.thumbnails.map((t: any) => t.name)).toEqual(['1024', '256']);
    expect(member.originalUrl).toEqual(expect.any(String));
  });

  it("after the worker's blurring, the link holder's thumbnails have Bill's face blurred and Anna's as it was", async () => {
    expect(await redactJob(photo.id)).toBe('blurred');
    const seen = await asset(asLinkHolder);
    expect(seen.thumbnails.map((t: any) => t.name)).toEqual([expect.stringMatching(/^1024-blurred-[0-9a-f]{12}$/), expect.stringMatching(/^256-blurred-[0-9a-f]{12}$/)]);
    expect(seen.previewUrl).toBe(seen.thumbnails[0].url);
    const member = await asset(asOwner);
    const theirs = await bytesOf(seen.thumbnails[0].url);
    const ours = await bytesOf(member.thumbnails[0].url);
    const meta = await sharp(theirs).metadata();
    expect(meta).toMatchObject({ format: 'webp', width: 1024 });
    expect(meta.exif).toBeUndefined();
    const billBox = inner(bill.box);
    const annaBox = inner(anna.box);
    // Detail (how much neighbouring pixels differ) in Bill's face: gone in theirs, there in ours.
    const billOurs = await regionDetail(ours, billBox);
    const billTheirs = await regionDetail(theirs, billBox);
    expect(billOurs).toBeGreaterThan(3);
    expect(billTheirs).toBeLessThan(billOurs * 0.25);
    // Anna's face is untouched (recompression aside).
    const annaOurs = await regionDetail(ours, annaBox);
    expect(Math.abs((await regionDetail(theirs, annaBox)) - annaOurs)).toBeLessThan(annaOurs * 0.2);
    // The small thumbnail too.
    const small = await bytesOf(seen.thumbnails[1].url);
    expect(await regionDetail(small, billBox)).toBeLessThan((await regionDetail(await bytesOf(member.thumbnails[1].url), billBox)) * 0.4);
    // Running the job again changes nothing.
    expect(await redactJob(photo.id)).toBe('unchanged');
  });

  it('a new photo of the hidden person joins him and is blurred for the link holder by the time its AI step ends', async () => {
    const crop = await photoMemory(em(), storage, chest, await demoFaceCrop(1, bill.box));
    await analyse(crop.id);
    const faces = await em().find(Face, { asset: crop.id });
    const his = faces.find((f) => f.person?.id === bill.person!.id);
    expect(his, 'the crop of his face joined Bill').toBeDefined();
    const seen = await asset(asLinkHolder, crop.id);
    expect(seen.thumbnails.map((t: any) => t.name)).toEqual([expect.stringMatching(/^1024-blurred-/), expect.stringMatching(/^256-blurred-/)]);
    const theirs = await bytesOf(seen.thumbnails[0].url);
    const ours = await bytesOf((await asset(asOwner, crop.id)).thumbnails[0].url);
    expect(await regionDetail(theirs, inner(his!.box))).toBeLessThan((await regionDetail(ours, inner(his!.box))) * 0.25);
    expect(seen.faces.every((f: any) => f.person.name !== 'Bill')).toBe(true);
  });

  it('outside the family nobody learns of him: not in the people list, not in any face, not by name', async () => {
    const q = `query($t: String!) { chestByShareToken(token: $t) { people { edges { node { id name faceCount } } } assets { edges { node { ${ASSET} } } } } }`;
    const answer = JSON.stringify(ok(await asLinkHolder(q, { t: shareToken })));
    expect(answer).not.toContain('Bill');
    expect(answer).not.toContain(bill.person!.id);
    expect(answer).not.toContain(bill.id);
    const members = JSON.stringify(ok(await asOwner(`query($id: ID!) { chest(id: $id) { people { edges { node { name hidden } } } } }`, { id: chest.id })));
    expect(members).toContain('{"name":"Bill","hidden":true}');
  });

  it('is never named to a story writer; the people the family named and did not hide are', async () => {
    const context = await buildStoryContext(em(), await em().findOneOrFail(Chest, chest.id));
    const memory = context.memories.find((m) => m.id === photo.id)!;
    expect(memory.people).toEqual(['Anna']);
    expect(JSON.stringify(context)).not.toContain('Bill');
    expect(storyContextJson(context)).toContain('"people":["Anna"]');
    expect(storyContextJson(context)).not.toContain('Bill');
  });

  it('unhidden: the blurred copies go and the link holder gets the thumbnails again', async () => {
    ok(await asOwner(`mutation($p: ID!) { unhidePerson(personId: $p) { hidden } }`, { p: bill.person!.id }));
    expect(await redactJob(photo.id)).toBe('cleared');
    const seen = await asset(asLinkHolder);
    expect(seen.thumbnails.map((t: any) => t.name)).toEqual(['1024', '256']);
    expect(seen.faces.map((f: any) => f.person.name)).toEqual(['Anna', 'Bill']);
    expect((await em().findOneOrFail(Asset, photo.id)).redaction).toBeNull();
    const keys: string[] = [];
    for await (const obj of storage.list(`chests/${chest.id}/derivatives/${photo.id}/`)) keys.push(obj.key);
    expect(keys.some((k) => k.includes('-blurred-'))).toBe(false);
  });
});

/** The middle of a face box: the face itself, without the background its corners catch. */
const inner = (b: RelativeBox): RelativeBox => ({ x: b.x + b.width * 0.2, y: b.y + b.height * 0.2, width: b.width * 0.6, height: b.height * 0.6 });
