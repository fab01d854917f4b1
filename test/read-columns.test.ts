import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Asset, Contribution, Story } from '../src/db/entities/index.js';
import { fromColumns, readColumns, readModel } from '../src/domain/read-model.js';
import { READS } from '../src/graphql/asset-properties.js';
import { makeFace, makePerson } from './support/people.js';
import { BACKENDS, createTestDatabase, type TestDatabase } from './support/db.js';
import { makeAccount, makeAsset, makeAssets, makeChest, makeContribution, makeStory } from './support/factories.js';
import { createGraphQLRunner, ok } from './support/graphql.js';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { Chest } from '../src/db/entities/index.js';

/** A runner, an owner's token and their empty chest. */
async function ownerWithChest(db: TestDatabase) {
  const gql = await createGraphQLRunner(db.orm);
  const em = db.orm.em.fork();
  const made = await makeAccount(em);
  const chest = await makeChest(em, {}, made.account);
  return { gql, em, token: made.token, chest };
}

describe.each(BACKENDS)('read models from named columns (%s)', (backend) => {
  let db: TestDatabase;
  let gql: Awaited<ReturnType<typeof createGraphQLRunner>>;
  let token: string;
  let chestId: string;

  beforeAll(async () => {
    db = await createTestDatabase(backend);
    let em: EntityManager, chest: Chest;
    ({ gql, em, token, chest } = await ownerWithChest(db));
    chestId = chest.id;
    // Every kind of column: references, a bigint custom type, jsonb lists and objects, dates, text.
    await makeAsset(em, chest, {
      dateTaken: new Date(Date.UTC(1971, 4, 2)),
      location: { latitude: 54.48, longitude: -0.61 },
      tags: [{ name: 'garden', source: 'USER' as never, confidence: 1 }],
      transcription: { text: 'we walked to the harbour', language: 'en' } as never,
      extractedText: 'Dear Mary,',
      waveform: [0.1, 0.5, 0.2],
      analyses: [{ task: 'analyse', status: 'DONE', provider: 'local', model: 'm', error: null, at: new Date(0) }] as never,
      mediaInfo: { make: 'Kodak' },
      size: 2 ** 40,
    });
    await makeStory(em, chest);
    await makeContribution(em, chest);
    await em.flush();
  });
  afterAll(async () => {
    await gql?.stop();
    await db?.close();
  });

  it.each([
    ['asset', Asset, 'a'],
    ['story', Story, 'x'],
    ['contribution', Contribution, 'x'],
  ] as const)('a %s read through readColumns equals the one read through select *', async (table, entity, alias) => {
    const em = db.orm.em.fork();
    const [whole] = await em.execute<Record<string, unknown>[]>(`select ${alias}.* from "${table}" ${alias} where ${alias}.chest_id = ?`, [chestId]);
    const [named] = await em.execute<Record<string, unknown>[]>(`select ${readColumns(em, entity as never, alias)} from "${table}" ${alias} where ${alias}.chest_id = ?`, [chestId]);
    const expected = readModel(em, entity as never, whole!) as Record<string, unknown>;
    expect(Object.keys(expected).length).toBeGreaterThan(5);
    expect(fromColumns(em, entity as never, named!)).toEqual(expected);
  });

  it('reads only the asked properties', async () => {
    const em = db.orm.em.fork();
    const only = new Set(['id', 'chest', 'size', 'location']);
    const [row] = await em.execute<Record<string, unknown>[]>(`select ${readColumns(em, Asset, 'a', only)} from asset a where a.chest_id = ?`, [chestId]);
    expect(fromColumns(em, Asset, row!)).toEqual({ id: expect.any(String), chest: { id: chestId }, size: 2 ** 40, location: { latitude: 54.48, longitude: -0.61 } });
  });

  const page = (fields: string) => `query($id: ID!) { chest(id: $id) { assets(first: 10) { edges { node { ${fields} } } } } }`;
  const assetStatement = () => db.queries.filter((q) => /from unnest/.test(q) && /asset a/.test(q));

  it('a page whose nodes ask only listed fields reads only their columns', async () => {
    db.queries.length = 0;
    const data = ok(await gql.run(page('id filename tags { name } ... on Asset { location { latitude } }'), { id: chestId }, { token }));
    expect(data.chest.assets.edges[0].node.location.latitude).toBe(54.48);
    const [sql] = assetStatement();
    expect(sql).toBeDefined();
    for (const column of ['"filename"', '"tags"', '"location"', '"date_taken"']) expect(sql).toContain(column);
    for (const column of ['transcription', 'extracted_text', 'waveform', 'analyses', 'thumbnails', 'storage_key', 'media_info']) expect(sql).not.toContain(`"${column}"`);
  });

  it.each([
    ['transcription { text }', (n: any) => expect(n.transcription.text).toBe('we walked to the harbour')],
    ['extractedText', (n: any) => expect(n.extractedText).toBe('Dear Mary,')],
    ['waveform', (n: any) => expect(n.waveform).toEqual([0.1, 0.5, 0.2])],
    ['id ...F', (n: any) => expect(n.extractedText).toBe('Dear Mary,')],
  ])('a page whose nodes ask %s reads whole rows', async (fields, check) => {
    db.queries.length = 0;
    const fragment = fields.includes('...F') ? ' fragment F on Asset { extractedText }' : '';
    const data = ok(await gql.run(page(fields) + fragment, { id: chestId }, { token }));
    check(data.chest.assets.edges[0].node);
    expect(assetStatement()[0]).toContain('"extracted_text"');
  });
});

