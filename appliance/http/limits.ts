/**
 * What keeps the server alive with nobody watching: a time limit for a request's headers, a time limit for a body
 * that stops arriving (a slow but steady upload is never cut; only silence while the server waits for bytes), and a
 * cap on concurrent connections per client address (over it, a 503 and the connection closed).
 */
import type { IncomingMessage, Server } from 'node:http';
import type { Socket } from 'node:net';
import type { NextFunction, Request, Response } from 'express';
import type { Logger } from '../context.js';

export interface ConnectionLimits {
  /** Time to receive a request's headers (default 20 s). */
  headersTimeoutMs: number;
  /** Longest silence while the server waits for body bytes (default 60 s). */
  bodyIdleMs: number;
  /** Concurrent connections per client address (default 64). */
  perClient: number;
}

export const DEFAULT_LIMITS: ConnectionLimits = { headersTimeoutMs: 20_000, bodyIdleMs: 60_000, perClient: 64 };

const REFUSED = JSON.stringify({ error: { code: 'TOO_MANY_CONNECTIONS', message: 'too many connections from this address; close some and try again' } });
const REFUSAL = `HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(REFUSED)}\r\nRetry-After: 5\r\nConnection: close\r\n\r\n${REFUSED}`;

/** Server options for node:http / node:https createServer: header timeout, checked every second. */
export function serverTimeouts(limits: ConnectionLimits): { headersTimeout: number; requestTimeout: number; connectionsCheckingInterval: number } {
  // requestTimeout bounds a whole request, body included: 0, as a large upload takes as long as it takes (the body
  // idle guard below stops one that stalls).
  return { headersTimeout: limits.headersTimeoutMs, requestTimeout: 0, connectionsCheckingInterval: Math.min(1000, limits.headersTimeoutMs) };
}

/** Caps concurrent connections per remote address; a connection over the cap gets a 503 and is closed. */
export function limitConnections(server: Server, limits: ConnectionLimits, log: Logger): void {
  const open = new Map<string, number>();
  let lastWarned = 0;
  server.prependListener('connection', (socket: Socket) => {
    const address = socket.remoteAddress ?? '';
    const count = (open.get(address) ?? 0) + 1;
    if (count > limits.perClient) {
      refused.add(socket);
      socket.on('error', () => undefined);
      socket.end(REFUSAL);
      setTimeout(() => socket.destroy(), 1000).unref();
      if (Date.now() - lastWarned > 60_000) {
        lastWarned = Date.now();
        log.warn('too many connections from one address: refusing more', { address, limit: limits.perClient });
      }
      return;
    }
    open.set(address, count);
    socket.once('close', () => {
      const left = (open.get(address) ?? 1) - 1;
      if (left > 0) open.set(address, left);
      else open.delete(address);
    });
  });
}

const refused = new WeakSet<Socket>();

/**
 * Express middleware, first of all: a request on a refused connection is not served, and a request whose body
 * goes silent for `bodyIdleMs` while the server waits for it is answered 408 and its connection closed.
 */
export function requestGuard(limits: ConnectionLimits) {
  return (req: Request, res: Response, next: NextFunction): void => {
    if (refused.has(req.socket)) {
      req.socket.destroy();
      return;
    }
    guardBody(req, res, limits.bodyIdleMs);
    next();
  };
}

function guardBody(req: IncomingMessage, res: Response, idleMs: number): void {
  if (req.complete || idleMs <= 0) return;
  const socket = req.socket;
  let seen = socket.bytesRead;
  let since = Date.now();
  const timer = setInterval(() => {
    if (req.complete || socket.destroyed) return clearInterval(timer);
    if (socket.bytesRead !== seen || req.readableLength >= req.readableHighWaterMark) {
      // bytes arrived, or the server is the slow side (its buffer is full, so the socket is not being read)
      seen = socket.bytesRead;
      since = Date.now();
      return;
    }
    if (Date.now() - since < idleMs) return;
    clearInterval(timer);
    if (!res.headersSent) {
      res.set('connection', 'close');
      res.status(408).json({ error: { code: 'REQUEST_TIMEOUT', message: `no body bytes arrived for ${Math.round(idleMs / 1000)} s` } });
    }
    setTimeout(() => socket.destroy(), 100).unref();
  }, Math.max(100, Math.min(1000, idleMs / 4)));
  timer.unref();
  req.once('end', () => clearInterval(timer));
  req.once('close', () => clearInterval(timer));
}
