/**
 * Issue 17 item 2: with `--pull-requires-token`, the clients users have pull with a user name and an API token as
 * the password (HTTP Basic): podman login/pull, skopeo --creds, containerd `ctr --user`, git with the password in
 * the URL or from a credential helper, and the `auth` of a Kubernetes dockerconfigjson Secret (made by kubectl)
 * given to containerd. A wrong password is refused (401) by each; Bearer tokens keep working. ADR 012.
 */
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Site, importPath, makeSite, start } from '../helpers/appliance-fixture.js';
import { type TestContainerd, startContainerd } from '../helpers/containerd.js';
import { exec, run } from '../helpers/exec.js';
import { tagLayout, writeBlob, writeImage } from '../helpers/images.js';

let site: Site;
let app: Awaited<ReturnType<typeof start>>;
let containerd: TestContainerd;
let host: string;
let motdDigest: string;
let work: string;
const WRONG = 'alk_not-a-token-of-this-appliance';
const noPrompt = { GIT_TERMINAL_PROMPT: '0', GIT_ASKPASS: '/bin/false' };

beforeAll(async () => {
  site = await makeSite({ layerSize: 3000 });
  work = await mkdtemp(join(tmpdir(), 'airlock-pull-auth-'));
  // An image with a real tar layer (podman and containerd unpack what they pull).
  await mkdir(join(work, 'rootfs', 'etc'), { recursive: true });
  await writeFile(join(work, 'rootfs', 'etc', 'motd'), 'pulled with credentials\n');
  await run('tar', ['-C', join(work, 'rootfs'), '-cf', join(work, 'layer.tar'), 'etc']);
  await run('gzip', ['-n', join(work, 'layer.tar')]);
  const raw = await readFile(join(work, 'layer.tar.gz'));
  const layer = { desc: await writeBlob(site.layout, raw, 'application/vnd.oci.image.layer.v1.tar+gzip'), diffId: `sha256:${createHash('sha256').update(gunzipSync(raw)).digest('hex')}` };
  const motd = await writeImage(site.layout, [layer]);
  motdDigest = motd.digest;
  await tagLayout(site.layout, motd, 'edge/motd:1.0');
  [app, containerd] = await Promise.all([start(site, { pullRequiresToken: true }), startContainerd()]);
  host = app.url.replace('http://', '');
  await site.bundle({ sequence: 1, name: 'auth', images: ['team/app:1.0', 'edge/motd:1.0'] });
  expect((await importPath(app.url, app.token, 'auth.airlock')).state).toBe('applied');
}, 120_000);

let podmanRun: string | undefined;

afterAll(async () => {
  await app?.close();
  await containerd?.stop();
  if (podmanRun) await rm(podmanRun, { recursive: true, force: true });
});

describe('pull auth over HTTP', () => {
  it('answers 401 with a Basic challenge and the distribution API version, without or with wrong credentials', async () => {
    for (const path of ['/v2/', '/v2/edge/motd/manifests/1.0', '/git/platform.git/info/refs?service=git-upload-pack']) {
      for (const auth of [[], ['-u', `puller:${WRONG}`], ['-H', `authorization: Bearer ${WRONG}`]]) {
        const out = await run('curl', ['-s', '-o', '/dev/null', '-D', '-', ...auth, `${app.url}${path}`]);
        expect(out).toMatch(/^HTTP\/1\.1 401/);
        expect(out).toMatch(/^www-authenticate: Basic realm="airlock"\r$/im);
        expect(out).toMatch(/^docker-distribution-api-version: registry\/2\.0\r$/im);
      }
    }
    const body = JSON.parse(await run('curl', ['-s', `${app.url}/v2/`])) as { errors: { code: string; message: string }[] };
    expect(body.errors[0]?.code).toBe('UNAUTHORIZED');
    expect(body.errors[0]?.message).toMatch(/API token .* as the password/);
  });

  it('lets curl in with the token as the Basic password (any user name) or as a Bearer token', async () => {
    const status = (args: string[]) => run('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', ...args, '-H', 'accept: application/vnd.oci.image.manifest.v1+json', `${app.url}/v2/edge/motd/manifests/1.0`]);
    expect(await status(['-u', `anyone:${app.token}`])).toBe('200');
    expect(await status(['-u', `${app.token}:`])).toBe('200');
    expect(await status(['-H', `authorization: Bearer ${app.token}`])).toBe('200');
  });
});

