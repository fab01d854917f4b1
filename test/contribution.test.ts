import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Chest, Contribution } from '../src/db/entities/index.js';
import { ChestRole } from '../src/db/enums.js';
import { createTestDatabase, type TestDatabase } from './support/db.js';
import { addMember, makeAccount, makeAsset, makeChest } from './support/factories.js';
import { createGraphQLRunner, failure, ok } from './support/graphql.js';

const LINK = `mutation($c: ID!, $x: DateTimeISO) { createContributionLink(chestId: $c, expiresAt: $x) { token expiresAt } }`;
const SUBMIT = `mutation($t: String!, $i: SubmitContributionInput!) { submitContribution(token: $t, input: $i) { guestToken contribution { id status contributorName } } }`;
const STATUS = `query($g: String!) { contributionByGuestToken(guestToken: $g) { status reviewedAt rejectionReason } }`;
const LIST = `query($c: ID!) { chest(id: $c) { contributions { edges { node { id status message } } } summary { totalAssets } } }`;
const APPROVE = `mutation($id: ID!) { approveContribution(id: $id) { status reviewedAt } }`;
const REJECT = `mutation($id: ID!, $r: String) { rejectContribution(id: $id, reason: $r) { status rejectionReason } }`;

describe('guest contributions', () => {
  let db: TestDatabase;
  let gql: Awaited<ReturnType<typeof createGraphQLRunner>>;
  let owner: { token: string }, editor: { token: string }, viewer: { token: string };
  let chest: Chest;
  let link: string;

  beforeAll(async () => {
    db = await createTestDatabase('postgres');
    gql = await createGraphQLRunner(db.orm, { perClientPerHour: 3, perLinkPerHour: 6 });
    const em = db.orm.em.fork();
    const [o, e, v] = [await makeAccount(em), await makeAccount(em), await makeAccount(em)];
    [owner, editor, viewer] = [o, e, v];
    chest = await makeChest(em, { personName: 'Guests welcome', allowContributions: true }, o.account);
    await addMember(em, chest, e.account, ChestRole.EDITOR);
    await addMember(em, chest, v.account, ChestRole.VIEWER);
    link = ok(await gql.run(LINK, { c: chest.id }, { token: o.token })).createContributionLink.token;
  });
  afterAll(async () => {
    await gql?.stop();
    await db?.close();
  });

  it('a guest submits; only owners and editors see it; its memories stay hidden until approved', async () => {
    const sent = ok(
      await gql.run(SUBMIT, { t: link, i: { contributorName: ' Old friend ', relationship: 'School', message: 'We sang together.' } }, { clientAddress: '10.0.0.1' }),
    ).submitContribution;
    expect(sent.contribution).toMatchObject({ status: 'PENDING', contributorName: 'Old friend' });
    const em = db.orm.em.fork();
    const contribution = await em.findOneOrFail(Contribution, sent.contribution.id);
    await makeAsset(em, await em.findOneOrFail(Chest, chest.id), { contribution });

    const forEditor = ok(await gql.run(LIST, { c: chest.id }, { token: editor.token })).chest;
    expect(forEditor.contributions.edges.map((e: any) => e.node.message)).toEqual(['We sang together.']);
    expect(forEditor.summary.totalAssets).toBe(0);
    expect(failure(await gql.run(LIST, { c: chest.id }, { token: viewer.token })).code).toBe('FORBIDDEN');
    expect(ok(await gql.run(STATUS, { g: sent.guestToken })).contributionByGuestToken).toMatchObject({ status: 'PENDING', reviewedAt: null });

    expect(failure(await gql.run(APPROVE, { id: sent.contribution.id }, { token: editor.token })).code).toBe('FORBIDDEN');
    expect(failure(await gql.run(APPROVE, { id: sent.contribution.id }, { token: viewer.token })).code).toBe('NOT_FOUND');
    expect(failure(await gql.run(APPROVE, { id: sent.contribution.id })).code).toBe('NOT_FOUND');
    expect(ok(await gql.run(APPROVE, { id: sent.contribution.id }, { token: owner.token })).approveContribution.status).toBe('APPROVED');
    expect(ok(await gql.run(LIST, { c: chest.id }, { token: owner.token })).chest.summary.totalAssets).toBe(1);
    expect(failure(await gql.run(REJECT, { id: sent.contribution.id }, { token: owner.token })).code).toBe('CONFLICT');
    expect(ok(await gql.run(STATUS, { g: sent.guestToken })).contributionByGuestToken.status).toBe('APPROVED');
  });

  it('owners reject with a reason the guest sees', async () => {
    const sent = ok(await gql.run(SUBMIT, { t: link, i: { contributorName: 'Someone' } }, { clientAddress: '10.0.0.2' })).submitContribution;
    const r = ok(await gql.run(REJECT, { id: sent.contribution.id, r: 'Not about Nana' }, { token: owner.token })).rejectContribution;
    expect(r).toEqual({ status: 'REJECTED', rejectionReason: 'Not about Nana' });
    expect(ok(await gql.run(STATUS, { g: sent.guestToken })).contributionByGuestToken.rejectionReason).toBe('Not about Nana');
  });

  it('validates what guests send', async () => {
    expect(failure(await gql.run(SUBMIT, { t: link, i: { contributorName: '' } }, { clientAddress: '10.0.0.3' }))).toMatchObject({
      code: 'BAD_USER_INPUT',
      field: 'contributorName',
    });
    expect(failure(await gql.run(SUBMIT, { t: link, i: { contributorName: 'A', message: 'm'.repeat(5001) } }, { clientAddress: '10.0.0.3' }))).toMatchObject({
      code: 'BAD_USER_INPUT',
      field: 'message',
    });
  });

  it('rate-limits per client and per link, counted in the database', async () => {
    const em = db.orm.em.fork();
    const o = await makeAccount(em);
    const c = await makeChest(em, { allowContributions: true }, o.account);
    const t = ok(await gql.run(LINK, { c: c.id }, { token: o.token })).createContributionLink.token;
    const send = (ip: string) => gql.run(SUBMIT, { t, i: { contributorName: `From ${ip}` } }, { clientAddress: ip });
    for (let i = 0; i < 3; i++) ok(await send('192.0.2.1'));
    expect(failure(await send('192.0.2.1')).code).toBe('RATE_LIMITED');
    for (let i = 0; i < 3; i++) ok(await send('192.0.2.2'));
    // Six from the link in the last hour: now everyone waits.
    expect(failure(await send('192.0.2.3')).code).toBe('RATE_LIMITED');
    expect(await em.count(Contribution, { chest: c.id })).toBe(6);
  });

  it('a link works only while contributions are on, until revoked or expired', async () => {
    const em = db.orm.em.fork();
    const o = await makeAccount(em);
    const c = await makeChest(em, { allowContributions: false }, o.account);
    expect(failure(await gql.run(LINK, { c: c.id }, { token: o.token })).code).toBe('CONFLICT');
    ok(await gql.run(`mutation($c: ID!) { updateChest(id: $c, input: { allowContributions: true }) { id } }`, { c: c.id }, { token: o.token }));
    const t = ok(await gql.run(LINK, { c: c.id }, { token: o.token })).createContributionLink.token;
    const send = () => gql.run(SUBMIT, { t, i: { contributorName: 'G' } }, { clientAddress: '198.51.100.1' });
    ok(await send());
    ok(await gql.run(`mutation($c: ID!) { updateChest(id: $c, input: { allowContributions: false }) { id } }`, { c: c.id }, { token: o.token }));
    expect(failure(await send()).code).toBe('NOT_FOUND');
    ok(await gql.run(`mutation($c: ID!) { updateChest(id: $c, input: { allowContributions: true }) { id } }`, { c: c.id }, { token: o.token }));
    ok(await send());
    ok(await gql.run(`mutation($c: ID!) { revokeContributionLink(chestId: $c) { id } }`, { c: c.id }, { token: o.token }));
    expect(failure(await send()).code).toBe('NOT_FOUND');
    const soon = ok(await gql.run(LINK, { c: c.id, x: new Date(Date.now() + 60_000).toISOString() }, { token: o.token })).createContributionLink;
    await em.nativeUpdate(Chest, { id: c.id }, { contributionTokenExpiresAt: new Date(Date.now() - 1) });
    expect(failure(await gql.run(SUBMIT, { t: soon.token, i: { contributorName: 'Late' } }, { clientAddress: '198.51.100.2' })).code).toBe('NOT_FOUND');
    const past = await gql.run(LINK, { c: c.id, x: new Date(Date.now() - 60_000).toISOString() }, { token: o.token });
    expect(failure(past)).toMatchObject({ code: 'BAD_USER_INPUT', field: 'expiresAt' });
  });
});
