/**
 * The rendered branches (docs/adr/017-rendered-branches.md): one bare repository, DATA/rendered/rendered.git,
 * served read-only at `/git/rendered.git`, with one branch per placement, `CHANNEL/CLUSTER`. Each applied bundle adds
 * one commit to each branch (author airlock; the message names the bundle, its sequence and root digest) whose tree
 * is the placement's render, one file per object (src/render/files.ts). Written with one `git fast-import` per
 * commit (a whole tree: `deleteall`, then every file), so a tree is exactly the render, whatever came before.
 * Writes are serialised; git fsyncs objects and refs (core.fsync=all, as the mirror).
 */
import { execFile, spawn } from 'node:child_process';
import { mkdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { AirlockError } from '../../src/errors.js';
import type { TreeFile } from '../../src/render/files.js';

const run = promisify(execFile);
export const RENDERED_REPO = 'rendered.git';
const ROOT_TRAILER = 'Airlock-Root';

export interface RenderedCommit {
  branch: string;
  files: TreeFile[];
  /** The bundle: its name, sequence and root digest go into the message. */
  bundle: { name: string; channel: string; sequence: number; root: string };
  cluster: string;
  site: string;
  when: Date;
}

export class RenderedRepo {
  readonly path: string;
  private chain: Promise<unknown> = Promise.resolve();
  private ready = false;

  /** `root`: the directory served as the rendered Git project root (DATA/rendered). */
  constructor(readonly root: string) {
    this.path = join(root, RENDERED_REPO);
  }

  private async git(args: string[], what: string): Promise<string> {
    try {
      return (await run('git', ['-C', this.path, ...args], { maxBuffer: 64 * 1024 * 1024 })).stdout;
    } catch (err) {
      const e = err as { stderr?: string; message: string };
      throw new AirlockError('GIT_ERROR', `rendered branches: ${what}: ${(e.stderr || e.message).trim().split('\n').pop()}`, { cause: err });
    }
  }

  private async ensure(): Promise<void> {
    if (this.ready) return;
    if (!(await stat(join(this.path, 'objects')).then(() => true, () => false))) {
      await mkdir(this.path, { recursive: true });
      await run('git', ['init', '-q', '--bare', this.path]);
    }
    const settings: [string, string][] = [
      ['http.uploadpack', 'true'],
      ['http.receivepack', 'false'],
      ['uploadpack.allowFilter', 'true'],
      ['core.fsync', 'all'],
      ['core.fsyncMethod', 'fsync'],
    ];
    for (const [key, value] of settings) await this.git(['config', key, value], 'configuring');
    this.ready = true;
  }

  private serial<T>(work: () => Promise<T>): Promise<T> {
    const next = this.chain.then(work, work);
    this.chain = next.catch(() => undefined);
    return next;
  }

  /** The branch's tip and the bundle root its commit names, or undefined when there is no such branch. */
  tip(branch: string): Promise<{ commit: string; root?: string } | undefined> {
    return this.serial(async () => {
      await this.ensure();
      const ref = `refs/heads/${branch}`;
      const commit = (await this.git(['for-each-ref', '--format=%(objectname)', ref], 'reading a branch')).trim();
      if (!commit) return undefined;
      const body = await this.git(['log', '-1', '--format=%B', commit], 'reading a commit');
      const root = new RegExp(`^${ROOT_TRAILER}: (\\S+)$`, 'm').exec(body)?.[1];
      return { commit, ...(root ? { root } : {}) };
    });
  }

  /** Every branch and its tip, sorted. */
  branches(): Promise<{ branch: string; commit: string }[]> {
    return this.serial(async () => {
      await this.ensure();
      const out = await this.git(['for-each-ref', '--format=%(refname:strip=2) %(objectname)', 'refs/heads'], 'listing branches');
      return out.split('\n').filter(Boolean).map((l) => {
        const [branch = '', commit = ''] = l.split(' ');
        return { branch, commit };
      });
    });
  }

  /** One commit on the branch (made when missing) whose tree is exactly `files`; returns its id. */
  commit(c: RenderedCommit): Promise<string> {
    return this.serial(async () => {
      await this.ensure();
      const ref = `refs/heads/${c.branch}`;
      const parent = (await this.git(['for-each-ref', '--format=%(objectname)', ref], 'reading a branch')).trim();
      const seconds = Math.floor(c.when.getTime() / 1000);
      const message =
        `${c.bundle.name} sequence ${c.bundle.sequence} for ${c.cluster}\n\n` +
        `Bundle ${c.bundle.name} (channel ${c.bundle.channel}, sequence ${c.bundle.sequence}) as rendered for cluster ${c.cluster} of site ${c.site}: ${c.files.length} object(s).\n\n` +
        `Airlock-Bundle: ${c.bundle.name}\nAirlock-Sequence: ${c.bundle.sequence}\n${ROOT_TRAILER}: ${c.bundle.root}\n`;
      const chunks: Buffer[] = [];
      const data = (text: string | Buffer) => {
        const bytes = Buffer.isBuffer(text) ? text : Buffer.from(text, 'utf8');
        chunks.push(Buffer.from(`data ${bytes.length}\n`), bytes, Buffer.from('\n'));
      };
      const who = `airlock <airlock@${c.site}.invalid> ${seconds} +0000`;
      chunks.push(Buffer.from(`commit ${ref}\nauthor ${who}\ncommitter ${who}\n`));
      data(message);
      if (parent) chunks.push(Buffer.from(`from ${parent}\n`));
      chunks.push(Buffer.from('deleteall\n'));
      for (const f of c.files) {
        if (/[\n"\\]/.test(f.path) || f.path.startsWith('/')) throw new AirlockError('GIT_ERROR', `rendered branches: the path ${JSON.stringify(f.path)} cannot be written`);
        chunks.push(Buffer.from(`M 100644 inline ${f.path}\n`));
        data(f.text);
      }
      chunks.push(Buffer.from('\ndone\n'));
      await this.fastImport(Buffer.concat(chunks));
      const head = (await this.git(['symbolic-ref', 'HEAD'], 'reading HEAD')).trim();
      const headExists = (await this.git(['for-each-ref', '--format=%(objectname)', head], 'reading HEAD')).trim();
      if (!headExists) await this.git(['symbolic-ref', 'HEAD', ref], 'setting HEAD');
      await this.git(['update-server-info'], 'updating the dumb-HTTP refs');
      return (await this.git(['rev-parse', ref], 'reading the new commit')).trim();
    });
  }

  private fastImport(input: Buffer): Promise<void> {
    return new Promise((resolve, reject) => {
      const child = spawn('git', ['-C', this.path, 'fast-import', '--quiet', '--done'], { stdio: ['pipe', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.on('error', (err) => reject(new AirlockError('GIT_ERROR', `rendered branches: git fast-import: ${err.message}`, { cause: err })));
      child.on('close', (code) => (code === 0 ? resolve() : reject(new AirlockError('GIT_ERROR', `rendered branches: git fast-import failed: ${stderr.trim().split('\n').slice(-3).join(' ')}`))));
      child.stdin.on('error', () => undefined);
      child.stdin.end(input);
    });
  }
}
