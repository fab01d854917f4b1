/**
 * A sandbox entry for tests (media/sandbox): does what its data says, so a test can see how the
 * sandbox treats a process that answers, runs out of heap or of native memory, never ends,
 * crashes, or is killed by the kernel.
 */
type Mode = 'echo' | 'hog' | 'native-hog' | 'spin' | 'throw' | 'refuse' | 'segfault' | 'sigkill';

export async function run(mode: Mode, progress: (percent: number) => void) {
  if (mode === 'echo') {
    for (const percent of [25, 50, 75]) progress(percent);
    return { type: 'result' as const, value: { heap: process.memoryUsage().heapUsed, pid: process.pid } };
  }
  if (mode === 'hog') {
    // Keeps every array it makes, as a parser building a tree from a hostile file does.
    const kept: number[][] = [];
    for (;;) kept.push(Array.from({ length: 100_000 }, (_, i) => i));
  }
  if (mode === 'native-hog') {
    // Memory outside the V8 heap, touched, as a decoder's pixels are: only the kernel cap stops it.
    const kept: Buffer[] = [];
    for (;;) kept.push(Buffer.alloc(16 * 1024 * 1024, 1));
  }
  if (mode === 'spin') {
    setInterval(() => progress(1), 50);
    return new Promise<never>(() => undefined);
  }
  if (mode === 'refuse') return { type: 'refused' as const, reason: 'not-for-me' };
  if (mode === 'segfault') process.kill(process.pid, 'SIGSEGV');
  if (mode === 'sigkill') process.kill(process.pid, 'SIGKILL');
  throw new Error('the parser tripped over its own feet');
}
