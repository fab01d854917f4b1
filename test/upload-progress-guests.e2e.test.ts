import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChestRole } from '../src/db/enums.js';
import { apiClient, type GqlResponse } from './support/client.js';
import { addMember, makeAccount, makeChest } from './support/factories.js';
import { jpeg } from './support/media.js';
import { startTestServer, type TestServer } from './support/server.js';

const SUB = `subscription($c: ID!) { uploadProgress(chestId: $c) { filename status } }`;

type ProgressData = { uploadProgress: { filename: string; status: string } };
type Progress = GqlResponse<ProgressData>;
const completed = (all: Progress[], filename: string) => all.some((r) => r.data?.uploadProgress.filename === filename && r.data.uploadProgress.status === 'COMPLETE');

/**
 * A guest's upload belongs to a contribution still under review, which only owners and editors
 * may see: its progress (and filename) must not reach the chest's viewers.
 */
describe('uploadProgress and guests’ uploads', () => {
  let server: TestServer;
  let api: ReturnType<typeof apiClient>;

  beforeAll(async () => {
    server = await startTestServer();
    api = apiClient(server.app.url());
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('shows a guest’s upload to editors but not to viewers; both see members’ uploads', async () => {
    const em = server.db.orm.em.fork();
    const [owner, editor, viewer] = [await makeAccount(em), await makeAccount(em), await makeAccount(em)];
    const chest = await makeChest(em, { personName: 'Iris Hale', allowContributions: true }, owner.account);
    await addMember(em, chest, editor.account, ChestRole.EDITOR);
    await addMember(em, chest, viewer.account, ChestRole.VIEWER);
    const link = (await api.must(`mutation($c: ID!) { createContributionLink(chestId: $c) { token } }`, { c: chest.id }, owner.token)).createContributionLink.token;
    const { guestToken } = (await api.must(`mutation($t: String!) { submitContribution(token: $t, input: { contributorName: "Neighbour Tom" }) { guestToken } }`, { t: link }))
      .submitContribution;

    const viewerWs = api.ws(viewer.token);
    const editorWs = api.ws(editor.token);
    const viewerSees = api.collect<ProgressData>(viewerWs, SUB, { c: chest.id }, (all) => completed(all, 'from-member.jpg'));
    const editorSees = api.collect<ProgressData>(editorWs, SUB, { c: chest.id }, (all) => completed(all, 'from-member.jpg'));
    await Promise.all([api.settled(viewerWs), api.settled(editorWs)]);

    const photo = await jpeg(40, 40, '#963');
    const ticket = (await api.must(`mutation($i: CreateUploadInput!) { createUpload(input: $i) { url headers { name value } } }`, {
      i: { guestToken, filename: 'from-guest.jpg', size: photo.length, mimeType: 'image/jpeg' },
    })).createUpload;
    const headers = Object.fromEntries((ticket.headers as { name: string; value: string }[]).map((h) => [h.name, h.value]));
    const sent = await fetch(`${server.app.url()}${ticket.url}`, { method: 'PATCH', headers: { ...headers, 'Upload-Offset': '0' }, body: photo });
    expect(((await sent.json()) as { status: string }).status).toBe('COMPLETE');
    // The guest's events are on the bus before the member's upload starts, so the viewer's stream
    // meets them first: skipping them is the filter's doing, not timing.
    await expect.poll(() => completed(editorSees.results, 'from-guest.jpg')).toBe(true);
    await api.upload(owner.token, chest.id, await jpeg(41, 41, '#369'), 'from-member.jpg', 'image/jpeg');

    const names = (all: Progress[]) => [...new Set(all.map((r) => r.data?.uploadProgress.filename))];
    expect(names(await viewerSees.done)).toEqual(['from-member.jpg']);
    expect(names(await editorSees.done)).toEqual(['from-guest.jpg', 'from-member.jpg']);
    await Promise.all([viewerWs.dispose(), editorWs.dispose()]);
  });
});
