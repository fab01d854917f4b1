import type { IncomingMessage } from 'node:http';

/**
 * The client's address as Express's `req.ip` computes it with `trust proxy` set to a number of
 * hops, for requests Express never sees (websocket upgrades): the nearest `trustedHops` entries of
 * X-Forwarded-For are our proxies, the one before them is the client. With 0 hops the header is
 * ignored (anyone can write it).
 */
export function clientAddress(req: IncomingMessage, trustedHops: number): string | null {
  const socket = req.socket.remoteAddress ?? null;
  if (trustedHops === 0) return socket;
  const header = req.headers['x-forwarded-for'];
  const forwarded = (Array.isArray(header) ? header.join(',') : (header ?? '')).split(',').map((s) => s.trim()).filter(Boolean);
  const chain = [socket, ...forwarded.reverse()];
  return chain[Math.min(trustedHops, chain.length - 1)] ?? socket;
}
