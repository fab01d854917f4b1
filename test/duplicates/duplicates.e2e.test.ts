import { describe, expect, it } from 'vitest';
import { eventually } from '../support/client.js';
import { resizedCopy, scene } from '../support/photos.js';
import { useEmbeddedServer } from '../support/server.js';

/**
 * Duplicates as a family meets them, on the embedded default (PGlite, worker in process, real
 * HTTP uploads): the owner uploads a photo, a guest sends the same file, the owner uploads a phone
 * copy of it; the worker fingerprints all three, the approval makes the guest's visible, and
 * Chest.duplicateGroups shows one group, which resolveDuplicates merges into one memory.
 */
describe('duplicates over HTTP on the embedded default', () => {
  const fx = useEmbeddedServer({ JOB_RETRY_DELAY_SECONDS: '1' });

  it('groups an owner upload, the same file from an approved guest and a resized copy; merging leaves one memory that names the guest', { timeout: 120_000 }, async () => {
    const { api } = fx;
    const token = await api.signUp('rose.duplicates@example.com');
    const chestId = await api.createChest(token);
    await api.must(`mutation($c: ID!) { updateChest(id: $c, input: { allowContributions: true }) { id } }`, { c: chestId }, token);
    const link = (await api.must(`mutation($c: ID!) { createContributionLink(chestId: $c) { token } }`, { c: chestId }, token)).createContributionLink.token;
    const sent = (await api.must(`mutation($t: String!) { submitContribution(token: $t, input: { contributorName: "Neighbour Tom" }) { guestToken contribution { id } } }`, { t: link })).submitContribution;

    const photo = await scene(7, 1600, 1200);
    const phoneCopy = await resizedCopy(photo, 800);
    const original = await api.upload(token, chestId, photo, 'pier.jpg', 'image/jpeg');
    const ticket = (
      await api.must(`mutation($i: CreateUploadInput!) { createUpload(input: $i) { url headers { name value } } }`, {
        i: { guestToken: sent.guestToken, filename: 'from-tom.jpg', size: photo.length, mimeType: 'image/jpeg' },
      })
    ).createUpload;
    const res = await fetch(`${fx.server.app.url()}${ticket.url}`, {
      method: 'PATCH',
      headers: { ...Object.fromEntries(ticket.headers.map((h: { name: string; value: string }) => [h.name, h.value])), 'Upload-Offset': '0' },
      body: photo,
    });
    const guestsCopy = ((await res.json()) as { assetId: string }).assetId;
    const resized = await api.upload(token, chestId, phoneCopy, 'pier-small.jpg', 'image/jpeg');

    // Before approval the guest's copy is nobody's duplicate: the same bytes, yet no group.
    const waiting = (await api.must(`query($c: ID!) { chest(id: $c) { duplicateGroups { edges { node { reason } } } } }`, { c: chestId }, token)).chest.duplicateGroups.edges;
    expect(waiting.filter((e: any) => e.node.reason === 'EXACT')).toEqual([]);
    await api.must(`mutation($id: ID!) { approveContribution(id: $id) { status } }`, { id: sent.contribution.id }, token);
    const all = [original, guestsCopy, resized];
    await eventually(async () => {
      const nodes = (await api.must(`query($c: ID!) { chest(id: $c) { assets(first: 10) { edges { node { id status } } } } }`, { c: chestId }, token)).chest.assets.edges;
      return nodes.length === 3 && nodes.every((e: any) => e.node.status === 'COMPLETE') ? true : undefined;
    });

    const groups = (
      await api.must(`query($c: ID!) { chest(id: $c) { duplicateGroups { edges { node { reason distance assets { id width } suggestedKeep { id } } } } } }`, { c: chestId }, token)
    ).chest.duplicateGroups.edges;
    expect(groups).toHaveLength(1);
    const group = groups[0].node;
    expect(group.reason).toBe('NEAR');
    expect(group.assets.map((a: any) => a.id)).toEqual(all);
    // The two full-size copies tie on pixels and captions: the one added first is kept.
    expect(group.suggestedKeep.id).toBe(original);

    const merged = (
      await api.must(
        `mutation($i: ResolveDuplicatesInput!) { resolveDuplicates(input: $i) { id contributors { kind name assetId } } }`,
        { i: { keepAssetId: group.suggestedKeep.id, duplicateAssetIds: [guestsCopy, resized] } },
        token,
      )
    ).resolveDuplicates;
    expect(merged.contributors).toEqual([
      { kind: 'MEMBER', name: 'rose.duplicates', assetId: original },
      { kind: 'GUEST', name: 'Neighbour Tom', assetId: guestsCopy },
      { kind: 'MEMBER', name: 'rose.duplicates', assetId: resized },
    ]);
    const after = (await api.must(`query($c: ID!) { chest(id: $c) { assets { totalCount } duplicateGroups { edges { node { reason } } } } }`, { c: chestId }, token)).chest;
    expect(after).toEqual({ assets: { totalCount: 1 }, duplicateGroups: { edges: [] } });
  });
});
