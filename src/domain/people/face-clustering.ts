import { randomUUID } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import { type DetectedFace, faceDistance, SAME_PERSON_DISTANCE } from '../../ai/local/faces.js';
import type { FaceBox } from '../../db/entities/face.types.js';
import { pgArray } from '../batch.js';

/**
 * Grouping faces into people, incrementally, within one chest: each new face joins the person
 * whose nearest face is closest to it, if that is within SAME_PERSON_DISTANCE, or starts a new
 * unnamed person. Faces of one chest are never compared with another chest's.
 *
 * Re-running on a photo replaces its machine-placed faces and keeps what people decided: a face
 * a person moved (or took out of every person) stays as it is, and a new detection on the same
 * spot is dropped. A machine-placed face found again on the same spot keeps its person, so
 * re-running never scatters a named person.
 */

/** Two boxes this much overlapping (intersection over union) are the same face. */
const SAME_FACE_IOU = 0.5;

/** A face the engine found, with its crop already stored. */
export interface FoundFace extends Omit<DetectedFace, 'crop'> {
  /** A fresh id, under which the crop was stored. */
  id: string;
  cropKey: string;
  /** Seconds into a film when found in a frame other than its poster (the box is that frame's); absent or null: on the picture itself. */
  atSeconds?: number | null;
  /** A film's other looks of this person (descriptors from its other frames): they join a person by the nearest of them all. */
  looks?: readonly Float32Array[];
}

export interface FaceChanges {
  /** Faces stored for the photo by this run. */
  added: number;
  /** People this run started. */
  newPeople: number;
  /** Crops no face uses any more: the caller removes them from storage once committed. */
  staleCrops: string[];
  /** People whose faces changed: their covers are current, and the empty ones are gone. */
  people: string[];
}

interface StoredFace {
  id: string;
  box: FaceBox;
  at_seconds: number | null;
  person_id: string | null;
  assigned_by_person: boolean;
  crop_key: string | null;
}

/**
 * Replaces the machine-placed faces of one photo with `found`, and places each of them. Runs in
 * the caller's transaction; faces of one chest are placed one photo at a time (a transaction
 * lock), so two photos of a new person analysed at once still make one person.
 */
export async function replaceMachineFaces(tx: EntityManager, input: { assetId: string; chestId: string; found: readonly FoundFace[] }): Promise<FaceChanges> {
  const { assetId, chestId } = input;
  await lockChestFaces(tx, chestId);
  const stored = await tx.execute<StoredFace[]>('select id, box, at_seconds, person_id, assigned_by_person, crop_key from face where asset_id = ?', [assetId]);
  const kept = stored.filter((f) => f.assigned_by_person);
  const machine = stored.filter((f) => !f.assigned_by_person);
  const staleCrops = machine.map((f) => f.crop_key).filter((k): k is string => k !== null);

  // A spot a person already decided about is theirs: the detection there only renews its crop
  // (reprocessing a photo replaces its derivatives), and is not stored as another face.
  const fresh: FoundFace[] = [];
  for (const face of input.found) {
    const decided = kept.find((k) => sameSpot(k, face));
    if (!decided) fresh.push(face);
    else if (decided.crop_key === face.cropKey) continue;
    else {
      if (decided.crop_key) staleCrops.push(decided.crop_key);
      await tx.execute('update face set crop_key = ?, updated_at = now() where id = ?', [face.cropKey, decided.id]);
      decided.crop_key = face.cropKey;
    }
  }
  const touched = new Set(machine.map((f) => f.person_id).filter((p): p is string => p !== null));
  if (machine.length) await tx.execute('delete from face where id = any(?::uuid[])', [pgArray(machine.map((f) => f.id))]);

  // One photo shows a person once: people already here are not candidates for its other faces.
  const used = new Set(kept.map((f) => f.person_id).filter((p): p is string => p !== null));
  const placed = new Map<FoundFace, string>();
  for (const face of fresh) {
    const before = machine.filter((m) => m.person_id && sameSpot(m, face)).sort((a, b) => iou(b.box, face.box) - iou(a.box, face.box))[0];
    if (before?.person_id && !used.has(before.person_id)) {
      placed.set(face, before.person_id);
      used.add(before.person_id);
    }
  }

  const unplaced = fresh.filter((f) => !placed.has(f));
  if (unplaced.length) {
    const references = await tx.execute<{ person_id: string; descriptor: Buffer }[]>(
      'select person_id, descriptor from face where chest_id = ? and person_id is not null and asset_id <> ?',
      [chestId, assetId],
    );
    // Every (face, person) pair within the threshold, nearest first; each face and person taken once.
    const pairs: { face: FoundFace; person: string; distance: number }[] = [];
    for (const face of unplaced) {
      const nearest = new Map<string, number>();
      for (const ref of references) {
        const theirs = decodeDescriptor(ref.descriptor);
        const d = Math.min(faceDistance(face.descriptor, theirs), ...(face.looks ?? []).map((look) => faceDistance(look, theirs)));
        if (d < SAME_PERSON_DISTANCE && d < (nearest.get(ref.person_id) ?? Infinity)) nearest.set(ref.person_id, d);
      }
      for (const [person, distance] of nearest) pairs.push({ face, person, distance });
    }
    pairs.sort((a, b) => a.distance - b.distance);
    for (const { face, person } of pairs) {
      if (placed.has(face) || used.has(person)) continue;
      placed.set(face, person);
      used.add(person);
    }
  }

  let newPeople = 0;
  for (const face of fresh) {
    let person = placed.get(face);
    if (!person) {
      person = randomUUID();
      await tx.execute('insert into person (id, created_at, updated_at, chest_id, name, hidden, cover_face_id) values (?, now(), now(), ?, null, false, ?)', [person, chestId, face.id]);
      newPeople++;
    }
    touched.add(person);
    await tx.execute(
      `insert into face (id, created_at, updated_at, asset_id, chest_id, person_id, box, at_seconds, score, descriptor, assigned_by_person, crop_key)
       values (?, now(), now(), ?, ?, ?, ?::jsonb, ?, ?, ?, false, ?)`,
      [face.id, assetId, chestId, person, JSON.stringify(roundBox(face.box)), face.atSeconds ?? null, face.score, encodeDescriptor(face.descriptor), face.cropKey],
    );
  }
  const people = [...touched];
  await tidyPeople(tx, people);
  return { added: fresh.length, newPeople, staleCrops, people };
}

