import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { ObjectExistsError } from '../../src/storage/storage.port.js';
import { createStorage } from '../../src/storage/storage.registry.js';
import { readAll, storageContract } from './storage.contract.js';

storageContract('memory', async () => ({ storage: await createStorage({ kind: 'memory' }), cleanup: async () => undefined }));

describe('memory storage specifics', () => {
  it('lets exactly one of concurrent puts of a key win', async () => {
    const storage = await createStorage({ kind: 'memory' });
    const key = 'chests/c/originals/race';
    const results = await Promise.allSettled(['first', 'second', 'third'].map((text) => storage.put(key, Readable.from([Buffer.from(text)]))));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    for (const r of results.filter((r) => r.status === 'rejected')) expect((r as PromiseRejectedResult).reason).toBeInstanceOf(ObjectExistsError);
    expect(['first', 'second', 'third']).toContain((await readAll(await storage.get(key))).toString());
  });

  it('keeps each backend its own: two stores share nothing', async () => {
    const [a, b] = [await createStorage({ kind: 'memory' }), await createStorage({ kind: 'memory' })];
    await a.put('x/1', Readable.from([Buffer.from('a')]));
    expect(await b.stat('x/1')).toBeNull();
  });
});
