import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Account, Asset, type Chest } from '../../src/db/entities/index.js';
import type { Analysis } from '../../src/db/entities/asset.types.js';
import { ProcessingStatus } from '../../src/db/enums.js';
import { recaption } from '../../src/domain/people/captions.js';
import type { JobQueue } from '../../src/jobs/jobs.port.js';
import { createPgBossQueue } from '../../src/jobs/pg-boss.queue.js';
import { BACKENDS, createTestDatabase, type TestDatabase } from '../support/db.js';
import { makeAccount, makeAsset, makeChest } from '../support/factories.js';
import { createGraphQLRunner, ok } from '../support/graphql.js';
import { makeFace, makePerson } from '../support/people.js';

/**
 * recaption on both databases (the embedded default runs on PGlite): many photos in one call, the
 * record kept in step, deleted memories too, and the people mutations recomposing in their
 * transaction. The face engine's own photos are in captions.test.ts; here faces are made directly.
 */
describe.each(BACKENDS)('recaption on %s', (backend) => {
  let db: TestDatabase;
  let queue: JobQueue;
  let gql: Awaited<ReturnType<typeof createGraphQLRunner>>;
  let owner: { account: Account; token: string };
  let chest: Chest;
  const em = () => db.orm.em.fork();
  const JUNE_1962 = new Date(Date.UTC(1962, 5, 1, 10));
  const described = (caption: string | null, objects = [{ label: 'person', count: 2 }, { label: 'dog', count: 1 }]): Analysis => ({
    task: 'describeImage',
    status: 'DONE',
    provider: 'local',
    model: 'centernet-coco',
    error: null,
    at: new Date(),
    caption,
    composedFrom: { by: 'local', objects },
  });
  /** A processed photo with a machine caption (or a person's) and the record of the run that wrote it. */
  const photo = (over: Partial<Asset> & { machine?: string | null } = {}) => {
    const { machine = 'People with a dog in Whitby, June 1962.', ...rest } = over;
    return makeAsset(em(), chest, { status: ProcessingStatus.COMPLETE, place: 'Whitby', dateTaken: JUNE_1962, caption: machine, analyses: [described(machine)], ...rest });
  };
  const stored = (id: string) => em().findOneOrFail(Asset, id);

  beforeAll(async () => {
    db = await createTestDatabase(backend);
    // Started before any mutation: on PGlite a transaction holds the only connection, so the queue cannot open inside one.
    queue = await createPgBossQueue({ orm: db.orm, supervise: false, log: pino({ level: 'silent' }) });
    gql = await createGraphQLRunner(db.orm, { queue });
    owner = await makeAccount(em());
    chest = await makeChest(em(), {}, owner.account);
  }, 60_000);
  afterAll(async () => {
    await gql?.stop();
    await queue?.stop();
    await db?.close();
  });

  it('recomposes many photos at once, each with its own people, place and date, and records each new caption', async () => {
    const rose = await makePerson(em(), chest, { name: 'Rose' });
    const tom = await makePerson(em(), chest, { name: 'Tom' });
    const hidden = await makePerson(em(), chest, { name: 'Hal', hidden: true });
    const unnamed = await makePerson(em(), chest);
    const a = await photo();
    const b = await photo({ place: 'at the pier', dateTaken: null, machine: 'People with a dog at the pier.' });
    const c = await photo({ deletedAt: new Date() });
    const own = await photo({ caption: 'Our dog Rex', machine: 'People with a dog in Whitby, June 1962.' });
    const left = { x: 0.1, y: 0.2, width: 0.1, height: 0.1 };
    const right = { x: 0.6, y: 0.2, width: 0.1, height: 0.1 };
    await makeFace(em(), a, tom, { box: right });
    await makeFace(em(), a, rose, { box: left });
    await makeFace(em(), b, hidden, { box: left });
    await makeFace(em(), b, unnamed, { box: right });
    await makeFace(em(), c, rose);
    await makeFace(em(), own, rose);

    const statements: string[] = [];
    const changed = await em().transactional((tx) => {
      const execute = tx.execute.bind(tx);
      tx.execute = ((sql: string, ...rest: never[]) => (statements.push(sql), execute(sql, ...rest))) as typeof tx.execute;
      return recaption(tx, { assetIds: [a.id, b.id, c.id, own.id, a.id] });
    });
    expect(changed.sort()).toEqual([a.id, c.id].sort());
    // However many photos: their rows, their people, one write.
    expect(statements).toHaveLength(3);
    // Left to right; two seen and two named: no "others".
    expect((await stored(a.id)).caption).toBe('Rose and Tom with a dog in Whitby, June 1962.');
    expect((await stored(a.id)).analyses[0]!.caption).toBe('Rose and Tom with a dog in Whitby, June 1962.');
    // Hidden and unnamed people are no names: nothing to change.
    expect((await stored(b.id)).caption).toBe('People with a dog at the pier.');
    // A deleted memory is kept right too: it may be restored.
    expect((await stored(c.id)).caption).toBe('Rose and others with a dog in Whitby, June 1962.');
    expect((await stored(own.id)).caption).toBe('Our dog Rex');
    expect((await stored(own.id)).analyses[0]!.caption, "a person's caption leaves the record as it was").toBe('People with a dog in Whitby, June 1962.');
    // Nothing to do twice.
    expect(await em().transactional((tx) => recaption(tx, { assetIds: [a.id, b.id, c.id, own.id] }))).toEqual([]);
    expect(await em().transactional((tx) => recaption(tx, { assetIds: [] }))).toEqual([]);
  });

  it('the people mutations recompose in their transaction; a photo with no composed record is left alone', async () => {
    const person = await makePerson(em(), chest);
    const other = await makePerson(em(), chest, { name: 'Ada' });
    const composed = await photo();
    const remote = await photo({ caption: 'Two people and a dog on a beach.', analyses: [{ ...described('Two people and a dog on a beach.'), provider: 'openai', model: 'vision', composedFrom: undefined }] });
    const face = await makeFace(em(), composed, person);
    await makeFace(em(), remote, person);
    const run = (q: string, v: Record<string, unknown>) => gql.run(q, v, { token: owner.token }).then(ok);

    await run(`mutation($p: ID!) { namePerson(personId: $p, name: "Rose") { id } }`, { p: person.id });
    expect((await stored(composed.id)).caption).toBe('Rose and others with a dog in Whitby, June 1962.');
    expect((await stored(remote.id)).caption).toBe('Two people and a dog on a beach.');
    await run(`mutation($p: ID!) { hidePerson(personId: $p) { hidden } }`, { p: person.id });
    expect((await stored(composed.id)).caption).toBe('People with a dog in Whitby, June 1962.');
    await run(`mutation($p: ID!) { unhidePerson(personId: $p) { hidden } }`, { p: person.id });
    expect((await stored(composed.id)).caption).toBe('Rose and others with a dog in Whitby, June 1962.');
    await run(`mutation($f: ID!, $p: ID) { moveFace(faceId: $f, personId: $p) { id } }`, { f: face.id, p: other.id });
    expect((await stored(composed.id)).caption).toBe('Ada and others with a dog in Whitby, June 1962.');
    // Rose joins Ada (who keeps her name): the remote caption still stands.
    await run(`mutation($p: ID!, $i: ID!) { mergePeople(personId: $p, intoPersonId: $i) { id } }`, { p: person.id, i: other.id });
    expect((await stored(composed.id)).caption).toBe('Ada and others with a dog in Whitby, June 1962.');
    expect((await stored(remote.id)).caption).toBe('Two people and a dog on a beach.');
    await run(`mutation($a: ID!) { updateMemory(assetId: $a, input: { dateTaken: "1970-03-01" }) { caption } }`, { a: composed.id });
    expect((await stored(composed.id)).caption).toBe('Ada and others with a dog in Whitby, March 1970.');
  });
});