/**
 * The chest's faces are placed (and decided about, see captions.ts) one transaction at a time:
 * held until the caller's transaction ends.
 */
export async function lockChestFaces(tx: EntityManager, chestId: string): Promise<void> {
  await tx.execute('select pg_advisory_xact_lock(hashtextextended(?, 0))', [`faces:${chestId}`]);
}

/**
 * After faces moved: people left with no face are removed (nothing could ever join them again),
 * and everyone else's cover is one of their own faces (the detector's surest, unless the cover
 * is still theirs).
 */
export async function tidyPeople(tx: EntityManager, personIds: readonly string[]): Promise<void> {
  if (personIds.length === 0) return;
  const ids = pgArray(personIds);
  await tx.execute('delete from person p where p.id = any(?::uuid[]) and not exists (select 1 from face f where f.person_id = p.id)', [ids]);
  await tx.execute(
    `update person p set cover_face_id = (select f.id from face f where f.person_id = p.id order by f.score desc, f.id limit 1), updated_at = now()
     where p.id = any(?::uuid[]) and (p.cover_face_id is null or not exists (select 1 from face f where f.id = p.cover_face_id and f.person_id = p.id))`,
    [ids],
  );
}

/** Descriptors are stored as 128 little-endian float32 (512 bytes). */
export function encodeDescriptor(descriptor: Float32Array): Buffer {
  const out = Buffer.alloc(descriptor.length * 4);
  for (let i = 0; i < descriptor.length; i++) out.writeFloatLE(descriptor[i]!, i * 4);
  return out;
}

export function decodeDescriptor(bytes: Buffer): Float32Array {
  const out = new Float32Array(bytes.length / 4);
  for (let i = 0; i < out.length; i++) out[i] = bytes.readFloatLE(i * 4);
  return out;
}

/** One face seen again: the same frame of the picture (a film's are seconds apart), boxes mostly overlapping. */
const sameSpot = (stored: StoredFace, face: FoundFace): boolean => sameFrame(stored.at_seconds, face.atSeconds ?? null) && iou(stored.box, face.box) >= SAME_FACE_IOU;
/** Stored as `real`: a frame's time comes back to within a millisecond. */
const sameFrame = (a: number | null, b: number | null): boolean => (a === null || b === null ? a === b : Math.abs(a - b) < 0.001);

/** Intersection over union of two relative boxes. */
export function iou(a: FaceBox, b: FaceBox): number {
  const w = Math.min(a.x + a.width, b.x + b.width) - Math.max(a.x, b.x);
  const h = Math.min(a.y + a.height, b.y + b.height) - Math.max(a.y, b.y);
  if (w <= 0 || h <= 0) return 0;
  const inter = w * h;
  return inter / (a.width * a.height + b.width * b.height - inter);
}

const round4 = (n: number) => Math.round(n * 10_000) / 10_000;
const roundBox = (b: FaceBox): FaceBox => ({ x: round4(b.x), y: round4(b.y), width: round4(b.width), height: round4(b.height) });
