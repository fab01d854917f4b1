import { chmod, writeFile } from 'node:fs/promises';
import type { MediaDir } from './media-ffmpeg.js';

/**
 * STAND-IN for whisper.cpp's `whisper-cli`. The real tool and a ggml model (≥ 75 MB) cannot be
 * installed or downloaded here, so this small Node script takes its place. It checks its
 * arguments the way the real CLI reads them, checks that the input really is 16 kHz mono 16-bit
 * WAV, records what it saw in calls.jsonl, and writes `<-of>.json` in whisper.cpp's format.
 * What it does is chosen by the "model" file's contents:
 *   ok      a transcript (with a [BLANK_AUDIO] marker to be dropped) ending where the audio ends
 *   fail    a few stderr lines, then exit 3, as whisper.cpp does with a corrupt model
 *   garbled a JSON file that is not JSON
 *   hang    writes started.json (its pid) and does not finish (it gives up after a minute)
 *   hog     allocates memory and touches it until it cannot, as a decoder on a hostile file does
 */
const STAND_IN = String.raw`
const fs = require('node:fs');
const path = require('node:path');
const argv = process.argv.slice(2);
const flag = (name) => { const i = argv.indexOf(name); return i >= 0 ? argv[i + 1] : undefined; };
const dir = path.dirname(process.argv[1]);
const fail = (msg, code = 2) => { process.stderr.write(msg + '\n'); process.exit(code); };

const model = flag('-m'), wav = flag('-f'), out = flag('-of'), lang = flag('-l'), threads = flag('-t');
if (!model || !wav || !out || !argv.includes('-oj') || lang !== 'auto' || !/^[1-9][0-9]*$/.test(threads ?? '')) fail('error: unexpected arguments: ' + argv.join(' '));

const b = fs.readFileSync(wav);
const header = { riff: b.toString('latin1', 0, 4), wave: b.toString('latin1', 8, 12), format: b.readUInt16LE(20), channels: b.readUInt16LE(22), sampleRate: b.readUInt32LE(24), bits: b.readUInt16LE(34) };
let pos = 12, dataBytes = 0;
while (pos + 8 <= b.length) { const id = b.toString('latin1', pos, pos + 4), size = b.readUInt32LE(pos + 4); if (id === 'data') { dataBytes = Math.min(size, b.length - pos - 8); break; } pos += 8 + size + (size & 1); }
fs.appendFileSync(path.join(dir, 'calls.jsonl'), JSON.stringify({ argv, wav, header, dataBytes }) + '\n');
if (header.riff !== 'RIFF' || header.wave !== 'WAVE' || header.format !== 1 || header.channels !== 1 || header.sampleRate !== 16000 || header.bits !== 16) fail('error: input is not 16 kHz mono 16-bit WAV');

const mode = fs.readFileSync(model, 'utf8').trim();
if (mode === 'fail') {
  process.stderr.write('whisper_init_from_file_with_params_no_state: loading model from ' + model + '\n');
  fail('error: failed to initialize whisper context', 3);
}
if (mode === 'garbled') { fs.writeFileSync(out + '.json', '{"transcription": [ {"text": "half'); process.exit(0); }
if (mode === 'hog') { const kept = []; for (;;) kept.push(Buffer.alloc(16 * 1024 * 1024, 1)); }
if (mode === 'hang') {
  fs.writeFileSync(path.join(dir, 'started.json'), JSON.stringify({ pid: process.pid }));
  setTimeout(() => process.exit(9), 60000); // never outlive a test run that went wrong
  return;
}

const endMs = Math.round((dataBytes / 2 / 16000) * 1000);
const seg = (from, to, text) => ({ timestamps: {}, offsets: { from, to }, text });
fs.writeFileSync(out + '.json', JSON.stringify({
  systeminfo: 'stand-in', model: { type: 'base' }, params: { model, language: 'auto' },
  result: { language: 'en' },
  transcription: [
    seg(0, 1000, ' [BLANK_AUDIO]'),
    seg(1000, 1800, ' Grandma planted the apple tree'),
    seg(1800, endMs, '   the year we moved in.  '),
  ],
}));
`;

export interface WhisperStandIn {
  /** The executable to give as WHISPER_CPP_PATH. */
  binary: string;
  /** A "model" file whose contents choose what the stand-in does (see above). */
  model(mode: 'ok' | 'fail' | 'garbled' | 'hang' | 'hog'): Promise<string>;
}

/** Writes the stand-in into `dir`; its calls are appended to `dir`/calls.jsonl. */
export async function installWhisperStandIn(dir: MediaDir): Promise<WhisperStandIn> {
  const script = dir.path('whisper-cli-stand-in.cjs');
  await writeFile(script, STAND_IN);
  const binary = dir.path('whisper-cli-stand-in');
  await writeFile(binary, `#!/bin/sh\nexec '${process.execPath}' '${script}' "$@"\n`);
  await chmod(binary, 0o755);
  return {
    binary,
    async model(mode) {
      const path = dir.path(`ggml-${mode}.bin`);
      await writeFile(path, mode);
      return path;
    },
  };
}