describe('pull auth with real clients', () => {
  it('skopeo --creds', async () => {
    const out = await run('skopeo', ['inspect', '--raw', '--tls-verify=false', '--creds', `puller:${app.token}`, `docker://${host}/edge/motd:1.0`]);
    expect(`sha256:${createHash('sha256').update(out).digest('hex')}`).toBe(motdDigest);
    const wrong = await exec('skopeo', ['inspect', '--raw', '--tls-verify=false', '--creds', `puller:${WRONG}`, `docker://${host}/edge/motd:1.0`]);
    expect(wrong.code).not.toBe(0);
    expect(wrong.stderr).toMatch(/unauthorized|401/i);
    const none = await exec('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${host}/edge/motd:1.0`]);
    expect(none.code).not.toBe(0);
  });

  it('podman login and pull', async () => {
    // podman refuses a runroot path longer than 50 characters, and the suite's TMPDIR can be deeper than that
    podmanRun = await mkdtemp('/tmp/podman-run-');
    const store = ['--root', join(work, 'podman-root'), '--runroot', podmanRun, '--storage-driver', 'vfs', '--cgroup-manager', 'cgroupfs', '--events-backend', 'file'];
    const authfile = join(work, 'podman-auth.json');
    const refused = await exec('podman', [...store, 'login', '--tls-verify=false', '--authfile', authfile, '-u', 'puller', '--password-stdin', host], { input: WRONG });
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/401|unauthorized|invalid username\/password/i);
    const login = await exec('podman', [...store, 'login', '--tls-verify=false', '--authfile', authfile, '-u', 'puller', '--password-stdin', host], { input: app.token });
    expect(login.code, login.stderr).toBe(0);
    expect(login.stdout).toMatch(/Login Succeeded/);
    await run('podman', [...store, 'pull', '-q', '--tls-verify=false', '--authfile', authfile, `${host}/edge/motd:1.0`]);
    const digest = (await run('podman', [...store, 'image', 'inspect', '--format', '{{.Digest}}', `${host}/edge/motd:1.0`])).trim();
    expect(digest).toBe(motdDigest);
  });

  it('containerd ctr --user', async () => {
    const ref = `${host}/edge/motd:1.0`;
    await expect(containerd.ctr(['images', 'pull', '--plain-http', '--snapshotter', 'native', '--user', `puller:${WRONG}`, ref])).rejects.toThrow(/401|unauthorized/i);
    await containerd.ctr(['images', 'pull', '--plain-http', '--snapshotter', 'native', '--user', `puller:${app.token}`, ref]);
    expect((await containerd.ctr(['images', 'ls'])).split('\n').find((l) => l.startsWith(ref))).toContain(motdDigest);
    await containerd.ctr(['images', 'rm', ref]);
  });

  it('containerd with the user and password of a Kubernetes dockerconfigjson Secret made by kubectl', async () => {
    const secretOf = async (password: string) => {
      const secret = JSON.parse(await run('kubectl', ['create', 'secret', 'docker-registry', 'airlock-pull', `--docker-server=${host}`, '--docker-username=kubelet', `--docker-password=${password}`, '--dry-run=client', '-o', 'json'], { env: { KUBECONFIG: join(work, 'no-kubeconfig') } })) as { type: string; data: Record<string, string> };
      expect(secret.type).toBe('kubernetes.io/dockerconfigjson');
      const config = JSON.parse(Buffer.from(secret.data['.dockerconfigjson'] ?? '', 'base64').toString()) as { auths: Record<string, { auth: string }> };
      return Buffer.from(config.auths[host]?.auth ?? '', 'base64').toString(); // what kubelet hands the runtime
    };
    const ref = `${host}/edge/motd:1.0`;
    const good = await secretOf(app.token);
    expect(good).toBe(`kubelet:${app.token}`);
    await expect(containerd.ctr(['images', 'pull', '--plain-http', '--snapshotter', 'native', '--user', await secretOf(WRONG), ref])).rejects.toThrow(/401|unauthorized/i);
    await containerd.ctr(['images', 'pull', '--plain-http', '--snapshotter', 'native', '--user', good, ref]);
    expect((await containerd.ctr(['images', 'ls'])).split('\n').find((l) => l.startsWith(ref))).toContain(motdDigest);
  });

  it('git clone with the password in the URL or from a credential helper', async () => {
    const url = (password: string) => `http://puller:${password}@${host}/git/platform.git`;
    const wrong = await exec('git', ['clone', '-q', url(WRONG), join(work, 'clone-wrong')], { env: noPrompt });
    expect(wrong.code).not.toBe(0);
    expect(wrong.stderr).toMatch(/Authentication failed|401/);
    const none = await exec('git', ['clone', '-q', `${app.url}/git/platform.git`, join(work, 'clone-none')], { env: noPrompt });
    expect(none.code).not.toBe(0);
    await run('git', ['clone', '-q', url(app.token), join(work, 'clone-url')], { env: noPrompt });
    const head = (await run('git', ['-C', site.repo, 'rev-parse', 'HEAD'])).trim();
    expect((await run('git', ['-C', join(work, 'clone-url'), 'rev-parse', 'HEAD'])).trim()).toBe(head);
    const helper = `!f() { echo username=puller; echo password=${app.token}; }; f`;
    await run('git', ['-c', `credential.helper=${helper}`, 'clone', '-q', `${app.url}/git/platform.git`, join(work, 'clone-helper')], { env: noPrompt });
    expect((await run('git', ['-C', join(work, 'clone-helper'), 'rev-parse', 'HEAD'])).trim()).toBe(head);
  });
});
