import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AiUnavailableError } from '../../src/ai/ai.port.js';
import type { Ai } from '../../src/ai/ai.registry.js';
import { FaceApiEngine } from '../../src/ai/local/faces.js';
import { Asset, Chest, Face, Person } from '../../src/db/entities/index.js';
import { analyseAsset } from '../../src/domain/analysis/analysis.service.js';
import { InProcessEventBus } from '../../src/events/in-process.events.js';
import type { StorageBackend } from '../../src/storage/storage.port.js';
import { createStorage } from '../../src/storage/storage.registry.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { DEMO_FACES, DEMO_PHOTOS, demoFaceCrop, demoThumbnail, photoMemory } from '../support/faces.js';
import { makeAccount, makeChest } from '../support/factories.js';

/**
 * Faces grouped into people by the AI step, on a real Postgres with the real face engine and
 * face-api's real demo photos: 22 people in six group photos, and crops of them that stand for
 * other photos of the same people.
 */

const log = pino({ level: 'silent' });

/** An AI that offers nothing: only the faces task runs. */
const noAi: Ai = {
  chain: [],
  describeImage: async () => {
    throw new AiUnavailableError('Not offered in this test');
  },
  transcribe: async () => {
    throw new AiUnavailableError('Not offered in this test');
  },
  extractText: async () => {
    throw new AiUnavailableError('Not offered in this test');
  },
  generateStory: async () => {
    throw new AiUnavailableError('Not offered in this test');
  },
  close: async () => {},
};

