import exifr from 'exifr';
import { EXIF_OPTIONS, exifFacts, type ExifFacts } from '../../src/media/exif.js';

/** What the image pipeline's sandbox would read from a file's EXIF, read here in the test's process. */
export async function readExif(path: string): Promise<ExifFacts> {
  return exifFacts((await exifr.parse(path, EXIF_OPTIONS).catch(() => undefined)) ?? null);
}
