import { Readable } from 'node:stream';
import type { EntityManager } from '@mikro-orm/postgresql';
import express from 'express';
import { pino } from 'pino';
import sharp from 'sharp';
import type { MikroORM } from '@mikro-orm/postgresql';
import { type Asset, type Chest, Face, Person } from '../../src/db/entities/index.js';
import type { FaceBox } from '../../src/db/entities/face.types.js';
import { faceCropName } from '../../src/domain/people/faces.step.js';
import { filesRouter } from '../../src/http/files.routes.js';
import type { StorageBackend } from '../../src/storage/storage.port.js';

/** Small builders for people and faces (the face engine's own tests make real ones). */

export async function makePerson(em: EntityManager, chest: Chest, over: Partial<Person> = {}): Promise<Person> {
  const person = em.create(Person, { chest, ...over });
  await em.flush();
  return person;
}

let n = 0;
/**
 * A face on `asset`, with a descriptor of its own (a unit vector along one axis, so no two test
 * faces are alike) and, when `storage` is given, a crop stored as the AI step stores it.
 */
export async function makeFace(
  em: EntityManager,
  asset: Asset,
  person: Person | null,
  { box = { x: 0.4, y: 0.3, width: 0.2, height: 0.25 }, storage, assignedByPerson = false }: { box?: FaceBox; storage?: StorageBackend; assignedByPerson?: boolean } = {},
): Promise<Face> {
  const descriptor = Buffer.alloc(512);
  descriptor.writeFloatLE(1, (n++ % 128) * 4);
  const face = em.create(Face, { asset, chest: asset.chest, person, box, score: 0.9, descriptor, assignedByPerson });
  if (storage) {
    const key = `chests/${asset.chest.id}/derivatives/${asset.id}/${faceCropName(face.id)}`;
    const crop = await sharp({ create: { width: 160, height: 160, channels: 3, background: '#c8a080' } }).webp().toBuffer();
    await storage.put(key, Readable.from([crop]));
    face.cropKey = key;
  }
  await em.flush();
  if (person && !person.coverFaceId) {
    person.coverFaceId = face.id;
    await em.flush();
  }
  return face;
}

/** GET /files served on loopback, as the API serves it: for fetching the links an answer holds. */
export async function filesServer(orm: MikroORM, storage: StorageBackend, secret = 'test-secret-key') {
  const app = express().use(filesRouter(orm, storage, secret, pino({ level: 'silent' })));
  const server = await new Promise<import('node:http').Server>((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  const { port } = server.address() as { port: number };
  return {
    async get(path: string): Promise<{ status: number; type: string | null; bytes: Buffer }> {
      const res = await fetch(`http://127.0.0.1:${port}${path}`);
      return { status: res.status, type: res.headers.get('content-type'), bytes: Buffer.from(await res.arrayBuffer()) };
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
