/**
 * `airlock appliance serve --site FILE` with a bad site file: the start stops with the file and line of each
 * problem (unknown field, bad label, duplicate cluster, missing kubeconfig), and nothing listens.
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { cli } from '../helpers/cli.js';
import { freePort } from '../helpers/registry.js';
import { makeTrust } from '../helpers/trust.js';

let dir: string;
let trustPath: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'airlock-site-cli-'));
  trustPath = join(dir, 'root.json');
  await writeFile(trustPath, makeTrust().text);
  await writeFile(join(dir, 'pos.kubeconfig'), 'apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: {server: "https://127.0.0.1:1"}\nusers:\n- name: u\n  user: {token: t}\ncontexts:\n- name: x\n  context: {cluster: c, user: u}\ncurrent-context: x\n');
});

const listening = (port: number) =>
  new Promise<boolean>((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
  });

async function serveWith(siteText: string) {
  const sitePath = join(dir, `site-${Math.random().toString(36).slice(2)}.yaml`);
  await writeFile(sitePath, siteText);
  const port = await freePort();
  const out = await cli(['appliance', 'serve', '--data', join(dir, 'data'), '--trust', trustPath, '--listen', `127.0.0.1:${port}`, '--site', sitePath]);
  return { ...out, sitePath, port };
}

const GOOD_HEAD = 'apiVersion: airlock.dev/v1\nkind: Site\nmetadata:\n  name: store-1\nclusters:\n';

describe('serve --site with a bad site file', () => {
  it.each([
    ['an unknown field', `${GOOD_HEAD}  - name: pos\n    kubeconfig: pos.kubeconfig\n    labelz: {a: b}\n`, ':8: clusters[0]: unknown field "labelz"'],
    ['bad label syntax', `${GOOD_HEAD}  - name: pos\n    kubeconfig: pos.kubeconfig\n    labels: {"a b": c}\n`, ':8: clusters[0].labels: label key "a b"'],
    ['a duplicate cluster', `${GOOD_HEAD}  - name: pos\n    kubeconfig: pos.kubeconfig\n  - name: pos\n    kubeconfig: pos.kubeconfig\n`, ':8: cluster "pos" is listed twice'],
    ['inCluster outside a pod', `${GOOD_HEAD}  - name: pos\n    inCluster: true\n`, ':6: cluster pos: inCluster: true, but this process runs in no pod'],
    ['a missing kubeconfig', `${GOOD_HEAD}  - name: pos\n    kubeconfig: pos.kubeconfig\n  - name: cams\n    kubeconfig: nowhere.kubeconfig\n`, ':8: cluster cams: the kubeconfig'],
  ])('stops on %s, naming file and line, with nothing listening', async (_what, text, expected) => {
    const out = await serveWith(text);
    expect(out.code).not.toBe(0);
    expect(out.stderr).toContain('SITE_INVALID');
    expect(out.stderr).toContain(`${out.sitePath}${expected}`);
    expect(await listening(out.port)).toBe(false);
  });

  it('refuses --site together with --kubeconfig', async () => {
    const sitePath = join(dir, 'site-ok.yaml');
    await writeFile(sitePath, `${GOOD_HEAD}  - name: pos\n    kubeconfig: pos.kubeconfig\n`);
    const out = await cli(['appliance', 'serve', '--data', join(dir, 'data'), '--trust', trustPath, '--listen', '127.0.0.1:0', '--site', sitePath, '--kubeconfig', join(dir, 'pos.kubeconfig')]);
    expect(out.code).toBe(2);
    expect(out.stderr).toContain('--site and --kubeconfig do not go together');
  });
});
