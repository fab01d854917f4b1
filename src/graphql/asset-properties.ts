import type { GraphQLResolveInfo } from 'graphql';
import { fieldsAt } from './selection.js';

/**
 * What every memory of a page carries whatever is asked: what the cursor, the access and bin
 * decisions and the neutral file name read (small scalars).
 */
const ALWAYS = ['id', 'chest', 'contribution', 'addedBy', 'deletedBy', 'fileType', 'mimeType', 'status', 'createdAt', 'updatedAt', 'dateTaken', 'deletedAt', 'approvedAt', 'processedAt'];

/**
 * The Asset properties each field reads beyond ALWAYS, checked against its resolver
 * (asset.resolver.ts, domain/asset/download.ts, domain/people/redaction.ts): thumbnails and
 * placeholder read the blurred copies for people outside the family. A field not listed here
 * (previewUrl reads a letter's text, faces and contributors their own loaders, ...) makes the
 * page read whole rows, so a new field is safe before it is listed.
 */
export const READS: Readonly<Record<string, readonly string[]>> = {
  id: [],
  fileType: [],
  mimeType: [],
  status: [],
  createdAt: [],
  updatedAt: [],
  dateTaken: [],
  deletedAt: [],
  approvedAt: [],
  processedAt: [],
  filename: ['filename'],
  size: ['size'],
  sha256: ['sha256'],
  progress: ['progress'],
  processingStage: ['processingStage'],
  processingError: ['processingError'],
  caption: ['caption'],
  place: ['place'],
  width: ['width'],
  height: ['height'],
  durationSeconds: ['durationSeconds'],
  perceptualHash: ['perceptualHash'],
  tags: ['tags'],
  location: ['location'],
  thumbnails: ['thumbnails', 'redaction'],
  placeholder: ['placeholder', 'redaction'],
};

/**
 * The properties a page of memories must read for the nodes this selection asks at `path`
 * (sorted), or null when a field asked there is not in READS: then the page reads whole rows.
 * A page of 100 memories with 16 columns instead of 36 cost the driver about a third less CPU
 * (issue 14). Never an access decision: only what is loaded.
 */
export function assetPropertiesFor(info: GraphQLResolveInfo, path: readonly string[]): string[] | null {
  return assetPropertiesOf(fieldsAt(info, path));
}

/** assetPropertiesFor, given the field names asked of each memory. */
export function assetPropertiesOf(fields: Iterable<string>): string[] | null {
  const wanted = new Set(ALWAYS);
  for (const field of fields) {
    const reads = READS[field];
    if (!reads) return null;
    for (const property of reads) wanted.add(property);
  }
  return [...wanted].sort();
}
