import { describe, expect, it } from 'vitest';
import type { Upload } from '../src/db/entities/index.js';
import { progressReporter, type UploadProgressEvent } from '../src/domain/upload/upload-progress.js';
import { topics } from '../src/events/events.port.js';
import { InProcessEventBus } from '../src/events/in-process.events.js';

describe('upload progress events', () => {
  it('publish at most once per 250 ms of a clock while bytes arrive, and always the final state', async () => {
    const bus = new InProcessEventBus();
    const upload = { id: 'u1', chest: { id: 'c1' }, filename: 'a.wav', size: 1000, receivedBytes: 0, status: 'OPEN' } as unknown as Upload;
    const seen: UploadProgressEvent[] = [];
    const sub = bus.subscribe<UploadProgressEvent>(topics.uploads('c1'));
    const reading = (async () => {
      for await (const e of sub) {
        seen.push(e);
        if (e.status === 'COMPLETE') break;
      }
    })();
    let now = 0;
    const reporter = progressReporter(bus, upload, () => now);
    // 40 chunks, 50 ms apart on the fake clock: 2 s of sending.
    for (let i = 1; i <= 40; i++) {
      now = i * 50;
      reporter.bytes(i * 25);
    }
    Object.assign(upload, { receivedBytes: 1000, status: 'COMPLETE' });
    reporter.end();
    await reading;
    // 2 s / 250 ms = 8 throttled events, plus the final one.
    expect(seen).toHaveLength(9);
    expect(seen.at(-1)).toMatchObject({ bytesReceived: 1000, totalBytes: 1000, status: 'COMPLETE', uploadId: 'u1', chestId: 'c1' });
    const sent = seen.map((e) => e.bytesReceived);
    expect([...sent].sort((a, b) => a - b)).toEqual(sent);
  });

  it('keep topics apart and stop when the subscriber leaves', async () => {
    const bus = new InProcessEventBus();
    const a = bus.subscribe<number>(topics.uploads('a'));
    const first = a.next();
    bus.publish(topics.uploads('b'), 1);
    bus.publish(topics.uploads('a'), 2);
    expect((await first).value).toBe(2);
    await a.return!();
    expect((await a.next()).done).toBe(true);
  });
});
