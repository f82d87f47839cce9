/** Serves bare repositories over Git smart HTTP (git's own `git http-backend`, through the appliance's bridge). */
import type { Server } from 'node:http';
import express from 'express';
import { gitHttpHandler } from '../../appliance/git/http-backend.js';

export interface GitHttpServer {
  url: string;
  stop(): Promise<void>;
}

export async function startGitHttp(projectRoot: string): Promise<GitHttpServer> {
  const app = express();
  app.use(gitHttpHandler(projectRoot));
  const server: Server = await new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return { url: `http://127.0.0.1:${port}`, stop: () => new Promise((resolve) => server.close(() => resolve())) };
}
