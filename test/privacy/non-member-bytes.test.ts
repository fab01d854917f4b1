import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import type { Client } from 'graphql-ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Asset } from '../../src/db/entities/index.js';
import { ProcessingStatus } from '../../src/db/enums.js';
import { ffprobePath } from '../../src/media/ffmpeg.js';
import { apiClient, eventually, type GqlResponse } from '../support/client.js';
import { mediaDir, type MediaDir } from '../support/media-ffmpeg.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { AUTHOR, findTraces, hasExiftool, makeTracedFiles, textTraces, type TracedFile, urlsIn } from '../support/traces.js';

/**
 * Issue 10, point 1: people outside the family get derivatives only, for every kind. Files that
 * carry a place and an author in every format the chest accepts are uploaded (one by a guest);
 * then everything a view-link holder, a public visitor and a guest can reach — every URL field
 * of every answer, chestEvents, and the websocket payloads of assetProcessing and memoryAdded — is
 * fetched, and no file and no answer may hold the place or the author. Members' originals still
 * do (so the detector is not blind), and so do a view link's once its owner allows originals.
 */

const exec = promisify(execFile);

const ASSET = `id fileType status filename mimeType mediaInfo processingError originalUrl previewUrl previewMimeType
  location { latitude longitude } thumbnails { name url mimeType }`;
const CHEST = `heroImage { ${ASSET} } assets(first: 50) { totalCount edges { node { ${ASSET} } } } summary { recentAssets { ${ASSET} } }`;
const PROCESSING = `subscription($c: ID!) { assetProcessing(chestId: $c) { stage status asset { ${ASSET} } } }`;
const ADDED = `subscription($c: ID!) { memoryAdded(chestId: $c) { ${ASSET} } }`;
const EVENTS = `query($c: ID!, $s: SafeInt!) { chestEvents(chestId: $c, since: $s, first: 100) { lastSeq hasMore events { kind asset { ${ASSET} } } } }`;

interface Reader {
  name: string;
  /** Extra request headers (a view link's token). */
  headers: Record<string, string>;
  ws: Client;
  /** The reader's live payloads, filled while the memories are processed and approved. */
  live: Array<Promise<GqlResponse[]>>;
}

