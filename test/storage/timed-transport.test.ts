import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { timedTransport } from '../../src/storage/timed-transport.js';
import { isS3Unavailable } from '../../src/storage/unavailable.js';

const TIMEOUT_MS = 200;
const BODY = Buffer.alloc(4 * 1024 * 1024, 7);

/**
 * The storage client's transport bounds a server's silence, not a reader's: a frozen server (no
 * answer, or a body that stops) fails as "unavailable", while a reader that holds a download back
 * for longer than the bound still gets every byte.
 */
describe('timedTransport', () => {
  let server: Server;
  let base: { host: string; port: number };
  beforeAll(async () => {
    server = createServer((req, res) => {
      if (req.url === '/silent') return; // accepts, never answers
      if (req.url === '/stalls') {
        res.writeHead(200, { 'content-length': String(BODY.length) });
        res.write(BODY.subarray(0, 1024)); // then nothing
        return;
      }
      res.writeHead(200, { 'content-length': String(BODY.length) });
      res.end(BODY);
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    base = { host: '127.0.0.1', port: (server.address() as AddressInfo).port };
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  const get = (path: string) =>
    new Promise<import('node:http').IncomingMessage>((resolve, reject) => {
      const req = timedTransport(false, TIMEOUT_MS).request({ ...base, path, method: 'GET' }, resolve);
      req.on('error', reject);
      req.end();
    });
  const drain = async (res: AsyncIterable<Buffer>) => {
    let n = 0;
    for await (const chunk of res) n += chunk.length;
    return n;
  };

  it('gives up on a server that accepts and never answers, as unavailable', async () => {
    const err = await get('/silent').catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'ETIMEDOUT' });
    expect(isS3Unavailable(err)).toBe(true);
  });

  it('gives up on a body that stops in the middle', async () => {
    const res = await get('/stalls');
    const err = await drain(res).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
  });

  it('waits for a reader that holds the download back longer than the bound, and delivers every byte', async () => {
    const res = await get('/full');
    // Nobody reads for 4 bounds: the buffers fill and the socket goes quiet because of us.
    await sleep(TIMEOUT_MS * 4);
    expect(await drain(res)).toBe(BODY.length);
  });
});
