import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Asset, Contribution, Story } from '../src/db/entities/index.js';
import { fromColumns, readColumns, readModel } from '../src/domain/read-model.js';
import { HEAVY_ASSET_PROPERTIES } from '../src/domain/asset/asset.queries.js';
import { BACKENDS, createTestDatabase, type TestDatabase } from './support/db.js';
import { makeAccount, makeAsset, makeChest, makeContribution, makeStory } from './support/factories.js';
import { createGraphQLRunner, ok } from './support/graphql.js';

describe.each(BACKENDS)('read models from named columns (%s)', (backend) => {
  let db: TestDatabase;
  let gql: Awaited<ReturnType<typeof createGraphQLRunner>>;
  let token: string;
  let chestId: string;

  beforeAll(async () => {
    db = await createTestDatabase(backend);
    gql = await createGraphQLRunner(db.orm);
    const em = db.orm.em.fork();
    const made = await makeAccount(em);
    token = made.token;
    const chest = await makeChest(em, {}, made.account);
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

  it('leaves out only the omitted properties', async () => {
    const em = db.orm.em.fork();
    const [row] = await em.execute<Record<string, unknown>[]>(`select ${readColumns(em, Asset, 'a', HEAVY_ASSET_PROPERTIES)} from asset a where a.chest_id = ?`, [chestId]);
    const light = fromColumns(em, Asset, row!) as unknown as Record<string, unknown>;
    for (const name of HEAVY_ASSET_PROPERTIES) expect(light).not.toHaveProperty(name);
    expect(light.size).toBe(2 ** 40);
    expect(light.chest).toEqual({ id: chestId });
    expect(light.location).toEqual({ latitude: 54.48, longitude: -0.61 });
  });

  const page = (fields: string) => `query($id: ID!) { chest(id: $id) { assets(first: 10) { edges { node { ${fields} } } } } }`;
  const assetStatement = () => db.queries.filter((q) => /from unnest/.test(q) && /asset a/.test(q));

  it('a page whose nodes ask only list fields does not read the heavy columns', async () => {
    db.queries.length = 0;
    const data = ok(await gql.run(page('id filename tags { name } ... on Asset { location { latitude } }'), { id: chestId }, { token }));
    expect(data.chest.assets.edges[0].node.location.latitude).toBe(54.48);
    const [sql] = assetStatement();
    expect(sql).toBeDefined();
    expect(sql).toContain('"thumbnails"');
    for (const column of ['transcription', 'extracted_text', 'waveform', 'analyses']) expect(sql).not.toContain(`"${column}"`);
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
