import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A small OpenAI-compatible server on loopback, for testing the real SDK over real HTTP.
 * Each request takes the next scripted behaviour (or none) and otherwise gets a good default
 * answer built from the request. Error bodies echo the Authorization header, as careless servers
 * do, so tests can check that no key leaks into messages.
 */

export interface Behaviour {
  /** Answer with this status and an OpenAI-style error body. */
  status?: number;
  headers?: Record<string, string>;
  /** Wait this long before answering (to provoke timeouts). */
  delayMs?: number;
  /** Chat: the assistant's content, instead of the default answer. */
  content?: string;
  /** Transcription: this JSON body, instead of the default answer. */
  json?: unknown;
  /** The model the server says it used (default: the one asked for). */
  model?: string;
  /** Stream: wait this long between chunks. */
  chunkDelayMs?: number;
  /** Stream: code points per content chunk (default 6). */
  chunkCodePoints?: number;
  /** Stream: send this many content chunks, then go silent until the client leaves. */
  stallAfterChunks?: number;
  /** Stream: the last chunk's finish_reason; null sends none (and ends without [DONE]). */
  finishReason?: string | null;
}

export interface Multipart {
  /** Every value of each text field, in order ("timestamp_granularities[]" may repeat). */
  fields: Record<string, string[]>;
  files: Record<string, { filename: string; contentType: string; size: number }>;
}

export interface RecordedRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  /** Parsed JSON, a Multipart, or the raw text. */
  body: unknown;
  /** The client went away before the answer was complete. */
  aborted: boolean;
}

export interface FakeOpenAi {
  /** The base URL to give the SDK (ends in /v1). */
  url: string;
  requests: RecordedRequest[];
  /** Queues behaviours for the next requests, one each. */
  script(...behaviours: Behaviour[]): void;
  /** Rewrites every default chat answer before it is sent (a model saying what it should not), by the answer's schema name. */
  rewrite: ((schema: string | undefined, content: string, user: string) => string) | null;
  close(): Promise<void>;
}

/** The default transcription: Whisper's verbose_json, with a language name, not a code. */
export const DEFAULT_TRANSCRIPTION = {
  task: 'transcribe',
  language: 'english',
  duration: 3.1,
  text: ' Hello from the garden. We planted roses. ',
  segments: [
    { id: 0, seek: 0, start: 0, end: 1.4, text: ' Hello from the garden.', tokens: [1, 2], temperature: 0, avg_logprob: -0.2, compression_ratio: 1.1, no_speech_prob: 0.01 },
    { id: 1, seek: 0, start: 1.4, end: 3.1, text: ' We planted roses. ', tokens: [3], temperature: 0, avg_logprob: -0.3, compression_ratio: 1.1, no_speech_prob: 0.02 },
    { id: 2, seek: 0, start: 3.1, end: 3.1, text: '  ', tokens: [], temperature: 0, avg_logprob: -1, compression_ratio: 1, no_speech_prob: 0.9 },
  ],
};

export const DEFAULT_IMAGE_ANSWER = { caption: 'A garden with a wooden bench.', tags: [{ name: 'garden', confidence: 0.9 }, { name: 'bench', confidence: 0.7 }, { name: 'outdoors', confidence: 0.8 }] };

/** The default story: cites the first memory ids found in the prompt, plus one that does not exist. */
export function defaultStory(prompt: string): Record<string, unknown> {
  const ids = [...prompt.matchAll(/"id":"([^"]+)"/g)].map((m) => m[1] ?? '');
  const name = /"name":"([^"]+)"/.exec(prompt)?.[1] ?? 'Someone';
  const first = ids[0] ?? 'none';
  const second = ids[1] ?? first;
  return {
    title: `The life of ${name}`,
    paragraphs: [
      { text: `${name} kept a garden.\nShe always said "grow, little ones" — every spring, café \\ 🌻.`, assetIds: [first] },
      { text: 'Summers were spent by the sea, with the whole family around the table.', assetIds: [first, second, first] },
      { text: 'She is remembered with love.', assetIds: [second, 'not-a-memory'] },
    ],
    timeline: [
      { date: '1962', title: 'The garden', description: null, assetIds: [first] },
      { date: 'sometime', title: 'Undated', description: 'No usable date.', assetIds: [first] },
    ],
    themes: [{ name: 'Gardening', description: 'Roses, every year.', assetIds: [first, second] }],
  };
}


