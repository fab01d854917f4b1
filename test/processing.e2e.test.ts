import { readFile } from 'node:fs/promises';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { eventually } from './support/client.js';
import { buildPdf, jpegWithExif } from './support/media.js';
import { makeVideo, makeVoiceMemo } from './support/media-ffmpeg.js';
import { useEmbeddedServer } from './support/server.js';

const ASSET_FIELDS = `id fileType status progress processingStage processingError width height durationSeconds dateTaken
  placeholder perceptualHash waveform mediaInfo extractedText location { latitude longitude }
  thumbnails { name width height mimeType url }`;

/**
 * The "done when", on the embedded default (PGlite, files on disk, worker in process):
 * a photo, a video, a voice memo and a PDF all end COMPLETE with their thumbnails and metadata in
 * GraphQL, and a client subscribed over graphql-ws saw every stage as it happened.
 */
describe('processing on the embedded default', () => {
  const fx = useEmbeddedServer({ JOB_RETRY_DELAY_SECONDS: '1' });

  it('processes a photo, a video, a voice memo and a PDF, live', { timeout: 180_000 }, async () => {
    const token = await fx.api.signUp('rose.family@example.com');
    const chestId = await fx.api.createChest(token);
    const files = {
      photo: { bytes: await jpegWithExif({ dateTimeOriginal: '1984:08:12 10:15:00', latitude: 51.5007, longitude: -0.1246 }, 1600, 1200), name: 'picnic.jpg', mime: 'image/jpeg' },
      video: { bytes: await readFile(await makeVideo(fx.media.path('birthday.mp4'), { seconds: 3, creationTime: '2009-05-02T14:00:00Z', location: '+40.6892-074.0445/' })), name: 'birthday.mp4', mime: 'video/mp4' },
      voice: { bytes: await readFile(await makeVoiceMemo(fx.media.path('memo.m4a'), { creationTime: '2015-12-24T18:30:00Z' })), name: 'memo.m4a', mime: 'audio/mp4' },
      letter: { bytes: buildPdf([['Dear Rose,', 'the apple tree is in bloom again.']]), name: 'letter.pdf', mime: 'application/pdf' },
    };

    const ws = fx.api.ws(token);
    const progress = fx.api.collect(
      ws,
      `subscription($c: ID!) { assetProcessing(chestId: $c) { seq stage percent status error asset { id fileType } } }`,
      { c: chestId },
      (all) => all.filter((r) => r.data?.assetProcessing.stage === 'done').length === 4,
    );
    const added = fx.api.collect(ws, `subscription($c: ID!) { memoryAdded(chestId: $c) { id filename } }`, { c: chestId }, (all) => all.length === 4);
    // The server has both subscriptions once a no-op round trip over the same socket returns.
    await new Promise<void>((resolve, reject) => ws.subscribe({ query: '{ __typename }' }, { next: () => undefined, error: reject, complete: resolve }));

    const ids: Record<string, string> = {};
    for (const [key, f] of Object.entries(files)) ids[key] = await fx.api.upload(token, chestId, f.bytes, f.name, f.mime);

    // The AI step ('analysed') follows in its own job; this test is about the media pipeline.
    const events = (await progress.done)
      .map((r) => {
        expect(r.errors).toBeUndefined();
        return r.data!.assetProcessing;
      })
      .filter((e) => e.stage !== 'analysed');
    expect((await added.done).map((r) => r.data!.memoryAdded.id).sort()).toEqual(Object.values(ids).sort());
    await ws.dispose();

    // Every asset went through its own stages, in order, from download to done.
    const stagesOf = (id: string) => events.filter((e) => e.asset.id === id).map((e) => e.stage);
    expect(stagesOf(ids.photo!)).toEqual(['download', 'decode', 'thumbnails', 'fingerprints', 'fingerprints', 'done']);
    expect(stagesOf(ids.video!)).toEqual(expect.arrayContaining(['download', 'probe', 'poster', 'thumbnails', 'done']));
    expect(stagesOf(ids.voice!)).toEqual(expect.arrayContaining(['download', 'probe', 'waveform', 'done']));
    expect(stagesOf(ids.letter!)).toEqual(expect.arrayContaining(['download', 'extract', 'done']));
    for (const id of Object.values(ids)) {
      const mine = events.filter((e) => e.asset.id === id);
      expect(mine.map((e) => e.percent)).toEqual([...mine.map((e) => e.percent)].sort((a, b) => a - b));
      expect(mine.at(-1)).toMatchObject({ stage: 'done', percent: 100, status: 'COMPLETE', error: null });
    }
    const seqs = events.map((e) => e.seq);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));

    // Everything the pipelines learned is in GraphQL.
    const { chest } = await fx.api.must(`query($c: ID!) { chest(id: $c) { assets(first: 10) { edges { node { ${ASSET_FIELDS} } } } } }`, { c: chestId }, token);
    const byId = new Map(chest.assets.edges.map((e: any) => [e.node.id, e.node]));
    const photo: any = byId.get(ids.photo);
    expect(photo).toMatchObject({ status: 'COMPLETE', progress: 100, width: 1600, height: 1200, dateTaken: '1984-08-12T10:15:00.000Z', processingError: null });
    expect(photo.location.latitude).toBeCloseTo(51.5007, 3);
    expect(photo.thumbnails.map((t: any) => [t.name, t.width, t.height])).toEqual([
      ['1024', 1024, 768],
      ['256', 256, 192],
    ]);
    expect(photo.placeholder).toBeTruthy();
    expect(photo.perceptualHash).toMatch(/^[0-9a-f]{16}$/);
    const video: any = byId.get(ids.video);
    expect(video).toMatchObject({ status: 'COMPLETE', width: 320, height: 240, dateTaken: '2009-05-02T14:00:00.000Z' });
    expect(video.durationSeconds).toBeCloseTo(3, 0);
    expect(video.location.latitude).toBeCloseTo(40.6892, 3);
    expect(video.thumbnails.map((t: any) => t.name).sort()).toEqual(['poster-1024', 'poster-256']);
    expect(video.mediaInfo.hasAudio).toBe(true);
    const voice: any = byId.get(ids.voice);
    expect(voice).toMatchObject({ status: 'COMPLETE', dateTaken: '2015-12-24T18:30:00.000Z' });
    expect(voice.waveform).toHaveLength(200);
    expect(Math.max(...voice.waveform)).toBeGreaterThan(0.5);
    const letter: any = byId.get(ids.letter);
    expect(letter).toMatchObject({ status: 'COMPLETE' });
    expect(letter.extractedText).toContain('the apple tree is in bloom again');
    expect(letter.mediaInfo.pageCount).toBe(1);

    // Thumbnail links serve the WebP bytes.
    const thumb = photo.thumbnails.find((t: any) => t.name === '256');
    const res = await fetch(new URL(thumb.url, fx.server.app.url()));
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('image/webp');
    expect(await sharp(Buffer.from(await res.arrayBuffer())).metadata()).toMatchObject({ format: 'webp', width: 256, height: 192 });

    // A client that was away catches up from any point with chestEvents.
    const all = await fx.api.must(`query($c: ID!) { chestEvents(chestId: $c, since: 0, first: 100) { lastSeq hasMore events { seq kind asset { id } processing { stage status } } } }`, { c: chestId }, token);
    const kinds = all.chestEvents.events.map((e: any) => e.kind);
    expect(kinds.filter((k: string) => k === 'MEMORY_ADDED')).toHaveLength(4);
    expect(all.chestEvents.events.filter((e: any) => e.processing?.stage === 'done')).toHaveLength(4);
    expect(all.chestEvents.lastSeq).toBe(all.chestEvents.events.at(-1).seq);
    const later = await fx.api.must(`query($c: ID!, $s: SafeInt!) { chestEvents(chestId: $c, since: $s) { events { seq } } }`, { c: chestId, s: seqs[5] }, token);
    expect(later.chestEvents.events[0].seq).toBe(seqs[5]! + 1);
  });

  it('fails a damaged file with a reason, and an owner can retry it', { timeout: 60_000 }, async () => {
    const token = await fx.api.signUp('owner.retry@example.com');
    const chestId = await fx.api.createChest(token);
    const good = await jpegWithExif({}, 300, 200);
    // A valid JPEG header (so the upload is accepted as a photo) with the picture cut off.
    const damaged = Buffer.concat([good.subarray(0, 400), Buffer.alloc(2000, 0x11)]);
    const id = await fx.api.upload(token, chestId, damaged, 'torn.jpg', 'image/jpeg');
    const failed = await eventually(async () => {
      const { asset } = await fx.api.must(`query($id: ID!) { asset(id: $id) { status processingError } }`, { id }, token);
      return asset.status === 'FAILED' ? asset : undefined;
    });
    expect(failed.processingError).toMatch(/could not be read/);

    const retried = await fx.api.must(`mutation($id: ID!) { retryProcessing(assetId: $id) { status processingError } }`, { id }, token);
    expect(retried.retryProcessing).toEqual({ status: 'PENDING', processingError: null });
    const again = await fx.api.gql(`mutation($id: ID!) { retryProcessing(assetId: $id) { status } }`, { id }, token);
    expect(again.errors?.[0]?.extensions?.code).toBe('CONFLICT');
    await eventually(async () => {
      const { asset } = await fx.api.must(`query($id: ID!) { asset(id: $id) { status } }`, { id }, token);
      return asset.status === 'FAILED' ? true : undefined;
    });

    // Others: a stranger learns nothing; retry of a complete memory is a CONFLICT.
    const stranger = await fx.api.signUp('stranger@example.com');
    expect((await fx.api.gql(`mutation($id: ID!) { retryProcessing(assetId: $id) { status } }`, { id }, stranger)).errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
    const fine = await fx.api.upload(token, chestId, good, 'fine.jpg', 'image/jpeg');
    await eventually(async () => ((await fx.api.must(`query($id: ID!) { asset(id: $id) { status } }`, { id: fine }, token)).asset.status === 'COMPLETE' ? true : undefined));
    expect((await fx.api.gql(`mutation($id: ID!) { retryProcessing(assetId: $id) { status } }`, { id: fine }, token)).errors?.[0]?.extensions?.code).toBe('CONFLICT');
  });
});
