/**
 * The app for bench/fanout-10k.ts, in its own process: the served mode (a fresh PostgreSQL
 * database, the LISTEN/NOTIFY bus), an owner, a private chest with one memory and a view link.
 * Driven over IPC: `emit` (one ASSET_PROCESSING event through emitChestEvent, as the worker
 * records and publishes it; answers its seq and the time just before), `memory`, `profile`
 * (start/stop a CPU profile of this process), `stop`.
 */
import 'reflect-metadata';
import { writeFile } from 'node:fs/promises';
import { Session } from 'node:inspector/promises';
import { Chest } from '../../src/db/entities/index.js';
import { ChestEventKind, ProcessingStatus } from '../../src/db/enums.js';
import { emitChestEvent } from '../../src/domain/events/chest-events.service.js';
import { subscriptionStats } from '../../src/graphql/shared-execution.js';
import { makeAsset } from '../../test/support/factories.js';
import { startTestServer } from '../../test/support/server.js';
import { memory, now } from './clock.js';
import { ownerWithChest } from './owner-chest.js';

const send = (m: unknown) => process.send!(m);
const before = memory(true);
const server = await startTestServer();
const url = server.app.url();

const { gql, token, chestId } = await ownerWithChest(url, 'fanout-owner@example.test');
const { createShareLink } = await gql<{ createShareLink: { token: string } }>(`mutation($c: ID!) { createShareLink(chestId: $c) { token } }`, { c: chestId }, token);
const em = server.database.orm.em.fork();
const asset = await makeAsset(em, await em.findOneOrFail(Chest, { id: chestId }));

let percent = 0;
let session: Session | null = null;
process.on('message', async (m: { cmd: string; collect?: boolean; file?: string }) => {
  if (m.cmd === 'emit') {
    const t0 = now();
    const { seq } = await emitChestEvent(server.database.orm.em.fork(), server.app.services.events, {
      chestId,
      kind: ChestEventKind.ASSET_PROCESSING,
      assetId: asset.id,
      data: { stage: 'thumbnails', percent: (percent = (percent + 1) % 100), status: ProcessingStatus.PROCESSING, error: null },
    });
    send({ cmd: 'emitted', seq, t0, t1: now() });
  } else if (m.cmd === 'memory') {
    send({ cmd: 'memory', memory: memory(m.collect ?? true), stats: { ...subscriptionStats } });
  } else if (m.cmd === 'profile-start') {
    session = new Session();
    session.connect();
    await session.post('Profiler.enable');
    await session.post('Profiler.setSamplingInterval', { interval: 200 });
    await session.post('Profiler.start');
    send({ cmd: 'profiling' });
  } else if (m.cmd === 'profile-stop') {
    const { profile } = await session!.post('Profiler.stop');
    await writeFile(m.file!, JSON.stringify(profile));
    session!.disconnect();
    send({ cmd: 'profiled', file: m.file });
  } else if (m.cmd === 'heap-snapshot') {
    const { writeHeapSnapshot } = await import('node:v8');
    send({ cmd: 'heap-snapshot', file: writeHeapSnapshot(m.file) });
  } else if (m.cmd === 'stop') {
    await server.stop();
    process.exit(0);
  }
});
send({ cmd: 'ready', url: `${url.replace(/^http/, 'ws')}/graphql`, token, shareToken: createShareLink.token, chestId, assetId: asset.id, memory: memory(true), before });
