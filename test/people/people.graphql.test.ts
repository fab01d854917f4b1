import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Account, Asset, type Chest, Face, Person } from '../../src/db/entities/index.js';
import { ChestRole, ProcessingStatus } from '../../src/db/enums.js';
import type { StorageBackend } from '../../src/storage/storage.port.js';
import { createStorage } from '../../src/storage/storage.registry.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { addMember, makeAccount, makeAsset, makeChest } from '../support/factories.js';
import { createGraphQLRunner, failure, ok } from '../support/graphql.js';
import { filesServer, makeFace, makePerson } from '../support/people.js';

/** People through the API: what members read, and what owners and editors decide. */
describe('people (GraphQL)', () => {
  let db: TestDatabase;
  let dir: string;
  let storage: StorageBackend;
  let gql: Awaited<ReturnType<typeof createGraphQLRunner>>;
  let files: Awaited<ReturnType<typeof filesServer>>;
  let owner: { account: Account; token: string };
  let editor: { account: Account; token: string };
  let viewer: { account: Account; token: string };
  const em = () => db.orm.em.fork();

  beforeAll(async () => {
    db = await createTestDatabase('postgres');
    dir = await mkdtemp(join(tmpdir(), 'dmc-people-gql-'));
    storage = await createStorage({ kind: 'filesystem', root: dir });
    gql = await createGraphQLRunner(db.orm, { storage });
    files = await filesServer(db.orm, storage);
    const e = em();
    owner = await makeAccount(e);
    editor = await makeAccount(e);
    viewer = await makeAccount(e);
  });
  afterAll(async () => {
    await files?.close();
    await gql?.stop();
    await db?.close();
    await rm(dir, { recursive: true, force: true });
  });

  /** A chest with two photos: Anna (named) in both, an unnamed person in the first, and a face of nobody's in the second. */
  async function family() {
    const e = em();
    const chest = await makeChest(e, {}, owner.account);
    await addMember(e, chest, editor.account, ChestRole.EDITOR);
    await addMember(e, chest, viewer.account, ChestRole.VIEWER);
    const first = await makeAsset(e, chest, { status: ProcessingStatus.COMPLETE, dateTaken: new Date('1962-06-01') });
    const second = await makeAsset(e, chest, { status: ProcessingStatus.COMPLETE, dateTaken: new Date('1970-01-01') });
    const anna = await makePerson(e, chest, { name: 'Anna' });
    const stranger = await makePerson(e, chest);
    const annaFirst = await makeFace(e, first, anna, { box: { x: 0.1, y: 0.2, width: 0.2, height: 0.25 }, storage });
    const annaSecond = await makeFace(e, second, anna, { box: { x: 0.5, y: 0.2, width: 0.2, height: 0.25 }, storage });
    const strangerFace = await makeFace(e, first, stranger, { box: { x: 0.6, y: 0.2, width: 0.2, height: 0.25 }, storage });
    const nobody = await makeFace(e, second, null, { box: { x: 0.05, y: 0.1, width: 0.1, height: 0.1 }, assignedByPerson: true });
    return { chest, first, second, anna, stranger, annaFirst, annaSecond, strangerFace, nobody };
  }

  const PEOPLE = `query($id: ID!, $first: Int, $after: String) { chest(id: $id) { people(first: $first, after: $after) {
    pageInfo { hasNextPage endCursor } edges { cursor node { id name hidden faceCount cover assets(first: 10) { edges { node { id } } } } } } } }`;
  const people = async (chest: Chest, token: string, vars: Record<string, unknown> = {}) => ok(await gql.run(PEOPLE, { id: chest.id, ...vars }, { token })).chest.people;

  it('members see every person: the named first, with how often they appear, a cover crop and their memories', async () => {
    const f = await family();
    for (const who of [owner, editor, viewer]) {
      const list = await people(f.chest, who.token);
      expect(list.edges.map((e: any) => e.node.name)).toEqual(['Anna', null]);
      const [anna, stranger] = list.edges.map((e: any) => e.node);
      expect(anna).toMatchObject({ id: f.anna.id, hidden: false, faceCount: 2 });
      // Newest first, as the chest lists memories.
      expect(anna.assets.edges.map((e: any) => e.node.id)).toEqual([f.second.id, f.first.id]);
      expect(stranger).toMatchObject({ id: f.stranger.id, faceCount: 1 });
      expect(stranger.assets.edges.map((e: any) => e.node.id)).toEqual([f.first.id]);
    }
  });

  it("a person's cover is a link to their face crop: WebP, served without the original's name", async () => {
    const f = await family();
    const [anna] = (await people(f.chest, owner.token)).edges.map((e: any) => e.node);
    expect(anna.cover).toMatch(new RegExp(`^/files/${f.first.id}/face-${f.annaFirst.id.replace(/-/g, '')}\\?exp=\\d+&sig=`));
    const got = await files.get(anna.cover);
    expect(got.status).toBe(200);
    expect(got.type).toBe('image/webp');
    expect((await sharp(got.bytes).metadata()).format).toBe('webp');
    // A forged name, or a face of another photo under this photo's id, is not served.
    const other = anna.cover.replace(f.first.id, f.second.id);
    expect((await files.get(other)).status).toBe(404);
  });

  it('pages through people with first and after', async () => {
    const f = await family();
    const page1 = await people(f.chest, owner.token, { first: 1 });
    expect(page1.edges.map((e: any) => e.node.id)).toEqual([f.anna.id]);
    expect(page1.pageInfo.hasNextPage).toBe(true);
    const page2 = await people(f.chest, owner.token, { first: 1, after: page1.pageInfo.endCursor });
    expect(page2.edges.map((e: any) => e.node.id)).toEqual([f.stranger.id]);
    expect(page2.pageInfo.hasNextPage).toBe(false);
    expect(failure(await gql.run(PEOPLE, { id: f.chest.id, after: 'not-a-cursor' }, { token: owner.token }))).toMatchObject({ code: 'BAD_USER_INPUT', field: 'after' });
  });

  it("a photo's faces, left to right, with whose they are", async () => {
    const f = await family();
    const q = `query($id: ID!) { asset(id: $id) { faces { id box { x y width height } person { id name } } } }`;
    const faces = ok(await gql.run(q, { id: f.second.id }, { token: viewer.token })).asset.faces;
    expect(faces).toEqual([
      { id: f.nobody.id, box: { x: 0.05, y: 0.1, width: 0.1, height: 0.1 }, person: null },
      { id: f.annaSecond.id, box: { x: 0.5, y: 0.2, width: 0.2, height: 0.25 }, person: { id: f.anna.id, name: 'Anna' } },
    ]);
  });

  const NAME = `mutation($p: ID!, $n: String) { namePerson(personId: $p, name: $n) { id name } }`;

  it('namePerson: editors name a person, trimmed; "" or null clears; a name too long or with control characters is refused', async () => {
    const f = await family();
    expect(ok(await gql.run(NAME, { p: f.stranger.id, n: '  Uncle   Bill ' }, { token: editor.token })).namePerson).toEqual({ id: f.stranger.id, name: 'Uncle   Bill' });
    expect((await em().findOneOrFail(Person, f.stranger.id)).name).toBe('Uncle   Bill');
    expect(failure(await gql.run(NAME, { p: f.stranger.id, n: 'x'.repeat(101) }, { token: editor.token }))).toMatchObject({ code: 'BAD_USER_INPUT', field: 'name' });
    expect(failure(await gql.run(NAME, { p: f.stranger.id, n: 'Bill\u0007' }, { token: editor.token }))).toMatchObject({ code: 'BAD_USER_INPUT', field: 'name' });
    expect(ok(await gql.run(NAME, { p: f.stranger.id, n: '' }, { token: owner.token })).namePerson.name).toBeNull();
    expect(ok(await gql.run(NAME, { p: f.anna.id, n: null }, { token: owner.token })).namePerson.name).toBeNull();
  });

  it('viewers may look but not decide (FORBIDDEN); an id that is no person is NOT_FOUND', async () => {
    const f = await family();
    expect(failure(await gql.run(NAME, { p: f.anna.id, n: 'Annie' }, { token: viewer.token })).code).toBe('FORBIDDEN');
    expect(failure(await gql.run(NAME, { p: '00000000-0000-4000-8000-000000000000', n: 'Annie' }, { token: owner.token })).code).toBe('NOT_FOUND');
    expect(failure(await gql.run(NAME, { p: 'nope', n: 'Annie' }, { token: owner.token })).code).toBe('NOT_FOUND');
    expect((await em().findOneOrFail(Person, f.anna.id)).name).toBe('Anna');
  });

  const MERGE = `mutation($p: ID!, $into: ID!) { mergePeople(personId: $p, intoPersonId: $into) { id name hidden faceCount } }`;

  it('mergePeople: the faces join the other person, who keeps a name and stays hidden if either was; the merged one is gone', async () => {
    const f = await family();
    const e = em();
    await e.nativeUpdate(Person, { id: f.stranger.id }, { hidden: true });
    const merged = ok(await gql.run(MERGE, { p: f.stranger.id, into: f.anna.id }, { token: editor.token })).mergePeople;
    expect(merged).toEqual({ id: f.anna.id, name: 'Anna', hidden: true, faceCount: 3 });
    expect(await em().findOne(Person, f.stranger.id)).toBeNull();
    const moved = await em().findOneOrFail(Face, f.strangerFace.id);
    expect(moved).toMatchObject({ person: { id: f.anna.id }, assignedByPerson: true });
  });

  it('mergePeople: an unnamed person takes the name of the one merged in; not into themselves, nor across chests', async () => {
    const f = await family();
    expect(ok(await gql.run(MERGE, { p: f.anna.id, into: f.stranger.id }, { token: owner.token })).mergePeople).toMatchObject({ id: f.stranger.id, name: 'Anna', faceCount: 3 });
    expect(failure(await gql.run(MERGE, { p: f.stranger.id, into: f.stranger.id }, { token: owner.token }))).toMatchObject({ code: 'BAD_USER_INPUT', field: 'intoPersonId' });
    const g = await family();
    expect(failure(await gql.run(MERGE, { p: g.anna.id, into: f.stranger.id }, { token: owner.token }))).toMatchObject({ code: 'BAD_USER_INPUT', field: 'intoPersonId' });
    expect((await em().findOneOrFail(Person, g.anna.id)).name).toBe('Anna');
  });

  const MOVE = `mutation($f: ID!, $p: ID) { moveFace(faceId: $f, personId: $p) { id person { id name } } }`;

  it("moveFace: to another person, or to nobody; a person's choice, kept; a person left with no face is gone", async () => {
    const f = await family();
    expect(ok(await gql.run(MOVE, { f: f.strangerFace.id, p: f.anna.id }, { token: editor.token })).moveFace).toEqual({ id: f.strangerFace.id, person: { id: f.anna.id, name: 'Anna' } });
    expect(await em().findOne(Person, f.stranger.id)).toBeNull();
    expect(await em().findOneOrFail(Face, f.strangerFace.id)).toMatchObject({ assignedByPerson: true, person: { id: f.anna.id } });
    expect(ok(await gql.run(MOVE, { f: f.annaFirst.id, p: null }, { token: owner.token })).moveFace.person).toBeNull();
    expect(await em().findOneOrFail(Face, f.annaFirst.id)).toMatchObject({ assignedByPerson: true, person: null });
    // Anna's cover was the face moved away: it is now one of her own.
    const anna = await em().findOneOrFail(Person, f.anna.id);
    expect([f.annaSecond.id, f.strangerFace.id]).toContain(anna.coverFaceId);
    // Another chest's person is not a place for this face.
    const g = await family();
    expect(failure(await gql.run(MOVE, { f: f.annaSecond.id, p: g.anna.id }, { token: owner.token }))).toMatchObject({ code: 'BAD_USER_INPUT', field: 'personId' });
    expect(failure(await gql.run(MOVE, { f: f.annaSecond.id, p: null }, { token: viewer.token })).code).toBe('FORBIDDEN');
    expect(failure(await gql.run(MOVE, { f: '00000000-0000-4000-8000-000000000000', p: null }, { token: owner.token })).code).toBe('NOT_FOUND');
  });

  it('hidePerson and unhidePerson: editors and owners; members still see a hidden person, marked hidden', async () => {
    const f = await family();
    const HIDE = `mutation($p: ID!) { hidePerson(personId: $p) { id hidden } }`;
    const UNHIDE = `mutation($p: ID!) { unhidePerson(personId: $p) { id hidden } }`;
    expect(ok(await gql.run(HIDE, { p: f.anna.id }, { token: editor.token })).hidePerson).toEqual({ id: f.anna.id, hidden: true });
    expect((await people(f.chest, viewer.token)).edges.map((e: any) => [e.node.name, e.node.hidden])).toEqual([
      ['Anna', true],
      [null, false],
    ]);
    expect(failure(await gql.run(UNHIDE, { p: f.anna.id }, { token: viewer.token })).code).toBe('FORBIDDEN');
    expect(ok(await gql.run(UNHIDE, { p: f.anna.id }, { token: owner.token })).unhidePerson).toEqual({ id: f.anna.id, hidden: false });
  });

  it('faces on memories the chest does not show (in the bin) are not counted, and people with only those are not listed', async () => {
    const f = await family();
    await em().nativeUpdate(Asset, { id: f.first.id }, { deletedAt: new Date() });
    const list = await people(f.chest, owner.token);
    expect(list.edges.map((e: any) => [e.node.name, e.node.faceCount])).toEqual([['Anna', 1]]);
  });
});