/** Each listed field answers the same from its own columns as from whole rows, for members and for a view link (blurred copies of a hidden person). */
describe('every listed Asset field reads what its resolver needs', () => {
  let db: TestDatabase;
  let gql: Awaited<ReturnType<typeof createGraphQLRunner>>;
  let token: string;
  let shareToken: string;
  let chestId: string;

  beforeAll(async () => {
    db = await createTestDatabase('postgres');
    let em: EntityManager, chest: Chest;
    ({ gql, em, token, chest } = await ownerWithChest(db));
    chestId = chest.id;
    const thumbnails = (id: string) => ['256', '1024'].map((name) => ({ name, width: Number(name), height: Number(name), mimeType: 'image/webp', storageKey: `chests/${chest.id}/derivatives/${id}/${name}.webp` }));
    const assets = await makeAssets(em, chest, 4, (i) => ({
      dateTaken: i % 2 ? new Date(Date.UTC(1980, 0, 1 + i)) : null,
      location: { latitude: 50 + i, longitude: i },
      place: 'Whitby',
      caption: `caption ${i}`,
      placeholder: 'AAAA',
      width: 640,
      height: 480,
      processedAt: new Date(Date.UTC(2026, 0, 1)),
      tags: [{ name: 'garden', source: 'USER' as never, confidence: 1 }],
      perceptualHash: '0123456789abcdef',
    }));
    for (const a of assets) a.thumbnails = thumbnails(a.id);
    await em.flush();
    // A hidden person on the first photo: outside the family its thumbnails and placeholder are the blurred ones (none made here).
    const hidden = await makePerson(em, chest, { name: 'Tom', hidden: true });
    await makeFace(em, assets[0]!, hidden);
    shareToken = ok(await gql.run(`mutation($c: ID!) { createShareLink(chestId: $c) { token } }`, { c: chestId }, { token })).createShareLink.token;
  });
  afterAll(async () => {
    await gql?.stop();
    await db?.close();
  });

  const SUB: Record<string, string> = { tags: 'tags { name source confidence }', location: 'location { latitude longitude }', thumbnails: 'thumbnails { name width height mimeType url }' };
  const nodes = async (fields: string, as: { token?: string; shareToken?: string }) => {
    const q = `query($id: ID!) { chest(id: $id) { assets(first: 10) { edges { node { ${fields} } } } } }`;
    db.queries.length = 0;
    const data = ok(await gql.run(q, { id: chestId }, as));
    const statement = db.queries.find((s) => /from unnest/.test(s) && /asset a/.test(s))!;
    return { nodes: data.chest.assets.edges.map((e: any) => e.node), whole: statement.includes('"storage_key"') };
  };

  it.each(Object.keys(READS))('%s', async (field) => {
    const selection = SUB[field] ?? field;
    for (const as of [{ token }, { shareToken }]) {
      const narrow = await nodes(`id ${selection}`, as);
      // previewUrl is not listed, so this page reads whole rows.
      const whole = await nodes(`id ${selection} previewUrl`, as);
      expect(narrow.whole).toBe(false);
      expect(whole.whole).toBe(true);
      expect(narrow.nodes.length).toBe(4);
      const strip = (list: any[]) => list.map((n) => JSON.parse(JSON.stringify({ ...n, previewUrl: undefined }).replace(/[?&](exp|sig|expires|signature)=[^"&]*/gi, '')));
      expect(strip(narrow.nodes)).toEqual(strip(whole.nodes));
    }
  });
});