describe('faces grouped into people (the AI step)', () => {
  let db: TestDatabase;
  let storage: StorageBackend;
  let dir: string;
  let engine: FaceApiEngine;
  let chest: Chest;
  const em = () => db.orm.em.fork();
  const demoAssets = new Map<number, string>();

  const analyse = (assetId: string) =>
    analyseAsset({ orm: db.orm, storage, events: new InProcessEventBus(), log, ai: noAi, faces: engine }, { id: 'job', data: { assetId }, attempt: 1, signal: new AbortController().signal });

  const photo = (inChest: Chest, picture: Buffer) => photoMemory(em(), storage, inChest, picture);

  const facesOf = (assetId: string) => em().find(Face, { asset: assetId }, { orderBy: { score: 'desc' } });
  const peopleOf = (chestId: string) => em().find(Person, { chest: chestId });

  beforeAll(async () => {
    db = await createTestDatabase('postgres');
    dir = await mkdtemp(join(tmpdir(), 'dmc-people-'));
    storage = await createStorage({ kind: 'filesystem', root: dir });
    engine = new FaceApiEngine();
    const e = em();
    chest = await makeChest(e, { personName: 'Rose Ellis' }, (await makeAccount(e)).account);
    for (const n of DEMO_PHOTOS) {
      const asset = await photo(chest, await demoThumbnail(n));
      demoAssets.set(n, asset.id);
      await analyse(asset.id);
    }
  }, 300_000);
  afterAll(async () => {
    await engine?.close();
    await db?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('finds the faces of each demo photo, records the task, and makes one person of each of the 22 people', async () => {
    for (const n of DEMO_PHOTOS) {
      const id = demoAssets.get(n)!;
      const row = await em().findOneOrFail(Asset, id);
      expect(row.analyses.find((a) => a.task === 'faces')).toMatchObject({ status: 'DONE', provider: 'local', model: 'face-api-ssd-mobilenet', error: null });
      const faces = await facesOf(id);
      expect(faces, `photo ${n}`).toHaveLength(DEMO_FACES[n]);
      // Two faces of one photo are two people.
      expect(new Set(faces.map((f) => f.person?.id)).size).toBe(DEMO_FACES[n]);
      for (const f of faces) {
        expect(f.assignedByPerson).toBe(false);
        expect(f.descriptor).toHaveLength(512);
        const crop = await sharp(await readAll(storage, f.cropKey!)).metadata();
        expect(crop.format).toBe('webp');
        expect(crop.exif).toBeUndefined();
      }
    }
    const people = await peopleOf(chest.id);
    expect(people).toHaveLength(22);
    // Each person's cover is one of their own faces, and nobody is named or hidden yet.
    const faces = await em().find(Face, { chest: chest.id });
    for (const p of people) {
      expect(p).toMatchObject({ name: null, hidden: false });
      expect(faces.find((f) => f.id === p.coverFaceId)?.person?.id).toBe(p.id);
    }
  });

  it('the same person in another photo (a crop of a demo photo) ends in the same person', async () => {
    let cutAtEdge = 0;
    for (const n of [1, 4, 6]) {
      const source = (await facesOf(demoAssets.get(n)!))[0]!;
      const crop = await photo(chest, await demoFaceCrop(n, source.box));
      await analyse(crop.id);
      const found = await facesOf(crop.id);
      const own = found.find((f) => f.person?.id === source.person!.id);
      expect(own, `the face cut from photo ${n} joined its person`).toBeDefined();
      const faces = await em().find(Face, { person: source.person!.id });
      expect(new Set(faces.map((f) => f.asset.id))).toEqual(new Set([demoAssets.get(n)!, crop.id]));
      cutAtEdge += found.filter((f) => f.box.x < 0.02 || f.box.y < 0.02 || f.box.x + f.box.width > 0.98 || f.box.y + f.box.height > 0.98).length;
    }
    // Nobody new, but for a neighbour's face the crop cut in half at its edge.
    const people = await peopleOf(chest.id);
    expect(people.length).toBeGreaterThanOrEqual(22);
    expect(people.length).toBeLessThanOrEqual(22 + cutAtEdge);
  });

  it("re-running the step replaces the machine's faces and keeps people's choices", async () => {
    const assetId = demoAssets.get(2)!;
    const [a, b, c] = await facesOf(assetId);
    const elsewhere = (await facesOf(demoAssets.get(5)!))[0]!.person!.id;
    const e = em();
    // A person decided: face a is someone from photo 5 (wrongly, perhaps; it is their call), face b is nobody.
    await e.nativeUpdate(Face, { id: a!.id }, { person: elsewhere, assignedByPerson: true });
    await e.nativeUpdate(Face, { id: b!.id }, { person: null, assignedByPerson: true });
    // And a machine face where the photo has no face, with a person of its own: gone after the re-run.
    const ghost = e.create(Person, { chest: chest.id });
    e.create(Face, { asset: assetId, chest: chest.id, person: ghost, box: { x: 0.01, y: 0.9, width: 0.05, height: 0.05 }, score: 0.6, descriptor: Buffer.alloc(512) });
    await e.flush();
    const before = await peopleOf(chest.id);

    await analyse(assetId);

    const after = await facesOf(assetId);
    expect(after).toHaveLength(3);
    expect(after.find((f) => f.id === a!.id)).toMatchObject({ assignedByPerson: true, person: { id: elsewhere } });
    expect(after.find((f) => f.id === b!.id)).toMatchObject({ assignedByPerson: true, person: null });
    // The third face is the machine's again: a new row, in the person it was in.
    const third = after.find((f) => !f.assignedByPerson)!;
    expect(third.id).not.toBe(c!.id);
    expect(third.person?.id).toBe(c!.person!.id);
    // The ghost and the person it alone made are gone.
    const people = await peopleOf(chest.id);
    expect(people.map((p) => p.id)).not.toContain(ghost.id);
    expect(people).toHaveLength(before.length - 1);
    // Every face row names a crop that exists, and no crop is left without its face.
    const keys: string[] = [];
    for await (const obj of storage.list(`chests/${chest.id}/derivatives/${assetId}/`)) keys.push(obj.key);
    expect(keys.filter((k) => /\/face-/.test(k)).sort()).toEqual(after.map((f) => f.cropKey!).sort());
  });

  it('groups per chest only: the same photo in another chest makes people of its own there', async () => {
    const e = em();
    const other = await makeChest(e, { personName: 'Someone else' }, (await makeAccount(e)).account);
    const countsBefore = new Map((await peopleOf(chest.id)).map((p) => [p.id, 0]));
    const copy = await photo(other, await demoThumbnail(3));
    await analyse(copy.id);
    const faces = await facesOf(copy.id);
    expect(faces).toHaveLength(DEMO_FACES[3]);
    const theirs = await peopleOf(other.id);
    expect(theirs).toHaveLength(DEMO_FACES[3]);
    expect(faces.every((f) => theirs.some((p) => p.id === f.person?.id))).toBe(true);
    expect(faces.every((f) => f.chest.id === other.id)).toBe(true);
    // Nothing in the first chest changed.
    expect(new Set((await peopleOf(chest.id)).map((p) => p.id))).toEqual(new Set(countsBefore.keys()));
  });
});

async function readAll(storage: StorageBackend, key: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of await storage.get(key)) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}