interface FakeNote {
  text: string;
  assetIds: string[];
}

/**
 * Answers the staged story writer as a model would, from what it was sent, keeping to the
 * prompt's "at most N notes, each citing at most K ids": a period summary ("period_summary") has
 * a note per few memories (their captions, places and people) citing the first of them, or, from
 * notes, a note per few notes citing the first ids of each; the book ("life_story")
 * from notes has a paragraph per period citing its notes' ids. Each also cites one id that exists
 * nowhere, as models do. An answer longer than max_tokens (at 3.5 characters a token) is cut
 * there with finish_reason "length", as a server would. Null: not a staged request (the default
 * story answers it).
 */
export function stagedAnswer(schema: string | undefined, system: string, user: string, maxTokens: number | undefined): { content: string; finishReason?: string } | null {
  const maxNotes = Number(/at most (\d+) notes/i.exec(system)?.[1] ?? 10);
  const maxIds = Number(/at most (\d+) ids/i.exec(system)?.[1] ?? 6);
  const at = user.indexOf('{');
  if (at === -1 || (schema !== 'period_summary' && schema !== 'life_story')) return null;
  let data: { person?: { name?: string }; period?: string; memories?: Record<string, unknown>[]; periods?: { period: string; notes: FakeNote[] }[] };
  try {
    data = JSON.parse(user.slice(at)) as typeof data;
  } catch {
    return null;
  }
  let answer: unknown;
  if (schema === 'period_summary' && data.memories) {
    const notes: FakeNote[] = [];
    const size = Math.ceil(data.memories.length / maxNotes);
    for (let i = 0; i < data.memories.length; i += size) {
      const group = data.memories.slice(i, i + size);
      const said = group
        .slice(0, 2)
        .map((m) => [m['caption'] ?? m['title'], m['place'], Array.isArray(m['people']) ? `with ${(m['people'] as string[]).join(' and ')}` : null].filter(Boolean).join(', '))
        .join('; ');
      notes.push({ text: `In ${String(group[0]?.['date'] ?? data.period ?? 'those years').slice(0, 4)}: ${said}`.slice(0, 160), assetIds: group.slice(0, maxIds).map((m) => String(m['id'])) });
    }
    notes[0]?.assetIds.push('invented-by-the-summary');
    answer = { notes };
  } else if (schema === 'period_summary' && data.periods) {
    const all = data.periods.flatMap((p) => p.notes);
    const notes: FakeNote[] = [];
    const size = Math.ceil(all.length / maxNotes);
    for (let i = 0; i < all.length; i += size) {
      const group = all.slice(i, i + size);
      const each = Math.max(1, Math.floor(maxIds / group.length));
      notes.push({ text: group.map((n) => n.text.split(':')[0]).join('; ').slice(0, 160), assetIds: group.flatMap((n) => n.assetIds.slice(0, each)).slice(0, maxIds) });
    }
    notes[0]?.assetIds.push('invented-by-the-merge');
    answer = { notes };
  } else if (schema === 'life_story' && data.periods) {
    const name = data.person?.name ?? 'Someone';
    const cited = (notes: FakeNote[]): string[] => [...new Set(notes.flatMap((n) => n.assetIds))].slice(0, 4);
    answer = {
      title: `The life of ${name}`,
      paragraphs: data.periods.map((p, i) => ({ text: `${p.period}: ${p.notes[0]?.text ?? ''}`, assetIds: i === 0 ? [...cited(p.notes), 'invented-by-the-book'] : cited(p.notes) })),
      timeline: data.periods.map((p) => ({ date: p.period.slice(0, 4), title: p.period, description: null, assetIds: cited(p.notes).slice(0, 1) })),
      themes: [{ name: 'Family', description: null, assetIds: data.periods.flatMap((p) => cited(p.notes).slice(0, 1)).slice(0, 3) }],
    };
  } else return null;
  const content = JSON.stringify(answer);
  const room = maxTokens === undefined ? Infinity : Math.floor(maxTokens * 3.5);
  return content.length > room ? { content: content.slice(0, room), finishReason: 'length' } : { content };
}

