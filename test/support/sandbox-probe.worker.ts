/**
 * A sandbox worker entry for tests (media/sandbox): does what workerData says, so a test can see
 * how the sandbox treats a thread that answers, runs out of heap, never ends, or crashes.
 */
import { parentPort, workerData } from 'node:worker_threads';

const port = parentPort!;
const mode = workerData as 'echo' | 'hog' | 'spin' | 'throw' | 'refuse';
port.postMessage({ type: 'started' });

if (mode === 'echo') {
  for (const percent of [25, 50, 75]) port.postMessage({ type: 'progress', percent });
  port.postMessage({ type: 'result', value: { heap: process.memoryUsage().heapUsed } });
} else if (mode === 'hog') {
  // Keeps every array it makes, as a parser building a tree from a hostile file does.
  const kept: number[][] = [];
  for (;;) kept.push(Array.from({ length: 100_000 }, (_, i) => i));
} else if (mode === 'spin') {
  setInterval(() => port.postMessage({ type: 'progress', percent: 1 }), 50);
} else if (mode === 'refuse') {
  port.postMessage({ type: 'refused', reason: 'not-for-me' });
} else {
  throw new Error('the parser tripped over its own feet');
}
