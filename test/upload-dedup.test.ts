import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { buildSchema, isObjectType } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Asset, Upload } from '../src/db/entities/index.js';
import { newToken } from '../src/domain/tokens.js';
import type { HttpApp } from '../src/server.js';
import type { TestDatabase } from './support/db.js';
import { apiClient } from './support/client.js';
import { makeAccount, makeChest } from './support/factories.js';
import { jpeg } from './support/media.js';
import { startTestServer, type TestServer } from './support/server.js';

/**
 * What "duplicate" means: an upload is compared only with memories its uploader may see. A guest
 * can neither hide a family's memory behind a pending copy nor learn whether the chest holds
 * given bytes. Every scenario runs over the real HTTP routes on its own chest, on Postgres.
 */
describe('deduplication never hides a memory and never answers about other people\'s uploads', () => {
  let server: TestServer;
  let db: TestDatabase;
  let app: HttpApp;
  let owner: { token: string; account: any };
  let colour = 0;

  beforeAll(async () => {
    server = await startTestServer();
    ({ db, app } = server);
    owner = await makeAccount(db.orm.em.fork());
  });
  afterAll(async () => {
    await server?.stop();
  });

  const must = (query: string, variables: Record<string, unknown>, token?: string) => apiClient(app.url()).must(query, variables, token);

  /** A chest of the owner's that takes contributions, with its contribution link. */
  async function freshChest(): Promise<{ chestId: string; link: string }> {
    const link = newToken();
    const chest = await makeChest(db.orm.em.fork(), { allowContributions: true, contributionTokenHash: link.hash }, owner.account);
    return { chestId: chest.id, link: link.token };
  }
  async function guest(link: string, name = 'Ann'): Promise<{ guestToken: string; contributionId: string }> {
    const sent = (await must(`mutation($t: String!, $n: String!) { submitContribution(token: $t, input: { contributorName: $n }) { guestToken contribution { id } } }`, { t: link, n: name }))
      .submitContribution;
    return { guestToken: sent.guestToken, contributionId: sent.contribution.id };
  }
  /** Distinct bytes for every photo a test makes. */
  const photo = () => jpeg(24, 24, `#${(++colour * 40503).toString(16).padStart(6, '0').slice(-6)}`);

  const TICKET = `mutation($i: CreateUploadInput!) { createUpload(input: $i) { url headers { name value } upload { id } } }`;
  type Ticket = { url: string; headers: Record<string, string>; id: string };
  async function ticket(bytes: Buffer, by: { chestId: string; token: string } | { guestToken: string }): Promise<Ticket> {
    const where = 'guestToken' in by ? { guestToken: by.guestToken } : { chestId: by.chestId };
    const t = (await must(TICKET, { i: { ...where, filename: 'x.jpg', size: bytes.length, mimeType: 'image/jpeg' } }, 'token' in by ? by.token : undefined)).createUpload;
    return { url: `${app.url()}${t.url}`, headers: Object.fromEntries(t.headers.map((h: any) => [h.name, h.value])), id: t.upload.id };
  }
  async function send(t: Ticket, bytes: Buffer): Promise<{ status: number; text: string; body: any }> {
    const res = await fetch(t.url, { method: 'PATCH', headers: { ...t.headers, 'Upload-Offset': '0' }, body: bytes });
    const text = await res.text();
    return { status: res.status, text, body: JSON.parse(text) };
  }
  const asOwner = (chestId: string) => ({ chestId, token: owner.token });
  const upload = async (bytes: Buffer, by: Parameters<typeof ticket>[1]) => send(await ticket(bytes, by), bytes);

  /** What the family sees: the chest's memory count and ids. */
  async function visible(chestId: string): Promise<{ total: number; ids: string[] }> {
    const a = (await must(`query($c: ID!) { chest(id: $c) { assets(first: 100) { totalCount edges { node { id } } } } }`, { c: chestId }, owner.token)).chest.assets;
    return { total: a.totalCount, ids: a.edges.map((e: any) => e.node.id).sort() };
  }
  const review = (verb: 'approveContribution' | 'rejectContribution', id: string) =>
    must(`mutation($id: ID!) { ${verb}(id: $id) { status } }`, { id }, owner.token);
  /** Every row holding these bytes, visible or not: nothing is ever lost. */
  const rows = (bytes: Buffer) => db.orm.em.fork().count(Asset, { sha256: createHash('sha256').update(bytes).digest('hex') });

  it('guest first, then the owner: the owner gets a visible memory of their own; after rejection it stays, and is what "duplicate" points to', async () => {
    const { chestId, link } = await freshChest();
    const g = await guest(link);
    const x = await photo();
    const fromGuest = await upload(x, g);
    expect(fromGuest.body).toMatchObject({ status: 'COMPLETE', duplicate: false });

    const fromOwner = await upload(x, asOwner(chestId));
    expect(fromOwner.body).toMatchObject({ status: 'COMPLETE', duplicate: false });
    expect(fromOwner.body.assetId).not.toBe(fromGuest.body.assetId);
    expect(await visible(chestId)).toEqual({ total: 1, ids: [fromOwner.body.assetId] });
    expect((await must(`query($id: ID!) { asset(id: $id) { id } }`, { id: fromOwner.body.assetId }, owner.token)).asset.id).toBe(fromOwner.body.assetId);

    await review('rejectContribution', g.contributionId);
    expect(await visible(chestId)).toEqual({ total: 1, ids: [fromOwner.body.assetId] });
    const again = await upload(x, asOwner(chestId));
    expect(again.body).toMatchObject({ status: 'COMPLETE', duplicate: true, assetId: fromOwner.body.assetId });
    // Nothing was lost: the guest's copy stays with its (rejected) contribution.
    expect(await rows(x)).toBe(2);
  });

  it('guest first, then the owner, then approval: both memories are visible (a duplicate pair, kept on purpose)', async () => {
    const { chestId, link } = await freshChest();
    const g = await guest(link);
    const x = await photo();
    const fromGuest = (await upload(x, g)).body;
    const fromOwner = (await upload(x, asOwner(chestId))).body;
    await review('approveContribution', g.contributionId);
    expect(await visible(chestId)).toEqual({ total: 2, ids: [fromGuest.assetId, fromOwner.assetId].sort() });
    // Once the guest's copy is visible it counts: the oldest visible memory with these bytes.
    const again = (await upload(x, asOwner(chestId))).body;
    expect(again).toMatchObject({ duplicate: true, assetId: fromGuest.assetId });
    expect(await rows(x)).toBe(2);
  });

  it('approval before the owner uploads: the owner is told it is a duplicate of the now-visible memory', async () => {
    const { chestId, link } = await freshChest();
    const g = await guest(link);
    const x = await photo();
    const fromGuest = (await upload(x, g)).body;
    await review('approveContribution', g.contributionId);
    expect((await upload(x, asOwner(chestId))).body).toMatchObject({ duplicate: true, assetId: fromGuest.assetId });
    expect(await visible(chestId)).toEqual({ total: 1, ids: [fromGuest.assetId] });
  });

  it('owner first, then a guest: the guest is not told, gets a pending copy of their own, and is told "duplicate" only about that', async () => {
    const { chestId, link } = await freshChest();
    const x = await photo();
    const fromOwner = (await upload(x, asOwner(chestId))).body;
    const g = await guest(link);
    const t = await ticket(x, g);
    const fromGuest = await send(t, x);
    expect(fromGuest.body).toMatchObject({ status: 'COMPLETE', duplicate: false });
    expect(fromGuest.body.assetId).not.toBe(fromOwner.assetId);
    expect(fromGuest.text).not.toContain(fromOwner.assetId);
    // HEAD says how many bytes are held and what this upload became (its own memory, for a tus
    // client that lost the last answer), and nothing about what else the chest holds.
    const head = await fetch(t.url, { method: 'HEAD', headers: t.headers });
    expect(head.status).toBe(200);
    expect([...head.headers.keys()].filter((h) => h.startsWith('upload-'))).toEqual(['upload-asset-id', 'upload-duplicate', 'upload-length', 'upload-offset', 'upload-status']);
    expect(head.headers.get('upload-asset-id')).toBe(fromGuest.body.assetId);
    expect(head.headers.get('upload-duplicate')).toBe('false');
    expect(JSON.stringify([...head.headers])).not.toContain(fromOwner.assetId);

    const twice = (await upload(x, g)).body;
    expect(twice).toMatchObject({ duplicate: true, assetId: fromGuest.body.assetId });
    // Another guest's contribution is someone else's too.
    const other = (await upload(x, await guest(link, 'Bob'))).body;
    expect(other).toMatchObject({ duplicate: false });
    expect([fromOwner.assetId, fromGuest.body.assetId]).not.toContain(other.assetId);
    expect(await visible(chestId)).toEqual({ total: 1, ids: [fromOwner.assetId] });
    expect(await rows(x)).toBe(3);
  });

  it('a deleted memory never makes an upload a duplicate, for a member or a guest', async () => {
    const { chestId, link } = await freshChest();
    const x = await photo();
    const first = (await upload(x, asOwner(chestId))).body;
    // No API deletes a single memory yet; the bin for memories is Asset.deletedAt.
    await db.orm.em.fork().nativeUpdate(Asset, { id: first.assetId }, { deletedAt: new Date() });
    const second = (await upload(x, asOwner(chestId))).body;
    expect(second).toMatchObject({ duplicate: false });
    expect(await visible(chestId)).toEqual({ total: 1, ids: [second.assetId] });

    const g = await guest(link);
    const own = (await upload(x, g)).body;
    await db.orm.em.fork().nativeUpdate(Asset, { id: own.assetId }, { deletedAt: new Date() });
    expect((await upload(x, g)).body).toMatchObject({ duplicate: false });
  });

  it('a chest put in the bin mid-upload takes nothing (NOT_FOUND), and after restore the bytes are new again', async () => {
    const { chestId } = await freshChest();
    const x = await photo();
    await upload(x, asOwner(chestId)); // already in the chest before it goes to the bin
    const t = await ticket(x, asOwner(chestId));
    (await must(`mutation($id: ID!) { deleteChest(id: $id) { id } }`, { id: chestId }, owner.token));
    const late = await send(t, x);
    expect(late.status).toBe(404);
    expect(late.body.errors[0].extensions.code).toBe('NOT_FOUND');
    expect(late.text).not.toMatch(/duplicate|assetId/);
    expect((await db.orm.em.fork().findOneOrFail(Upload, t.id)).status).toBe('FAILED');
    expect(await rows(x)).toBe(1);
    (await must(`mutation($id: ID!) { restoreChest(id: $id) { id } }`, { id: chestId }, owner.token));
    expect(await visible(chestId)).toMatchObject({ total: 1 });
  });

  it('a contribution reviewed mid-upload takes nothing more (CONFLICT): no memory slips in unreviewed', async () => {
    for (const verb of ['approveContribution', 'rejectContribution'] as const) {
      const { chestId, link } = await freshChest();
      const g = await guest(link);
      const x = await photo();
      const t = await ticket(x, g);
      await review(verb, g.contributionId);
      const late = await send(t, x);
      expect(late.status, verb).toBe(409);
      expect(late.body.errors[0].extensions.code).toBe('CONFLICT');
      expect(await rows(x)).toBe(0);
      expect(await visible(chestId)).toEqual({ total: 0, ids: [] });
    }
  });

  it('uploadProgress carries no duplicate flag and no memory id (the contract, schema/schema.graphql)', async () => {
    const sdl = buildSchema(await readFile(new URL('../schema/schema.graphql', import.meta.url), 'utf8'));
    const type = sdl.getType('UploadProgress');
    if (!isObjectType(type)) throw new Error('UploadProgress is not an object type');
    const fields = Object.keys(type.getFields());
    expect(fields).toContain('status');
    expect(fields).not.toContain('duplicate');
    expect(fields.filter((f) => /asset/i.test(f))).toEqual([]);
  });
});