describe('non-members receive no original and no trace of where or by whom, for every kind', () => {
  let server: TestServer;
  let api: ReturnType<typeof apiClient>;
  let media: MediaDir;
  let files: TracedFile[];
  let owner: string;
  let chestId: string;
  let shareToken: string;
  let guestToken: string;
  /** Asset id per file key. */
  const ids: Record<string, string> = {};
  let readers: Reader[];

  const base = () => server.app.url();
  async function gql(query: string, variables: Record<string, unknown>, headers: Record<string, string> = {}): Promise<GqlResponse> {
    const res = await fetch(`${base()}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify({ query, variables }) });
    const body = (await res.json()) as GqlResponse;
    expect(body.errors, JSON.stringify(body.errors)).toBeUndefined();
    return body;
  }

  /** Everything the reader can ask for about the chest, over HTTP. */
  async function answersFor(reader: Reader, extra: GqlResponse[] = []): Promise<GqlResponse[]> {
    const out: GqlResponse[] = [...extra];
    out.push(
      reader.headers['x-share-token']
        ? await gql(`query($t: String!) { chestByShareToken(token: $t) { ${CHEST} } }`, { t: reader.headers['x-share-token'] }, reader.headers)
        : await gql(`query($c: ID!) { chest(id: $c) { ${CHEST} } }`, { c: chestId }, reader.headers),
    );
    for (const id of Object.values(ids)) out.push(await gql(`query($id: ID!) { asset(id: $id) { ${ASSET} } }`, { id }, reader.headers));
    for (let since = 0, more = true; more; ) {
      const page = await gql(EVENTS, { c: chestId, s: since }, reader.headers);
      out.push(page);
      more = page.data!.chestEvents.hasMore;
      since = page.data!.chestEvents.lastSeq;
    }
    return out;
  }

  /** Fetches a link from an answer and returns its bytes and headers. */
  async function download(url: string, headers: Record<string, string> = {}): Promise<{ status: number; bytes: Buffer; headers: Headers }> {
    const res = await fetch(new URL(url, base()), { headers });
    return { status: res.status, bytes: Buffer.from(await res.arrayBuffer()), headers: res.headers };
  }

  beforeAll(async () => {
    if (!(await hasExiftool())) throw new Error('exiftool is needed to write GPS into test files: apt-get install -y libimage-exiftool-perl');
    server = await startTestServer({}, { worker: true });
    api = apiClient(base());
    media = await mediaDir();
    files = await makeTracedFiles(media.dir);

    owner = await api.signUp('owner.privacy@example.com');
    chestId = (await api.must(`mutation { createChest(input: { personName: "Rose Ellis", isPublic: true, allowContributions: true }) { id } }`, {}, owner)).createChest.id;
    shareToken = (await api.must(`mutation($c: ID!) { createShareLink(chestId: $c) { token } }`, { c: chestId }, owner)).createShareLink.token;
    const contributionLink = (await api.must(`mutation($c: ID!) { createContributionLink(chestId: $c) { token } }`, { c: chestId }, owner)).createContributionLink.token;
    guestToken = (await api.must(`mutation($t: String!) { submitContribution(token: $t, input: { contributorName: "A neighbour" }) { guestToken } }`, { t: contributionLink })).submitContribution.guestToken;

    // The guest sends the voice memo (the case); the owner sends everything else.
    const byGuest = files.find((f) => f.key === 'm4a')!;
    const byOwner = files.filter((f) => f !== byGuest);
    readers = [
      { name: 'view-link holder', headers: { 'x-share-token': shareToken }, ws: api.ws(undefined, shareToken), live: [] },
      { name: 'public visitor', headers: {}, ws: api.ws(), live: [] },
      { name: 'guest', headers: {}, ws: api.ws(), live: [] },
    ];
    for (const r of readers) {
      r.live.push(api.collect(r.ws, PROCESSING, { c: chestId }, (all) => all.filter((x) => x.data?.assetProcessing.stage === 'done').length === byOwner.length).done);
      r.live.push(api.collect(r.ws, ADDED, { c: chestId }, (all) => all.length === files.length).done);
      await api.settled(r.ws);
    }

    for (const f of byOwner) ids[f.key] = await api.upload(owner, chestId, f.bytes, f.filename, f.mimeType);
    const ticket = await api.must(
      `mutation($i: CreateUploadInput!) { createUpload(input: $i) { url headers { name value } } }`,
      { i: { guestToken, filename: byGuest.filename, size: byGuest.bytes.length, mimeType: byGuest.mimeType } },
    );
    const put = await fetch(`${base()}${ticket.createUpload.url}`, {
      method: 'PATCH',
      headers: Object.fromEntries(ticket.createUpload.headers.map((h: { name: string; value: string }) => [h.name, h.value])),
      body: byGuest.bytes,
    });
    ids[byGuest.key] = ((await put.json()) as { assetId: string }).assetId;

    // Processing is done for all (read from the rows: a pending contribution's memory is hidden even from asset(id)), then the owner approves.
    await eventually(async () => {
      const rows = await server.db.orm.em.fork().find(Asset, { id: { $in: Object.values(ids) } }, { fields: ['status'] });
      return rows.length === files.length && rows.every((a) => a.status === ProcessingStatus.COMPLETE) ? true : undefined;
    }, 240_000, 500);
    const contribution = await api.must(`query($g: String!) { contributionByGuestToken(guestToken: $g) { id } }`, { g: guestToken });
    await api.must(`mutation($id: ID!) { approveContribution(id: $id) { status } }`, { id: contribution.contributionByGuestToken.id }, owner);
    await api.must(`mutation($c: ID!, $i: UpdateChestInput!) { updateChest(id: $c, input: $i) { id } }`, { c: chestId, i: { heroImageId: ids.jpeg } }, owner);
  }, 300_000);

  afterAll(async () => {
    for (const r of readers ?? []) await r.ws.dispose();
    await server?.stop();
    await media?.remove();
  });

  it("the members' originals do carry the place and the author in every format (the detector sees them)", { timeout: 120_000 }, async () => {
    for (const f of files) {
      const { asset } = await api.must(`query($id: ID!) { asset(id: $id) { filename originalUrl location { latitude } } }`, { id: ids[f.key] }, owner);
      expect(asset.filename).toBe(f.filename);
      const original = await download(asset.originalUrl);
      expect(original.status).toBe(200);
      expect(original.bytes.equals(f.bytes), f.key).toBe(true);
      expect(await findTraces(original.bytes, media.dir), f.key).not.toEqual([]);
    }
  });

  it('the kind comes from the streams: a film declared as audio/mp4 is a VIDEO with a transcoded preview', { timeout: 60_000 }, async () => {
    const { asset } = await api.must(`query($id: ID!) { asset(id: $id) { fileType previewMimeType previewUrl } }`, { id: ids['mp4-as-audio'] }, owner);
    expect(asset).toMatchObject({ fileType: 'VIDEO', previewMimeType: 'video/mp4' });
    const preview = await download(asset.previewUrl);
    const path = media.path('kind-check.mp4');
    await writeFile(path, preview.bytes);
    const streams = JSON.parse((await exec(ffprobePath(), ['-v', 'error', '-print_format', 'json', '-show_streams', path])).stdout).streams as Array<{ codec_type: string; disposition?: { attached_pic?: number } }>;
    expect(streams.filter((s) => s.codec_type === 'video' && !s.disposition?.attached_pic)).toHaveLength(1);
    expect(streams.filter((s) => s.codec_type === 'audio')).toHaveLength(1);
    // Seekable, as players need: a range of the preview.
    const part = await download(asset.previewUrl, { range: 'bytes=100-199' });
    expect(part.status).toBe(206);
    expect(part.headers.get('content-range')).toBe(`bytes 100-199/${preview.bytes.length}`);
    expect(part.bytes.equals(preview.bytes.subarray(100, 200))).toBe(true);
  });

  for (const who of ['view-link holder', 'public visitor', 'guest']) {
    it(`a ${who} gets a clean copy of every memory, and nothing else`, { timeout: 180_000 }, async () => {
      const reader = readers.find((r) => r.name === who)!;
      const live = (await Promise.all(reader.live)).flat();
      const extra = who === 'guest' ? [await gql(`query($g: String!) { contributionByGuestToken(guestToken: $g) { id status message } }`, { g: guestToken })] : [];
      const answers = await answersFor(reader, [...live, ...extra]);
      for (const r of live) expect(r.errors).toBeUndefined();

      // Every memory was visible to the reader, as a copy: no original, no coordinates, no real name.
      const seen = new Map<string, any>();
      const collectAssets = (v: unknown): void => {
        if (Array.isArray(v)) v.forEach(collectAssets);
        else if (v && typeof v === 'object') {
          const o = v as Record<string, unknown>;
          if (typeof o.id === 'string' && 'originalUrl' in o) seen.set(o.id, o);
          Object.values(o).forEach(collectAssets);
        }
      };
      collectAssets(answers);
      expect([...seen.keys()].sort()).toEqual(Object.values(ids).sort());
      for (const f of files) {
        const a = seen.get(ids[f.key]!);
        expect(a.originalUrl, f.key).toBeNull();
        expect(a.location, f.key).toBeNull();
        expect(a.previewUrl, `${f.key} has a preview`).toEqual(expect.any(String));
      }
      // The websocket payloads carried the memories too (not only the HTTP answers).
      expect(live.filter((r) => r.data?.memoryAdded).map((r) => r.data!.memoryAdded.id).sort()).toEqual(Object.values(ids).sort());

      // No answer names the place or the author (file names, mediaInfo, errors, ...).
      expect(textTraces(answers)).toEqual([]);

      // Every link in every answer: served, and clean by every reader we have.
      // One fetch per file: the same link comes back in many answers, each signed afresh.
      const urls = [...new Map(urlsIn(answers).map((u) => [new URL(u, base()).pathname, u])).values()];
      expect(urls.length).toBeGreaterThanOrEqual(files.length);
      const dirty: Record<string, string[]> = {};
      for (const url of urls) {
        const got = await download(url);
        expect(got.status, url).toBe(200);
        const traces = [...(await findTraces(got.bytes, media.dir)), ...textTraces(got.headers.get('content-disposition') ?? '')];
        if (traces.length) dirty[url] = traces;
      }
      expect(dirty).toEqual({});
    });
  }

  it('a recording processed before previews existed has no link for non-members until an owner processes it again', { timeout: 120_000 }, async () => {
    const id = ids.mp3!;
    // As an asset processed by the earlier pipeline looks: complete, without a preview.
    await server.db.orm.em.fork().nativeUpdate(Asset, { id }, { preview: null });
    const ASK = `query($id: ID!) { asset(id: $id) { status previewUrl originalUrl } }`;
    expect((await gql(ASK, { id })).data!.asset).toEqual({ status: 'COMPLETE', previewUrl: null, originalUrl: null });
    const again = await api.gql(`mutation($id: ID!) { retryProcessing(assetId: $id) { status } }`, { id }, owner);
    expect(again.data?.retryProcessing.status).toBe('PENDING');
    const done = await eventually(async () => {
      const a = (await gql(ASK, { id })).data!.asset;
      return a.status === 'COMPLETE' && a.previewUrl ? a : undefined;
    }, 60_000, 300);
    expect(await findTraces((await download(done.previewUrl)).bytes, media.dir)).toEqual([]);
    // A memory that has its preview is not processed again.
    const refused = await api.gql(`mutation($id: ID!) { retryProcessing(assetId: $id) { status } }`, { id }, owner);
    expect(refused.errors?.[0]?.extensions?.code).toBe('CONFLICT');
  });

  it('a view link made with allowOriginals hands out originals and real names (and still no coordinates in answers)', { timeout: 60_000 }, async () => {
    const made = await api.must(`mutation($c: ID!) { createShareLink(chestId: $c, allowOriginals: true) { token } }`, { c: chestId }, owner);
    const links = await api.must(`query($c: ID!) { chest(id: $c) { links { shareLinkActive shareLinkAllowsOriginals } } }`, { c: chestId }, owner);
    expect(links.chest.links).toEqual({ shareLinkActive: true, shareLinkAllowsOriginals: true });
    const { chestByShareToken } = (await gql(`query($t: String!) { chestByShareToken(token: $t) { assets(first: 50) { edges { node { id filename originalUrl location { latitude } } } } } }`, { t: made.createShareLink.token })).data!;
    const byId = new Map(chestByShareToken.assets.edges.map((e: any) => [e.node.id, e.node]));
    const memo: any = byId.get(ids.m4a);
    expect(memo.filename).toContain(AUTHOR);
    expect(memo.location).toBeNull();
    const original = await download(memo.originalUrl);
    expect(await findTraces(original.bytes, media.dir)).not.toEqual([]);
    // The earlier plain link was replaced; a new plain link hands out no originals again.
    await api.must(`mutation($c: ID!) { createShareLink(chestId: $c) { token } }`, { c: chestId }, owner);
    expect((await api.must(`query($c: ID!) { chest(id: $c) { links { shareLinkAllowsOriginals } } }`, { c: chestId }, owner)).chest.links.shareLinkAllowsOriginals).toBe(false);
  });
});
