import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AiUnavailableError, type ImageDescription } from '../../src/ai/ai.port.js';
import type { Ai } from '../../src/ai/ai.registry.js';
import type { AiSettings } from '../../src/ai/ai.settings.js';
import { FaceApiEngine } from '../../src/ai/local/faces.js';
import { createLocalProvider } from '../../src/ai/local/local.provider.js';
import { storyContextJson } from '../../src/ai/openai/story.js';
import { type Account, Asset, Chest, Face } from '../../src/db/entities/index.js';
import { analyseAsset } from '../../src/domain/analysis/analysis.service.js';
import { recaption } from '../../src/domain/people/captions.js';
import { lockChestFaces } from '../../src/domain/people/face-clustering.js';
import { buildStoryContext } from '../../src/domain/story/story-context.js';
import { InProcessEventBus } from '../../src/events/in-process.events.js';
import type { JobQueue } from '../../src/jobs/jobs.port.js';
import { createPgBossQueue } from '../../src/jobs/pg-boss.queue.js';
import type { StorageBackend } from '../../src/storage/storage.port.js';
import { createStorage } from '../../src/storage/storage.registry.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { DEMO_FACES, demoFaceCrop, demoThumbnail, photoMemory } from '../support/faces.js';
import { makeAccount, makeChest } from '../support/factories.js';
import { createGraphQLRunner, ok } from '../support/graphql.js';

/**
 * Machine captions name the people the family named and follow their decisions (domain/people/
 * captions.ts), end to end on real Postgres: face-api's demo photos through the real AI step
 * (the local provider's object model, the real face engine), and the family's decisions through
 * the API. Demo photo 1 shows three women, one with a wine glass.
 */

const log = pino({ level: 'silent' });
const unavailable = async () => {
  throw new AiUnavailableError('Not offered in this test');
};
const JUNE_1962 = new Date(Date.UTC(1962, 5, 1, 10));

