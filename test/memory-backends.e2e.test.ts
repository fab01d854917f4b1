import { describe, expect, it } from 'vitest';
import { eventually } from './support/client.js';
import { jpeg } from './support/media.js';
import { useEmbeddedServer } from './support/server.js';

/** The in-memory backends selected as a developer would (STORAGE_DRIVER, JOB_QUEUE) carry the app end to end. */
describe('embedded mode on the in-memory storage and job queue', () => {
  const fx = useEmbeddedServer({ STORAGE_DRIVER: 'memory', JOB_QUEUE: 'memory', AI_VISION: 'off' });

  it('stores an upload in memory, processes it through the memory queue, and serves the original', async () => {
    expect(fx.server.config.storage).toEqual({ kind: 'memory' });
    expect(fx.server.config.jobs.queue).toBe('memory');
    const token = await fx.api.signUp('dev@example.com');
    const chestId = await fx.api.createChest(token);
    const bytes = await jpeg(320, 240);
    const assetId = await fx.api.upload(token, chestId, bytes, 'garden.jpg', 'image/jpeg');
    const asset = await eventually(async () => {
      const { asset } = await fx.api.must(`query($id: ID!) { asset(id: $id) { status originalUrl } }`, { id: assetId }, token);
      return asset.status === 'COMPLETE' ? asset : undefined;
    }, 60_000, 200);
    const res = await fetch(new URL(asset.originalUrl, fx.server.app.url()), { headers: { authorization: `Bearer ${token}` } });
    expect(res.status).toBe(200);
    expect(Buffer.from(await res.arrayBuffer())).toEqual(bytes);
  });
});
