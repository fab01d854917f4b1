import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Asset, ChestEvent } from '../src/db/entities/index.js';
import { ChestEventKind, ProcessingStatus } from '../src/db/enums.js';
import { eventually } from './support/client.js';
import { makeAccount, makeChest } from './support/factories.js';
import { jpegWithExif } from './support/media.js';
import { type ProductProcess, startWorkerProcess } from './support/processes.js';
import { startTcpProxy, type TcpProxy } from './support/tcp-proxy.js';
import { openWorkerRig, type WorkerRig } from './support/worker-rig.js';

/** Jobs queued before the outage, and while it lasts; seconds it lasts (OUTAGE_DRILL_* for a longer run). */
const BEFORE = Number(process.env.OUTAGE_DRILL_JOBS_BEFORE ?? 10);
const DURING = Number(process.env.OUTAGE_DRILL_JOBS_DURING ?? 6);
const OUTAGE_SECONDS = Number(process.env.OUTAGE_DRILL_SECONDS ?? 5);

/**
 * A worker process whose database goes away (cut, then hung) for a few seconds while it has jobs
 * queued and in hand, and comes back (RELIABILITY.md "Outages"). The worker reaches Postgres through
 * a TCP proxy the test controls; the test queues more jobs over its own connection meanwhile, as
 * an API would. The worker must neither crash nor exit, and afterwards every job queued before
 * or during the outage finishes: each asset COMPLETE once, none pending or processing, the queue empty.
 */
describe('worker through a database outage', () => {
  let rig: WorkerRig;
  let proxy: TcpProxy;
  let worker: ProductProcess | undefined;

  beforeAll(async () => {
    rig = await openWorkerRig('db-outage', {
      WORKER_CONCURRENCY: '2',
      JOB_HEARTBEAT_SECONDS: '10',
      JOB_SUPERVISE_SECONDS: '1',
      JOB_RETRY_LIMIT: '10',
      JOB_RETRY_DELAY_SECONDS: '1',
      DB_ACQUIRE_TIMEOUT_SECONDS: '1',
      DB_STATEMENT_TIMEOUT_SECONDS: '2',
      EVENT_LISTENER_HEARTBEAT_SECONDS: '1',
    });
    const url = new URL(rig.db.url);
    proxy = await startTcpProxy({ host: url.hostname, port: Number(url.port || 5432) });
  });
  afterAll(async () => {
    proxy?.restore();
    await worker?.kill('SIGKILL');
    await proxy?.close();
    await rig?.close();
  });

  for (const fault of ['cut', 'hang'] as const) {
    it(`${fault}: the worker survives ${OUTAGE_SECONDS} s without its database, and every job queued before or during it finishes once`, { timeout: 240_000 }, async () => {
      const em = rig.db.orm.em.fork();
      const { account } = await makeAccount(em);
      const chest = await makeChest(em, {}, account);
      const photos = await Promise.all([0, 1, 2].map((i) => jpegWithExif({ dateTimeOriginal: `200${i}:03:04 05:06:07` }, 1200, 900, ['#b64', '#4b6', '#64b'][i])));
      const ids: string[] = [];
      for (let i = 0; i < BEFORE; i++) ids.push(await rig.store(chest, { filename: `before-${i}.jpg`, bytes: photos[i % 3]! }));

      if (!worker) {
        const via = new URL(rig.db.url);
        via.hostname = '127.0.0.1';
        via.port = String(proxy.port);
        worker = await startWorkerProcess({ ...rig.env, DATABASE_URL: via.toString() });
      }
      const w = worker;
      const logsBefore = w.logs.length;
      const countWhere = (status: ProcessingStatus[]) => rig.db.orm.em.fork().count(Asset, { chest: chest.id, status: { $in: status } });
      // The outage starts with work done and work in hand.
      await eventually(async () => ((await countWhere([ProcessingStatus.COMPLETE])) >= 2 ? true : undefined), 120_000, 100);

      proxy[fault]();
      const outageEnds = Date.now() + OUTAGE_SECONDS * 1000;
      for (let i = 0; i < DURING; i++) ids.push(await rig.store(chest, { filename: `during-${i}.jpg`, bytes: photos[i % 3]! }));
      await new Promise((r) => setTimeout(r, Math.max(0, outageEnds - Date.now())));
      const settledAtRestore = await countWhere([ProcessingStatus.COMPLETE, ProcessingStatus.FAILED]);
      proxy.restore();

      await eventually(async () => ((await countWhere([ProcessingStatus.PENDING, ProcessingStatus.PROCESSING])) === 0 ? true : undefined), 180_000, 500);
      const counts = await eventually(async () => {
        const c = await rig.queue.counts('asset.process');
        return c.created + c.retry + c.active === 0 ? c : undefined;
      }, 60_000, 500);
      // Alive all along: no exit, no restart.
      expect([w.child.exitCode, w.child.signalCode]).toEqual([null, null]);
      const assets = await rig.db.orm.em.fork().find(Asset, { chest: chest.id });
      expect(assets.map((a) => a.id).sort()).toEqual([...ids].sort());
      expect(assets.filter((a) => a.status !== ProcessingStatus.COMPLETE).map((a) => [a.filename, a.status, a.processingError])).toEqual([]);
      for (const a of assets) expect(a.thumbnails.map((t) => t.name).sort()).toEqual(['1024', '256']);
      // Each job's work applied once: one completion event per asset.
      const done = (await rig.db.orm.em.fork().find(ChestEvent, { chest: chest.id, kind: ChestEventKind.ASSET_PROCESSING })).filter((e) => e.data?.stage === 'done').map((e) => e.assetId);
      expect(done.sort()).toEqual([...ids].sort());
      const pg = await rig.db.orm.em.getConnection().getNativeClient();
      const { rows } = await pg.query<{ retried: number; retries: number }>(
        `select count(*) filter (where retry_count > 0)::int as retried, coalesce(sum(retry_count), 0)::int as retries from pgboss.job where name = 'asset.process' and data->>'assetId' = any($1)`,
        [ids],
      );
      const warnings = w.logs.slice(logsBefore).filter((l) => (l.level as number) >= 40);
      console.info(
        `[outage drill] worker, database ${fault} for ${OUTAGE_SECONDS} s: jobs before=${BEFORE} during=${DURING} settled-by-restore=${settledAtRestore} ` +
          `complete=${assets.length} lost=0 stuck=0 retried=${rows[0]!.retried} (retries ${rows[0]!.retries}) queue-left=${counts.created + counts.retry + counts.active} worker-exited=no ` +
          `warnings=${warnings.length} (${[...new Set(warnings.map((l) => l.msg))].join('; ')})`,
      );
    });
  }
});
