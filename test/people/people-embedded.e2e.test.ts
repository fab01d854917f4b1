import { describe, expect, it } from 'vitest';
import { Chest, Face, Person } from '../../src/db/entities/index.js';
import { ProcessingStatus } from '../../src/db/enums.js';
import { BOSS_SCHEMA } from '../../src/jobs/pg-boss.queue.js';
import { useEmbeddedServer } from '../support/server.js';
import { makeAsset } from '../support/factories.js';
import { makeFace, makePerson } from '../support/people.js';

/**
 * The people mutations on the embedded default as `npm start` runs it (PGlite's one connection,
 * pg-boss embedded on it, the worker in the process, over HTTP): hidePerson, unhidePerson and
 * mergePeople enqueue the blurred copies inside their transaction, and answer. Each request is
 * bounded, so a queue waiting behind the mutation's own transaction fails here instead of hanging.
 */
describe('people mutations on the embedded default', () => {
  const fx = useEmbeddedServer();

  it('namePerson, hidePerson, unhidePerson and mergePeople answer; the chest is searched as they left it', { timeout: 120_000 }, async () => {
    const base = fx.server.app.url();
    const token = await fx.api.signUp('people-embedded@example.test');
    const chestId = await fx.api.createChest(token, 'Rose Ellis');
    const em = fx.server.database.orm.em.fork();
    const chest = await em.findOneOrFail(Chest, chestId);
    const photo = await makeAsset(em, chest, { status: ProcessingStatus.COMPLETE, caption: 'At the pier' });
    const alice = await makePerson(em, chest);
    const bob = await makePerson(em, chest, { name: 'Bob' });
    await makeFace(em, photo, alice);
    await makeFace(em, photo, bob, { box: { x: 0.05, y: 0.3, width: 0.2, height: 0.25 } });
    const share = await fx.api.must(`mutation($id: ID!) { createShareLink(chestId: $id) { token } }`, { id: chestId }, token);

    // One bounded request: a hang is a failure with the mutation's name, not a test timeout.
    const run = async (query: string, variables: Record<string, unknown>, headers: Record<string, string> = { authorization: `Bearer ${token}` }) => {
      const res = await fetch(`${base}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: JSON.stringify({ query, variables }),
        signal: AbortSignal.timeout(20_000),
      });
      const body = (await res.json()) as { data?: any; errors?: unknown[] };
      expect(body.errors, JSON.stringify(body.errors)).toBeUndefined();
      return body.data;
    };
    const sharedHits = async (query: string) =>
      (await run(`query($c: ID!, $q: String!) { search(chestId: $c, query: $q) { edges { node { field } } } }`, { c: chestId, q: query }, { 'x-share-token': share.createShareLink.token }))
        .search.edges.length as number;

    expect((await run(`mutation($p: ID!) { namePerson(personId: $p, name: "Alice Moss") { name } }`, { p: alice.id })).namePerson).toEqual({ name: 'Alice Moss' });
    expect(await sharedHits('Moss')).toBeGreaterThan(0);
    expect((await run(`mutation($p: ID!) { hidePerson(personId: $p) { hidden } }`, { p: alice.id })).hidePerson).toEqual({ hidden: true });
    expect(await sharedHits('Moss')).toBe(0);
    expect((await run(`mutation($p: ID!) { unhidePerson(personId: $p) { hidden } }`, { p: alice.id })).unhidePerson).toEqual({ hidden: false });
    expect(await sharedHits('Moss')).toBeGreaterThan(0);
    await run(`mutation($p: ID!) { hidePerson(personId: $p) { hidden } }`, { p: bob.id });
    // One hidden, one shown: the merge blurs again, and the merged person stays hidden.
    expect((await run(`mutation($p: ID!, $i: ID!) { mergePeople(personId: $p, intoPersonId: $i) { id name hidden } }`, { p: bob.id, i: alice.id })).mergePeople).toEqual({
      id: alice.id,
      name: 'Alice Moss',
      hidden: true,
    });
    expect(await sharedHits('Moss')).toBe(0);
    const after = fx.server.database.orm.em.fork();
    expect(await after.count(Face, { person: alice.id })).toBe(2);
    expect(await after.count(Person, { chest: chestId })).toBe(1);
    // hidePerson, unhidePerson, hidePerson and the merge each queued the photo's blurred copies in their transaction.
    const jobs = await after.execute<{ n: number }[]>(`select count(*)::int as n from ${BOSS_SCHEMA}.job where name = 'faces.redact' and data->>'assetId' = ?`, [photo.id]);
    expect(jobs[0]?.n).toBe(4);
  });
});
