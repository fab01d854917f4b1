import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Chest, ChestExport } from '../../src/db/entities/index.js';
import { createStorage } from '../../src/storage/storage.registry.js';
import type { StorageBackend } from '../../src/storage/storage.port.js';
import { apiClient, type GqlResponse } from '../support/client.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { seedChest } from './seed.js';

/**
 * An archive that cannot be written (an original missing from storage) ends FAILED with a reason
 * for people, heard over exportReady, with no download link and no object left in storage.
 */
describe('an export that cannot be written', () => {
  let server: TestServer;
  let storage: StorageBackend;
  let api: ReturnType<typeof apiClient>;
  let owner: string;
  let chestId: string;

  beforeAll(async () => {
    // No retries: the attempt's failure goes straight to the dead-letter step.
    server = await startTestServer({ SWEEP_INTERVAL_MINUTES: '0', JOB_RETRY_LIMIT: '0' }, { worker: true });
    storage = await createStorage(server.config.storage);
    api = apiClient(server.app.url());
    owner = await api.signUp('failing@example.com');
    chestId = await api.createChest(owner, 'Rose Ellis');
    const em = server.db.orm.em.fork();
    const seeded = await seedChest(em, storage, await em.findOneOrFail(Chest, { id: chestId }));
    await storage.delete(seeded.document.storageKey);
  }, 120_000);
  afterAll(async () => {
    await server?.stop();
  });

  it('is FAILED with a reason over exportReady, without a link or an object', async () => {
    const ws = api.ws(owner);
    try {
      const ready = api.collect(ws, `subscription($c: ID!) { exportReady(chestId: $c) { id status error downloadUrl } }`, { c: chestId }, (all) => all.length >= 1);
      await api.settled(ws);
      const { exportChest } = await api.must(`mutation($c: ID!) { exportChest(chestId: $c, input: { includeLocation: true }) { id } }`, { c: chestId }, owner);
      const [done] = (await ready.done) as GqlResponse[];
      expect(done!.data.exportReady).toEqual({ id: exportChest.id, status: 'FAILED', error: expect.stringMatching(/could not be written/), downloadUrl: null });
      const row = await server.db.orm.em.fork().findOneOrFail(ChestExport, { id: exportChest.id });
      expect(row.storageKey).toBeNull();
      const left: string[] = [];
      for await (const obj of storage.list(`exports/${chestId}/`)) left.push(obj.key);
      expect(left).toEqual([]);
    } finally {
      await ws.dispose();
    }
  }, 60_000);
});