describe('captions name the people the family named', () => {
  let db: TestDatabase;
  let dir: string;
  let storage: StorageBackend;
  let engine: FaceApiEngine;
  let local: ReturnType<typeof createLocalProvider>;
  let queue: JobQueue;
  let gql: Awaited<ReturnType<typeof createGraphQLRunner>>;
  let owner: { account: Account; token: string };
  const em = () => db.orm.em.fork();
  /** The AI the worker has offline: the local provider describes pictures; nothing else is asked here. */
  const localAi = (): Ai => ({
    chain: ['local'],
    describeImage: (image, hints) => local.describeImage!(image, hints),
    transcribe: unavailable,
    extractText: unavailable,
    generateStory: unavailable,
    close: async () => {},
  });
  const analyse = (assetId: string, ai: Ai = localAi()) =>
    analyseAsset({ orm: db.orm, storage, events: new InProcessEventBus(), log, ai, faces: engine }, { id: 'job', data: { assetId }, attempt: 1, signal: new AbortController().signal });

  const asOwner = (query: string, variables: Record<string, unknown> = {}) => gql.run(query, variables, { token: owner.token });
  const caption = async (assetId: string) => (await em().findOneOrFail(Asset, assetId)).caption;
  const name = (personId: string, to: string | null) => asOwner(`mutation($p: ID!, $n: String) { namePerson(personId: $p, name: $n) { id } }`, { p: personId, n: to }).then(ok);
  const hide = (personId: string) => asOwner(`mutation($p: ID!) { hidePerson(personId: $p) { hidden } }`, { p: personId }).then(ok);
  const unhide = (personId: string) => asOwner(`mutation($p: ID!) { unhidePerson(personId: $p) { hidden } }`, { p: personId }).then(ok);
  const merge = (personId: string, intoPersonId: string) =>
    asOwner(`mutation($p: ID!, $i: ID!) { mergePeople(personId: $p, intoPersonId: $i) { id name } }`, { p: personId, i: intoPersonId }).then(ok);
  const move = (faceId: string, personId: string | null) => asOwner(`mutation($f: ID!, $p: ID) { moveFace(faceId: $f, personId: $p) { id } }`, { f: faceId, p: personId }).then(ok);
  const updateMemory = (assetId: string, input: Record<string, unknown>) =>
    asOwner(`mutation($a: ID!, $i: UpdateMemoryInput!) { updateMemory(assetId: $a, input: $i) { caption } }`, { a: assetId, i: input }).then((r) => ok(r).updateMemory);

  /** A chest with demo photo `n` (taken in Whitby in June 1962) through the AI step; its faces left to right. */
  async function family(n: 1 = 1) {
    const e = em();
    const chest = await makeChest(e, { personName: 'Rose Ellis' }, owner.account);
    const photo = await photoMemory(e, storage, chest, await demoThumbnail(n));
    await em().nativeUpdate(Asset, { id: photo.id }, { place: 'Whitby', dateTaken: JUNE_1962 });
    await analyse(photo.id);
    const faces = (await em().find(Face, { asset: photo.id }, { populate: ['person'] })).sort((a, b) => a.box.x - b.box.x);
    expect(faces).toHaveLength(DEMO_FACES[n]);
    const people = faces.map((f) => f.person!.id);
    return { chest, photo, faces, people };
  }

  beforeAll(async () => {
    db = await createTestDatabase('postgres');
    dir = await mkdtemp(join(tmpdir(), 'dmc-captions-'));
    storage = await createStorage({ kind: 'filesystem', root: dir });
    engine = new FaceApiEngine();
    local = createLocalProvider({ providers: ['local'], cacheDir: join(dir, 'cache') } as AiSettings);
    queue = await createPgBossQueue({ orm: db.orm, supervise: false, log });
    gql = await createGraphQLRunner(db.orm, { storage, queue });
    owner = await makeAccount(em());
  }, 120_000);
  afterAll(async () => {
    await engine?.close();
    await local?.close?.();
    await gql?.stop();
    await queue?.stop();
    await db?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('the AI step composes the caption from what the model saw, the place and the date, and records what it composed from', { timeout: 120_000 }, async () => {
    const { photo } = await family();
    expect(await caption(photo.id)).toBe('People with a wine glass in Whitby, June 1962.');
    const record = (await em().findOneOrFail(Asset, photo.id)).analyses.find((a) => a.task === 'describeImage')!;
    expect(record).toMatchObject({ status: 'DONE', provider: 'local', caption: 'People with a wine glass in Whitby, June 1962.' });
    expect(record.composedFrom).toEqual({ by: 'local', objects: [expect.objectContaining({ label: 'person' }), { label: 'wine glass', count: 1 }] });
    expect(record.composedFrom!.objects[0]!.count).toBeGreaterThanOrEqual(2);
  });

  it('naming, hiding and unhiding people: the caption follows, and a hidden name reaches nobody outside the family', { timeout: 120_000 }, async () => {
    const { chest, photo, people } = await family();
    const shareToken = ok(await asOwner(`mutation($id: ID!) { createShareLink(chestId: $id) { token } }`, { id: chest.id })).createShareLink.token;
    await name(people[0]!, 'Anna');
    expect(await caption(photo.id)).toBe('Anna and others with a wine glass in Whitby, June 1962.');
    await name(people[1]!, 'Bill');
    await name(people[2]!, 'Cleo');
    expect(await caption(photo.id)).toBe('Anna, Bill and Cleo with a wine glass in Whitby, June 1962.');

    await hide(people[1]!);
    expect(await caption(photo.id)).toBe('Anna, Cleo and others with a wine glass in Whitby, June 1962.');
    // Everything a view-link holder can ask of the photo and the chest, and what a story writer is given.
    const everything = `id caption place dateTaken tags { name source } faces { id person { id name } } analyses { task status provider model error }`;
    const seen = ok(await gql.run(`query($id: ID!, $c: ID!) { asset(id: $id) { ${everything} } chest(id: $c) { people(first: 20) { edges { node { name } } } assets(first: 20) { edges { node { ${everything} } } } } }`, { id: photo.id, c: chest.id }, { shareToken }));
    expect(seen.asset.caption).toBe('Anna, Cleo and others with a wine glass in Whitby, June 1962.');
    expect(JSON.stringify(seen)).not.toContain('Bill');
    const context = storyContextJson(await buildStoryContext(em(), await em().findOneOrFail(Chest, chest.id)));
    expect(context).toContain('Anna, Cleo and others');
    expect(context).not.toContain('Bill');
    // The record keeps what the machine wrote, so the next AI step still knows the caption for its own.
    expect((await em().findOneOrFail(Asset, photo.id)).analyses.find((a) => a.task === 'describeImage')!.caption).toBe('Anna, Cleo and others with a wine glass in Whitby, June 1962.');

    await unhide(people[1]!);
    expect(await caption(photo.id)).toBe('Anna, Bill and Cleo with a wine glass in Whitby, June 1962.');
    // Clearing a name takes it out again.
    await name(people[2]!, null);
    expect(await caption(photo.id)).toBe('Anna, Bill and others with a wine glass in Whitby, June 1962.');
    // Analysed again, the photo keeps its people's names in the caption: it is still the machine's.
    await analyse(photo.id);
    expect(await caption(photo.id)).toBe('Anna, Bill and others with a wine glass in Whitby, June 1962.');
  });

  it('a new photo of someone the family named is captioned with their name by the AI step itself', { timeout: 120_000 }, async () => {
    const { chest, faces, people } = await family();
    await name(people[0]!, 'Anna');
    const crop = await photoMemory(em(), storage, chest, await demoFaceCrop(1, faces[0]!.box));
    await analyse(crop.id);
    const [face] = await em().find(Face, { asset: crop.id }, { populate: ['person'] });
    expect(face?.person?.id, 'the crop joins Anna').toBe(people[0]);
    expect(await caption(crop.id)).toMatch(/^Anna\b/);
    expect(await caption(crop.id)).not.toMatch(/^People/);
    // Hidden, she is not named in the new photo either.
    await hide(people[0]!);
    expect(await caption(crop.id)).not.toContain('Anna');
    expect(await caption(crop.id)).not.toBeNull();
  });

  it('a new photo being saved while its person is hidden does not keep their name', { timeout: 120_000 }, async () => {
    const { chest, faces, people } = await family();
    await name(people[1]!, 'Bill');
    const crop = await photoMemory(em(), storage, chest, await demoFaceCrop(1, faces[1]!.box));
    await analyse(crop.id);
    const [face] = await em().find(Face, { asset: crop.id });
    expect(face!.person!.id, 'the crop joins Bill').toBe(people[1]);
    // Back to where its AI step stands before it saves: described, its face not yet placed.
    await em().nativeUpdate(Face, { id: face!.id }, { person: null });
    await recaption(em(), { assetIds: [crop.id] });
    expect(await caption(crop.id)).not.toContain('Bill');

    // Its save, as the AI step makes it (the photo's row, the chest's faces, the face placed, the
    // caption composed), is under way when an owner hides Bill: the hiding waits for it, then sees the new photo.
    let hiding: Promise<unknown> | undefined;
    await em().transactional(async (tx) => {
      await tx.execute('select id from asset where id = ? for update', [crop.id]);
      await lockChestFaces(tx, chest.id);
      await tx.execute('update face set person_id = ? where id = ?', [people[1], face!.id]);
      await recaption(tx, { assetIds: [crop.id] });
      hiding = hide(people[1]!);
      const waits = async () => {
        for (;;) {
          const [row] = await em().execute<{ n: string }[]>("select count(*) as n from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'");
          if (Number(row!.n) > 0) return;
          await new Promise((r) => setTimeout(r, 20));
        }
      };
      await Promise.race([hiding, waits()]);
    });
    await hiding;
    expect((await em().findOneOrFail(Face, face!.id)).person?.id).toBe(people[1]);
    expect(await caption(crop.id)).not.toContain('Bill');
  });

  it('merging people and moving a face recompose the captions of the photos concerned', { timeout: 180_000 }, async () => {
    const one = await family(1);
    // Demo photo 2 (three other people) in the same chest: people are only ever merged within one.
    const e = em();
    const photo2 = await photoMemory(e, storage, one.chest, await demoThumbnail(2));
    await em().nativeUpdate(Asset, { id: photo2.id }, { place: 'Whitby', dateTaken: JUNE_1962 });
    await analyse(photo2.id);
    const faces2 = (await em().find(Face, { asset: photo2.id }, { populate: ['person'] })).sort((a, b) => a.box.x - b.box.x);
    expect(faces2).toHaveLength(DEMO_FACES[2]);
    const before2 = await caption(photo2.id);
    expect(before2).toMatch(/^People/);

    await name(one.people[1]!, 'Bill');
    expect(await caption(one.photo.id)).toMatch(/^Bill and others /);
    // Bill's faces join an unnamed person of photo 2, who takes his name: both photos say Bill.
    const merged = (await merge(one.people[1]!, faces2[0]!.person!.id)).mergePeople;
    expect(merged.name).toBe('Bill');
    expect(await caption(one.photo.id)).toMatch(/^Bill and others /);
    expect(await caption(photo2.id)).toBe(before2!.replace(/^People/, 'Bill and others'));

    // Bill's face in photo 2 belongs to nobody after all: photo 2 no longer names him, photo 1 still does.
    await move(faces2[0]!.id, null);
    expect(await caption(photo2.id)).toBe(before2);
    expect(await caption(one.photo.id)).toMatch(/^Bill and others /);
    // And to Bill again.
    await move(faces2[0]!.id, merged.id);
    expect(await caption(photo2.id)).toBe(before2!.replace(/^People/, 'Bill and others'));
  });

  it('a corrected place or date is said in a machine caption', { timeout: 120_000 }, async () => {
    const { photo, people } = await family();
    await name(people[0]!, 'Anna');
    expect(await updateMemory(photo.id, { place: 'at the pier' })).toEqual({ caption: 'Anna and others with a wine glass at the pier, June 1962.' });
    expect(await updateMemory(photo.id, { dateTaken: '1964-08-02' })).toEqual({ caption: 'Anna and others with a wine glass at the pier, August 1964.' });
    expect(await updateMemory(photo.id, { place: null })).toEqual({ caption: 'Anna and others with a wine glass, August 1964.' });
  });

  it("a caption a person wrote is never changed, by any decision or by the AI step", { timeout: 120_000 }, async () => {
    const { photo, faces, people } = await family();
    const own = "Grandma's eightieth, with Aunt Jo";
    expect(await updateMemory(photo.id, { caption: own })).toEqual({ caption: own });
    await name(people[0]!, 'Anna');
    await name(people[1]!, 'Bill');
    await hide(people[1]!);
    await unhide(people[1]!);
    await merge(people[2]!, people[0]!);
    await move(faces[1]!.id, null);
    expect(await updateMemory(photo.id, { place: 'Scarborough', dateTaken: '1970-05-01' })).toEqual({ caption: own });
    await analyse(photo.id);
    expect(await caption(photo.id)).toBe(own);
    // Cleared by a person, it stays cleared.
    expect(await updateMemory(photo.id, { caption: null })).toEqual({ caption: null });
    await name(people[0]!, 'Annie');
    expect(await caption(photo.id)).toBeNull();
  });

  it("a remote model's free text is left as it wrote it", { timeout: 120_000 }, async () => {
    const text = 'Three women raise a glass at a party.';
    // Stands for the openai provider, whose captions carry no composedFrom (see its own tests).
    const remote: Ai = {
      ...localAi(),
      chain: ['openai'],
      describeImage: async (): Promise<ImageDescription> => ({ provider: 'openai', model: 'vision-model', tags: [{ name: 'party', confidence: 0.9 }], caption: text }),
    };
    const e = em();
    const chest = await makeChest(e, {}, owner.account);
    const photo = await photoMemory(e, storage, chest, await demoThumbnail(1));
    await analyse(photo.id, remote);
    expect(await caption(photo.id)).toBe(text);
    const [face] = await em().find(Face, { asset: photo.id }, { populate: ['person'] });
    await name(face!.person!.id, 'Anna');
    await hide(face!.person!.id);
    expect(await caption(photo.id)).toBe(text);
  });
});
