import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HttpApp } from '../src/server.js';
import type { StorageBackend } from '../src/storage/storage.port.js';
import { apiClient, eventually } from './support/client.js';
import { jpeg } from './support/media.js';
import { startEmbeddedServer, startTestServer } from './support/server.js';

/**
 * The bin over the real HTTP routes, as an app uses it: a member's upload records who added the
 * memory (so the editor may bin it), the memory's links stop working once it is binned, a live
 * subscriber hears it come back on restore, and purging leaves nothing in storage. Served mode on
 * Postgres with the worker, and the embedded default (PGlite, files under DATA_DIR).
 */
const SERVERS = [
  { name: 'served (Postgres)', start: async () => startTestServer({}, { worker: true }) },
  { name: 'embedded (PGlite)', start: async () => startEmbeddedServer() },
];

describe.each(SERVERS)('the bin over HTTP, $name', ({ start }) => {
  let server: { app: HttpApp; stop(): Promise<void> };
  let api: ReturnType<typeof apiClient>;
  let storage: StorageBackend;

  beforeAll(async () => {
    server = await start();
    api = apiClient(server.app.url());
    storage = server.app.storage;
  }, 120_000);
  afterAll(async () => {
    await server?.stop();
  });

  it("an editor's own upload can be binned by them; live readers hear it leave; its links stop working; restore is heard live; purge leaves no bytes", async () => {
    const stamp = `${Date.now()}-${Math.random().toString(36).slice(2, 8)}`;
    const emails = { owner: `o-${stamp}@example.test`, editor: `e-${stamp}@example.test`, viewer: `v-${stamp}@example.test` };
    const [owner, editor, viewer] = [await api.signUp(emails.owner), await api.signUp(emails.editor), await api.signUp(emails.viewer)];
    const chestId = await api.createChest(owner);
    for (const [email, role] of [[emails.editor, 'EDITOR'], [emails.viewer, 'VIEWER']] as const) {
      await api.must(`mutation($c: ID!, $e: String!, $r: ChestRole!) { inviteMember(chestId: $c, email: $e, role: $r) { role } }`, { c: chestId, e: email, r: role }, owner);
    }
    const bytes = await jpeg(640, 480, '#8a5');
    const assetId = await api.upload(editor, chestId, bytes, 'garden.jpg', 'image/jpeg');
    const ASSET = `query($id: ID!) { asset(id: $id) { status originalUrl thumbnails { url } } }`;
    const processed = await eventually(async () => {
      const a = (await api.must(ASSET, { id: assetId }, editor)).asset;
      return a.status === 'COMPLETE' ? a : undefined;
    });
    const original = `${server.app.url()}${processed.originalUrl}`;
    const thumbnail = `${server.app.url()}${processed.thumbnails[0].url}`;
    expect((await fetch(original)).status).toBe(200);

    const watcher = api.ws(viewer);
    try {
      const removed = api.collect(watcher, `subscription($c: ID!) { memoryRemoved(chestId: $c) { assetId } }`, { c: chestId }, (all) => all.length >= 1);
      await api.settled(watcher);
      const binned = await api.gql(`mutation($id: ID!) { deleteMemory(assetId: $id) { id } }`, { id: assetId }, editor);
      expect(binned.errors, 'the upload recorded the editor as the one who added it').toBeUndefined();
      expect((await removed.done).map((r) => r.data?.memoryRemoved.assetId), 'live readers drop it at once').toEqual([assetId]);
    } finally {
      await watcher.dispose();
    }
    expect((await fetch(original)).status, 'a link handed out before is refused').toBe(404);
    expect((await fetch(thumbnail)).status).toBe(404);
    expect((await api.gql(ASSET, { id: assetId }, viewer)).errors?.[0]?.extensions?.code).toBe('NOT_FOUND');

    const socket = api.ws(viewer);
    try {
      const live = api.collect(socket, `subscription($c: ID!) { memoryAdded(chestId: $c) { id } }`, { c: chestId }, (all) => all.length >= 1);
      await api.settled(socket);
      await api.must(`mutation($id: ID!) { restoreMemory(assetId: $id) { id } }`, { id: assetId }, editor);
      expect((await live.done).map((r) => r.data?.memoryAdded.id)).toEqual([assetId]);
    } finally {
      await socket.dispose();
    }

    await api.must(`mutation($id: ID!) { deleteMemory(assetId: $id) { id } }`, { id: assetId }, owner);
    expect((await api.gql(`mutation($id: ID!) { purgeMemory(assetId: $id) }`, { id: assetId }, editor)).errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    expect((await api.must(`mutation($id: ID!) { purgeMemory(assetId: $id) }`, { id: assetId }, owner)).purgeMemory).toBe(true);
    expect(await storage.stat(`chests/${chestId}/originals/${assetId}`)).toBeNull();
    const left: string[] = [];
    for await (const o of storage.list(`chests/${chestId}/`)) left.push(o.key);
    expect(left, 'no thumbnail or original of it is left').toEqual([]);
  });
});
