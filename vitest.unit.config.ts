import { defineConfig } from 'vitest/config';
import base from './vitest.config.js';

/**
 * The fast tier (`npm run test:unit`, under a minute on two cores): no database server, no child
 * processes, no models, no network; ports are the in-memory backends that pass the same contract
 * suites as the real ones. A file belongs here when it needs none of those and runs in a few
 * seconds: add it to this list. `npm test` still runs every file, these included.
 */
export const UNIT_TESTS = [
  // Configuration, errors, pure rules.
  'test/config.test.ts',
  'test/secret-key.test.ts',
  'test/file-policy.test.ts',
  'test/upload-progress.test.ts',
  'test/schema.test.ts',
  'test/input-edges/text-encodings.test.ts',
  'test/people/caption-rules.test.ts',
  'test/story/citations.test.ts',
  'test/story/duplicate-groups.test.ts',
  'test/duplicates/merge.test.ts',
  'test/media/perceptual-hash.test.ts',
  'test/export/archive-names.test.ts',
  // AI: parsing, the layer's rules, the local extractive writer, the AI contract on openai against
  // the in-process loopback fake (the local engines' run, ai-contract.local, starts sandboxes: full suite).
  'test/ai/partial-json.test.ts',
  'test/ai/ai-layer.test.ts',
  'test/ai/local/keywords.test.ts',
  'test/ai/local/ocr-words.test.ts',
  'test/ai/story/extractive-story.test.ts',
  'test/ai/ai-contract.openai.test.ts',

  // Port contracts on the in-memory backends.
  'test/storage/memory.storage.test.ts',
  'test/storage/filesystem.storage.test.ts',
  'test/events/in-process.events.test.ts',
  // The memory job queue on an in-memory, unmigrated PGlite: the one database here, in-process, for
  // the transactions jobs join (starting it takes a few seconds).
  'test/jobs/memory.queue.test.ts',

];

// Not mergeConfig: it would append this list to the full suite's include instead of replacing it.
export default defineConfig({ ...base, test: { ...base.test, include: UNIT_TESTS } });