export async function startFakeOpenAi(): Promise<FakeOpenAi> {
  const requests: RecordedRequest[] = [];
  const queue: Behaviour[] = [];

  const server = createServer((req, res) => {
    void handle(req, res).catch(() => {
      if (!res.headersSent) res.writeHead(500);
      res.end();
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const raw = await readBody(req);
    const record: RecordedRequest = { method: req.method ?? '', path: req.url ?? '', headers: req.headers, body: parseBody(req, raw), aborted: false };
    requests.push(record);
    res.on('close', () => {
      if (!res.writableFinished) record.aborted = true;
    });
    const behaviour = queue.shift() ?? {};
    if (behaviour.delayMs && !(await wait(behaviour.delayMs, res))) return;

    if (behaviour.status) {
      const secret = req.headers.authorization ?? '';
      return sendJson(res, behaviour.status, { error: { message: `Failed for ${secret}: internal details`, type: 'fake_error', code: null } }, behaviour.headers);
    }
    const body = record.body as Record<string, unknown>;
    if (req.method === 'POST' && record.path === '/v1/audio/transcriptions') return transcribe(res, record.body as Multipart, behaviour);
    if (req.method === 'POST' && record.path === '/v1/chat/completions') return chat(res, body, behaviour);
    sendJson(res, 404, { error: { message: 'Not found', type: 'invalid_request_error', code: null } });
  }

  function transcribe(res: ServerResponse, form: Multipart, behaviour: Behaviour): void {
    const field = (name: string): string | undefined => form.fields?.[name]?.[0];
    const file = form.files?.['file'];
    if (!field('model') || !file || file.size === 0) {
      return sendJson(res, 400, { error: { message: 'model and a non-empty file are required', type: 'invalid_request_error', code: null } });
    }
    const granularities = form.fields['timestamp_granularities[]'] ?? [];
    if (granularities.length > 0 && field('response_format') !== 'verbose_json') {
      return sendJson(res, 400, { error: { message: 'timestamp_granularities needs verbose_json', type: 'invalid_request_error', code: null } });
    }
    const answer = behaviour.json ?? DEFAULT_TRANSCRIPTION;
    sendJson(res, 200, behaviour.model ? { ...(answer as object), model: behaviour.model } : answer, behaviour.headers);
  }

  async function chat(res: ServerResponse, body: Record<string, unknown>, behaviour: Behaviour): Promise<void> {
    const model = behaviour.model ?? String(body['model']);
    const messages = Array.isArray(body['messages']) ? (body['messages'] as Array<{ role: string; content: unknown }>) : [];
    const isVision = messages.some((m) => Array.isArray(m.content) && m.content.some((part: { type?: string }) => part.type === 'image_url'));
    const prompt = messages.map((m) => (typeof m.content === 'string' ? m.content : '')).join('\n');
    const schema = (body['response_format'] as { json_schema?: { name?: string } } | undefined)?.json_schema?.name;
    const system = messages.filter((m) => m.role === 'system').map((m) => (typeof m.content === 'string' ? m.content : '')).join('\n');
    const user = messages.filter((m) => m.role === 'user').map((m) => (typeof m.content === 'string' ? m.content : '')).join('\n');
    const maxTokens = typeof body['max_tokens'] === 'number' ? body['max_tokens'] : undefined;
    const staged = behaviour.content === undefined && !isVision ? stagedAnswer(schema, system, user, maxTokens) : null;
    const answer = staged?.content ?? JSON.stringify(isVision ? DEFAULT_IMAGE_ANSWER : defaultStory(prompt));
    const content = behaviour.content ?? (fake.rewrite ? fake.rewrite(schema, answer, user) : answer);
    if (staged?.finishReason) behaviour = { ...behaviour, finishReason: staged.finishReason };
    const base = { id: 'chatcmpl-fake', created: 1_700_000_000, model };

    if (body['stream'] !== true) {
      return sendJson(res, 200, {
        ...base,
        object: 'chat.completion',
        choices: [{ index: 0, message: { role: 'assistant', content, refusal: null }, finish_reason: 'stop' }],
        usage: { prompt_tokens: 10, completion_tokens: 10, total_tokens: 20 },
      }, behaviour.headers);
    }

    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', ...behaviour.headers });
    const send = (delta: Record<string, unknown>, finish: string | null): void => {
      res.write(`data: ${JSON.stringify({ ...base, object: 'chat.completion.chunk', choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`);
    };
    send({ role: 'assistant', content: '' }, null);
    const pieces = splitCodePoints(content, behaviour.chunkCodePoints ?? 6);
    for (const [i, piece] of pieces.entries()) {
      if (behaviour.stallAfterChunks !== undefined && i >= behaviour.stallAfterChunks) return; // silent; the client's timer must end it
      if (behaviour.chunkDelayMs && !(await wait(behaviour.chunkDelayMs, res))) return;
      if (res.destroyed) return;
      send({ content: piece }, null);
    }
    const finish = behaviour.finishReason === undefined ? 'stop' : behaviour.finishReason;
    if (finish !== null) {
      send({}, finish);
      res.write('data: [DONE]\n\n');
    }
    res.end();
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const fake: FakeOpenAi = {
    url: `http://127.0.0.1:${port}/v1`,
    requests,
    script: (...behaviours: Behaviour[]) => void queue.push(...behaviours),
    rewrite: null,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((err) => (err ? reject(err) : resolve()));
      }),
  };
  return fake;
}

/** As the brief names it. */
export const start = startFakeOpenAi;

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function parseBody(req: IncomingMessage, raw: Buffer): unknown {
  const type = req.headers['content-type'] ?? '';
  const boundary = /boundary=(?:"([^"]+)"|([^;]+))/.exec(type);
  if (type.startsWith('multipart/form-data') && boundary) return parseMultipart(raw, boundary[1] ?? boundary[2] ?? '');
  const text = raw.toString('utf8');
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

/** Enough of RFC 7578 for the SDK's uploads: parts split on the boundary, a name, maybe a filename. */
export function parseMultipart(body: Buffer, boundary: string): Multipart {
  const result: Multipart = { fields: {}, files: {} };
  const delimiter = Buffer.from(`--${boundary}`);
  let at = body.indexOf(delimiter);
  while (at !== -1) {
    const start = at + delimiter.length;
    if (body.subarray(start, start + 2).toString() === '--') break;
    const next = body.indexOf(delimiter, start);
    if (next === -1) break;
    const part = body.subarray(start + 2, next - 2); // without the CRLFs around it
    const split = part.indexOf('\r\n\r\n');
    const head = part.subarray(0, split).toString('utf8');
    const content = part.subarray(split + 4);
    const name = /name="([^"]*)"/.exec(head)?.[1] ?? '';
    const filename = /filename="([^"]*)"/.exec(head)?.[1];
    if (filename !== undefined) {
      const contentType = /content-type:\s*([^\r\n]+)/i.exec(head)?.[1] ?? '';
      result.files[name] = { filename, contentType, size: content.length };
    } else {
      (result.fields[name] ??= []).push(content.toString('utf8'));
    }
    at = next;
  }
  return result;
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}

/** Resolves true after `ms`, or false as soon as the client has gone. */
function wait(ms: number, res: ServerResponse): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      res.off('close', gone);
      resolve(!res.destroyed);
    }, ms);
    const gone = (): void => {
      clearTimeout(timer);
      resolve(false);
    };
    res.once('close', gone);
  });
}

function splitCodePoints(text: string, size: number): string[] {
  const points = Array.from(text);
  const pieces: string[] = [];
  for (let i = 0; i < points.length; i += size) pieces.push(points.slice(i, i + size).join(''));
  return pieces;
}
