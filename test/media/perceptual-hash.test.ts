import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { hammingDistance } from '../../src/media/perceptual-hash.js';

/** Bits set in each hex digit: the reference the fast count is checked against. */
const DIGIT_BITS = [...'0123456789abcdef'].map((d) => [...parseInt(d, 16).toString(2)].filter((b) => b === '1').length);
const reference = (a: string, b: string) => [...a].reduce((n, d, i) => n + DIGIT_BITS[parseInt(d, 16) ^ parseInt(b[i]!, 16)]!, 0);

describe('hammingDistance', () => {
  it('counts the differing bits of 64-bit hashes exactly as digit by digit does', () => {
    for (let i = 0; i < 20_000; i++) {
      const a = randomBytes(8).toString('hex');
      const b = randomBytes(8).toString('hex');
      expect(hammingDistance(a, b)).toBe(reference(a, b));
    }
  });

  it('at the edges: equal, all different, the top and bottom bits, hashes of other lengths', () => {
    expect(hammingDistance('ffffffffffffffff', 'ffffffffffffffff')).toBe(0);
    expect(hammingDistance('0000000000000000', 'ffffffffffffffff')).toBe(64);
    expect(hammingDistance('8000000000000000', '0000000000000001')).toBe(2);
    expect(hammingDistance('abc', 'abd')).toBe(reference('abc', 'abd'));
    expect(hammingDistance('1', '00000000000000000003')).toBe(1);
  });
});
