import type { HttpApp } from '../src/server.js';
import type { TestDatabase } from './support/db.js';
import { startTestServer, type TestServer } from './support/server.js';
import { createHash } from 'node:crypto';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Asset, Chest, Upload } from '../src/db/entities/index.js';
import { ChestRole } from '../src/db/enums.js';
import { addMember, makeAccount, makeChest } from './support/factories.js';
import { jpeg, pdf, wav } from './support/media.js';
import { type StorageEnv, STORAGE_ENVS, startStorageEnv } from './support/storage.js';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe.each(STORAGE_ENVS)('uploads and downloads over HTTP on %s storage', (storageName) => {
  let server: TestServer;
  let db: TestDatabase;
  let app: HttpApp;
  let storageEnv: StorageEnv;
  let owner: { token: string; account: any }, viewer: { token: string }, stranger: { token: string };
  let chestId: string;

  beforeAll(async () => {
    storageEnv = await startStorageEnv(storageName);
    server = await startTestServer({ MAX_IMAGE_MB: '1', ...storageEnv.env });
    ({ db, app } = server);
    const em = db.orm.em.fork();
    owner = await makeAccount(em);
    viewer = await makeAccount(em);
    stranger = await makeAccount(em);
    const chest = await makeChest(em, { personName: 'Uploads' }, owner.account);
    await addMember(em, chest, (viewer as any).account, ChestRole.VIEWER);
    chestId = chest.id;
  });
  afterAll(async () => {
    await server?.stop();
    await storageEnv?.stop();
  });

  const ok = (r: { data?: any; errors?: any[] }) => {
    if (r.errors) throw new Error(JSON.stringify(r.errors));
    return r.data;
  };

  async function gql(query: string, variables: Record<string, unknown>, token?: string) {
    const res = await fetch(`${app.url()}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(token && { authorization: `Bearer ${token}` }) },
      body: JSON.stringify({ query, variables }),
    });
    return (await res.json()) as { data?: any; errors?: any[] };
  }

  const TICKET = `mutation($i: CreateUploadInput!) { createUpload(input: $i) { url headers { name value } upload { id status receivedBytes } } }`;

  async function ticket(input: Record<string, unknown>, token = owner.token) {
    const res = await gql(TICKET, { i: { chestId, ...input } }, token);
    if (res.errors) throw Object.assign(new Error(res.errors[0].message), { code: res.errors[0].extensions.code });
    const t = res.data.createUpload;
    const headers = Object.fromEntries(t.headers.map((h: any) => [h.name, h.value]));
    return { url: `${app.url()}${t.url}`, headers, id: t.upload.id as string };
  }

  async function patch(t: { url: string; headers: Record<string, string> }, offset: number, body: Buffer) {
    const res = await fetch(t.url, { method: 'PATCH', headers: { ...t.headers, 'Upload-Offset': String(offset) }, body });
    return { status: res.status, offset: res.headers.get('upload-offset'), body: (await res.json()) as any };
  }

  async function upload(bytes: Buffer, mimeType: string, filename = 'file', extra: Record<string, unknown> = {}) {
    const t = await ticket({ filename, size: bytes.length, mimeType, ...extra });
    return { t, res: await patch(t, 0, bytes) };
  }

  it('stores a photo, creates the memory, and serves the original to members with ranges', async () => {
    const photo = await jpeg();
    const { res } = await upload(photo, 'image/jpeg', 'Lake\u202E.jpg');
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ status: 'COMPLETE', offset: photo.length, duplicate: false });
    const asset = await db.orm.em.fork().findOneOrFail(Asset, res.body.assetId);
    expect(asset).toMatchObject({ size: photo.length, sha256: sha(photo), mimeType: 'image/jpeg', fileType: 'IMAGE', status: 'PENDING', filename: 'Lake.jpg' });
    expect(await app.storage.stat(asset.storageKey)).toMatchObject({ size: photo.length });

    const q = await gql(`query($id: ID!) { asset(id: $id) { originalUrl } }`, { id: asset.id }, owner.token);
    const url = new URL(q.data.asset.originalUrl, app.url());
    const full = await fetch(url);
    expect(full.status).toBe(200);
    expect(sha(Buffer.from(await full.arrayBuffer()))).toBe(sha(photo));
    const part = await fetch(url, { headers: { range: 'bytes=2-9' } });
    expect(part.status).toBe(206);
    expect(Buffer.from(await part.arrayBuffer())).toEqual(photo.subarray(2, 10));
    if (storageName === 'filesystem') {
      expect(full.headers.get('x-content-type-options')).toBe('nosniff');
      expect(full.headers.get('content-disposition')).toContain("filename*=UTF-8''Lake.jpg");
    }
  });

  it('resumes an interrupted upload from the last stored byte and stores exactly the bytes sent', async () => {
    const audio = wav(10 * 1024 * 1024); // 20 MiB
    const t = await ticket({ filename: 'voice.wav', size: audio.length, mimeType: 'audio/wav' });
    // Send 13 MiB, then drop the connection.
    await new Promise<void>((resolve) => {
      const req = request(t.url, { method: 'PATCH', headers: { ...t.headers, 'Upload-Offset': '0', 'Content-Length': String(audio.length) } });
      req.on('error', () => resolve());
      req.write(audio.subarray(0, 13 * 1024 * 1024), () => setTimeout(() => {
        req.destroy();
        resolve();
      }, 300));
    });
    let offset = 0;
    for (let i = 0; i < 50 && offset === 0; i++) {
      await new Promise((r) => setTimeout(r, 100));
      const head = await fetch(t.url, { method: 'HEAD', headers: t.headers });
      offset = Number(head.headers.get('upload-offset'));
    }
    expect(offset).toBe(8 * 1024 * 1024); // the one complete part survived
    const wrong = await patch(t, 0, audio.subarray(0, 10));
    expect(wrong.status).toBe(409);
    expect(wrong.offset).toBe(String(offset));
    const done = await patch(t, offset, audio.subarray(offset));
    expect(done.body.status).toBe('COMPLETE');
    const asset = await db.orm.em.fork().findOneOrFail(Asset, done.body.assetId);
    expect(asset.sha256).toBe(sha(audio));
    const stored = await app.storage.get(asset.storageKey);
    const h = createHash('sha256');
    for await (const c of stored) h.update(c as Buffer);
    expect(h.digest('hex')).toBe(sha(audio));
  });

  it.each([
    ['an SVG', Buffer.from('<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'), 'image/svg+xml'],
    ['an executable posing as a photo', Buffer.concat([Buffer.from('MZ'), Buffer.alloc(300)]), 'image/jpeg'],
    ['a PDF posing as a photo', pdf(), 'image/jpeg'],
    ['HTML posing as text', Buffer.from('<html><script>x()</script></html>'), 'text/plain'],
  ])('refuses %s: 415, nothing kept', async (_name, bytes, mime) => {
    const before = await db.orm.em.fork().count(Asset, {});
    const { t, res } = await upload(bytes, mime);
    expect(res.status).toBe(415);
    expect(res.body.errors[0].extensions.code).toBe('UNSUPPORTED_FILE_TYPE');
    expect(await db.orm.em.fork().count(Asset, {})).toBe(before);
    expect((await db.orm.em.fork().findOneOrFail(Upload, t.id)).status).toBe('FAILED');
    const originals = [];
    for await (const o of app.storage.list(`chests/${chestId}/originals/`)) originals.push(o);
    expect(originals.length).toBe(before);
  });

  it('enforces declared and per-kind sizes', async () => {
    await expect(ticket({ filename: 'big.jpg', size: 2 * 1024 * 1024, mimeType: 'image/jpeg' })).rejects.toMatchObject({ code: 'PAYLOAD_TOO_LARGE' });
    const photo = await jpeg(32, 32, '#123');
    const t = await ticket({ filename: 'short.jpg', size: photo.length - 10, mimeType: 'image/jpeg' });
    const res = await patch(t, 0, photo);
    expect(res.status).toBe(413);
    expect(res.body.errors[0].extensions.code).toBe('PAYLOAD_TOO_LARGE');
  });

  it('reports the same bytes again as a duplicate instead of storing them twice', async () => {
    const photo = await jpeg(40, 40, '#fa0');
    const first = (await upload(photo, 'image/jpeg', 'a.jpg')).res.body;
    const second = (await upload(photo, 'image/jpeg', 'b.jpg')).res.body;
    expect(second).toMatchObject({ status: 'COMPLETE', duplicate: true, assetId: first.assetId });
    expect(await db.orm.em.fork().count(Asset, { sha256: sha(photo) })).toBe(1);
  });

  it('checks the SHA-256 a client gives', async () => {
    const photo = await jpeg(20, 20, '#0f0');
    const { res } = await upload(photo, 'image/jpeg', 'x.jpg', { sha256: 'ab'.repeat(32) });
    expect(res.status).toBe(400);
    expect(res.body.errors[0].extensions).toEqual({ code: 'BAD_USER_INPUT', field: 'sha256' });
    expect(await db.orm.em.fork().count(Asset, { sha256: sha(photo) })).toBe(0);
  });

  it('refuses unknown, foreign and expired tickets', async () => {
    const photo = await jpeg(10, 10, '#f0f');
    const a = await ticket({ filename: 'a.jpg', size: photo.length, mimeType: 'image/jpeg' });
    const b = await ticket({ filename: 'b.jpg', size: photo.length, mimeType: 'image/jpeg' });
    expect((await patch({ url: a.url, headers: b.headers }, 0, photo)).status).toBe(404);
    expect((await patch({ url: a.url, headers: { ...a.headers, Authorization: 'Upload nope' } }, 0, photo)).status).toBe(404);
    await db.orm.em.fork().nativeUpdate(Upload, { id: a.id }, { expiresAt: new Date(Date.now() - 1000) });
    expect((await patch(a, 0, photo)).status).toBe(404);
  });

  it('lets editors and owners upload; viewers are FORBIDDEN and strangers NOT_FOUND', async () => {
    await expect(ticket({ filename: 'v.jpg', size: 10, mimeType: 'image/jpeg' }, viewer.token)).rejects.toMatchObject({ code: 'FORBIDDEN' });
    await expect(ticket({ filename: 's.jpg', size: 10, mimeType: 'image/jpeg' }, stranger.token)).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it('lets a guest attach memories to their contribution; they stay hidden until an owner approves', async () => {
    ok(await gql(`mutation($c: ID!) { updateChest(id: $c, input: { allowContributions: true }) { id } }`, { c: chestId }, owner.token));
    const link = (await gql(`mutation($c: ID!) { createContributionLink(chestId: $c) { token } }`, { c: chestId }, owner.token)).data.createContributionLink.token;
    const sent = (await gql(`mutation($t: String!) { submitContribution(token: $t, input: { contributorName: "Ann" }) { guestToken contribution { id } } }`, { t: link }))
      .data.submitContribution;
    const photo = await jpeg(33, 33, '#f80');
    const res = await gql(TICKET, { i: { guestToken: sent.guestToken, filename: 'from-ann.jpg', size: photo.length, mimeType: 'image/jpeg' } });
    const t = res.data.createUpload;
    const done = await patch({ url: `${app.url()}${t.url}`, headers: Object.fromEntries(t.headers.map((h: any) => [h.name, h.value])) }, 0, photo);
    expect(done.body.status).toBe('COMPLETE');
    const count = async () =>
      (await gql(`query($c: ID!) { chest(id: $c) { assets(first: 100) { edges { node { id } } } } }`, { c: chestId }, owner.token)).data.chest.assets.edges.map(
        (e: any) => e.node.id,
      );
    expect(await count()).not.toContain(done.body.assetId);
    ok(await gql(`mutation($id: ID!) { approveContribution(id: $id) { status } }`, { id: sent.contribution.id }, owner.token));
    expect(await count()).toContain(done.body.assetId);
    // A reviewed contribution takes no more files.
    const late = await gql(TICKET, { i: { guestToken: sent.guestToken, filename: 'late.jpg', size: 10, mimeType: 'image/jpeg' } });
    expect(late.errors?.[0].extensions.code).toBe('CONFLICT');
  });

  it('shows members every upload into the chest live; others cannot watch', async () => {
    const ws = (token: string) =>
      createClient({ url: app.url().replace(/^http/, 'ws') + '/graphql', webSocketImpl: WebSocket, connectionParams: { authorization: `Bearer ${token}` }, retryAttempts: 0 });
    const watcher = ws(viewer.token);
    const events: any[] = [];
    const SUB = `subscription($c: ID!) { uploadProgress(chestId: $c) { uploadId filename bytesReceived totalBytes status } }`;
    const done = new Promise<void>((resolve, reject) => {
      watcher.subscribe({ query: SUB, variables: { c: chestId } }, {
        next: (r: any) => {
          if (r.errors) return reject(new Error(JSON.stringify(r.errors)));
          events.push(r.data.uploadProgress);
          if (r.data.uploadProgress.status === 'COMPLETE') resolve();
        },
        error: reject,
        complete: () => undefined,
      });
    });
    await new Promise((r) => setTimeout(r, 200)); // let the subscription start
    const audio = wav(3 * 1024 * 1024);
    const { t, res } = await upload(audio, 'audio/wav', 'watched.wav');
    expect(res.body.status).toBe('COMPLETE');
    await done;
    expect(events.every((e) => e.uploadId === t.id && e.totalBytes === audio.length && e.filename === 'watched.wav')).toBe(true);
    expect(events.at(-1)).toMatchObject({ bytesReceived: audio.length, status: 'COMPLETE' });
    await watcher.dispose();

    const outsider = ws(stranger.token);
    const refused = await new Promise<any>((resolve) => {
      outsider.subscribe({ query: SUB, variables: { c: chestId } }, { next: (r: any) => resolve(r), error: (e) => resolve({ errors: e }), complete: () => undefined });
    });
    expect(refused.errors[0].extensions.code).toBe('NOT_FOUND');
    await outsider.dispose();
  });

  it('ends a watcher\'s subscription once they are removed or signed out, before the next event', async () => {
    const em = db.orm.em.fork();
    const chest = await em.findOneOrFail(Chest, chestId);
    const [removed, signedOut] = [await makeAccount(em), await makeAccount(em)];
    await addMember(em, chest, removed.account, ChestRole.VIEWER);
    await addMember(em, chest, signedOut.account, ChestRole.VIEWER);
    const SUB = `subscription($c: ID!) { uploadProgress(chestId: $c) { filename status } }`;
    const watch = (token: string) => {
      const client = createClient({ url: app.url().replace(/^http/, 'ws') + '/graphql', webSocketImpl: WebSocket, connectionParams: { authorization: `Bearer ${token}` }, retryAttempts: 0 });
      const seen: string[] = [];
      let firstDone!: () => void;
      const first = new Promise<void>((r) => (firstDone = r));
      const ended = new Promise<void>((resolve, reject) =>
        client.subscribe({ query: SUB, variables: { c: chestId } }, {
          next: (r: any) => {
            seen.push(`${r.data.uploadProgress.filename}:${r.data.uploadProgress.status}`);
            if (r.data.uploadProgress.status === 'COMPLETE') firstDone();
          },
          error: reject,
          complete: resolve,
        }),
      );
      return { client, seen, first, ended };
    };
    const a = watch(removed.token);
    const b = watch(signedOut.token);
    await new Promise((r) => setTimeout(r, 200));
    await upload(await jpeg(21, 21, '#135'), 'image/jpeg', 'before.jpg');
    await Promise.all([a.first, b.first]);

    ok(await gql(`mutation($c: ID!, $a: ID!) { removeMember(chestId: $c, accountId: $a) }`, { c: chestId, a: removed.account.id }, owner.token));
    ok(await gql(`mutation { signOut }`, {}, signedOut.token));
    await upload(await jpeg(22, 22, '#246'), 'image/jpeg', 'after.jpg');
    await Promise.all([a.ended, b.ended]);
    for (const w of [a, b]) {
      expect(w.seen).toContain('before.jpg:COMPLETE');
      expect(w.seen.some((e) => e.startsWith('after.jpg'))).toBe(false);
      await w.client.dispose();
    }
  });

  it('gives non-members no originals, unless the view link allows them; then through a short signed link', async () => {
    const doc = (await upload(pdf(), 'application/pdf', 'letter.pdf')).res.body;
    const photo = (await upload(await jpeg(30, 30, '#abc'), 'image/jpeg', 'p.jpg')).res.body;
    const originals = async (allowOriginals: boolean) => {
      const made = await gql(`mutation($c: ID!, $o: Boolean) { createShareLink(chestId: $c, allowOriginals: $o) { token } }`, { c: chestId, o: allowOriginals }, owner.token);
      const seen = await gql(`query($t: String!) { chestByShareToken(token: $t) { assets(first: 100) { edges { node { id originalUrl } } } } }`, { t: made.data.createShareLink.token });
      return Object.fromEntries(seen.data.chestByShareToken.assets.edges.map((e: any) => [e.node.id, e.node.originalUrl]));
    };
    const plain = await originals(false);
    expect(plain[photo.assetId]).toBeNull();
    expect(plain[doc.assetId]).toBeNull();
    const urls = await originals(true);
    expect(urls[photo.assetId]).toEqual(expect.any(String));
    const res = await fetch(new URL(urls[doc.assetId], app.url()));
    expect(res.status).toBe(200);
    expect(Buffer.from(await res.arrayBuffer())).toEqual(pdf());
    if (storageName === 'filesystem') {
      expect(res.headers.get('content-disposition')).toMatch(/^attachment;/);
      const forged = new URL(urls[doc.assetId], app.url());
      forged.searchParams.set('exp', String(Math.floor(Date.now() / 1000) + 10_000));
      expect((await fetch(forged)).status).toBe(404);
    }
  });
});
