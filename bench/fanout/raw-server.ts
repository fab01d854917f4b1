/**
 * The floor for bench/fanout-10k.ts, in its own process: a bare `ws` server that sends one text
 * message to every connected client. Driven over IPC: `emit` (send this text to all, answer the
 * time just before the first send), `memory`, `stop`.
 */
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { WebSocketServer } from 'ws';
import { memory, now } from './clock.js';

const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, maxPayload: 1024 * 1024 });
await once(wss, 'listening');
const send = (m: unknown) => process.send!(m);

process.on('message', (m: { cmd: string; text?: string; collect?: boolean }) => {
  if (m.cmd === 'emit') {
    const t0 = now();
    for (const client of wss.clients) client.send(m.text!);
    send({ cmd: 'emitted', t0, t1: now() });
  } else if (m.cmd === 'memory') {
    send({ cmd: 'memory', memory: memory(m.collect ?? true), clients: wss.clients.size });
  } else if (m.cmd === 'stop') {
    for (const c of wss.clients) c.terminate();
    wss.close(() => process.exit(0));
  }
});
send({ cmd: 'ready', url: `ws://127.0.0.1:${(wss.address() as AddressInfo).port}`, memory: memory(true) });
