/**
 * pHash (DCT) of a 32×32 greyscale image: the 8×8 lowest frequencies, each bit set when above
 * their median. Resizing, recompression and small colour changes keep most bits; different photos
 * differ in about half. Written here because it is 30 lines and the npm packages for it wrap
 * their own copy of an image decoder.
 */
export const PHASH_SIZE = 32;

const COS: number[][] = Array.from({ length: 8 }, (_, u) => Array.from({ length: PHASH_SIZE }, (_, x) => Math.cos(((2 * x + 1) * u * Math.PI) / (2 * PHASH_SIZE))));

/** `grey` holds PHASH_SIZE² luminance bytes, row by row. Returns 16 hex digits. */
export function perceptualHash(grey: Uint8Array): string {
  if (grey.length !== PHASH_SIZE * PHASH_SIZE) throw new RangeError(`perceptualHash needs ${PHASH_SIZE}x${PHASH_SIZE} pixels`);
  const coeffs: number[] = [];
  for (let u = 0; u < 8; u++) {
    for (let v = 0; v < 8; v++) {
      let sum = 0;
      for (let y = 0; y < PHASH_SIZE; y++) {
        const cy = COS[u]![y]!;
        for (let x = 0; x < PHASH_SIZE; x++) sum += grey[y * PHASH_SIZE + x]! * cy * COS[v]![x]!;
      }
      coeffs.push(sum);
    }
  }
  // The DC term (overall brightness) says nothing about the picture's structure.
  const ac = coeffs.slice(1).sort((a, b) => a - b);
  const median = (ac[31]! + ac[32]!) / 2;
  let bits = 0n;
  for (let i = 0; i < 64; i++) if (coeffs[i]! > median) bits |= 1n << BigInt(63 - i);
  return bits.toString(16).padStart(16, '0');
}

/** Bits that differ between two hashes: under ~10 of 64 means "the same photo". */
export function hammingDistance(a: string, b: string): number {
  // 32 bits at a time with plain numbers: a story compares every pair of a chest's photos, and BigInt shifts were most of that.
  const width = Math.max(a.length, b.length);
  const x = a.padStart(width, '0');
  const y = b.padStart(width, '0');
  let n = 0;
  for (let end = width; end > 0; end -= 8) {
    const start = Math.max(0, end - 8);
    n += popcount32((parseInt(x.slice(start, end), 16) ^ parseInt(y.slice(start, end), 16)) >>> 0);
  }
  return n;
}

function popcount32(v: number): number {
  v -= (v >>> 1) & 0x55555555;
  v = (v & 0x33333333) + ((v >>> 2) & 0x33333333);
  return (((v + (v >>> 4)) & 0x0f0f0f0f) * 0x01010101) >>> 24;
}
