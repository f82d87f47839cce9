/**
 * Discovery's cache (appliance/reconcile/discovery.ts, ADR 023) with a counting getter: one request per apiVersion
 * however many ask at once, subresources skipped, a kind the cached list lacks looked up again, `forget`, a 404 as
 * an unknown kind, a failure not cached. Against a real API server: test/integration/kube-kubeconfig.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { Discovery } from '../../appliance/reconcile/discovery.js';

function counting(lists: Record<string, { name: string; kind: string; namespaced: boolean }[] | undefined>) {
  const asked: string[] = [];
  let fail = false;
  const get = async (path: string) => {
    asked.push(path);
    await new Promise((r) => setTimeout(r, 5));
    if (fail) throw new Error('connection refused');
    const list = lists[path];
    return list ? { resources: [...list] } : undefined;
  };
  return { asked, get, failNext: (f: boolean) => (fail = f) };
}

describe('discovery', () => {
  it('asks once per apiVersion, skips subresources, looks a missing kind up again, forgets on demand', async () => {
    const lists: Record<string, { name: string; kind: string; namespaced: boolean }[]> = {
      '/apis/apps/v1': [
        { name: 'deployments/scale', kind: 'Scale', namespaced: true },
        { name: 'deployments/status', kind: 'Deployment', namespaced: true },
        { name: 'deployments', kind: 'Deployment', namespaced: true },
      ],
      '/api/v1': [{ name: 'namespaces', kind: 'Namespace', namespaced: false }],
    };
    const g = counting(lists);
    const d = new Discovery(g.get);
    const got = await Promise.all([d.resource('apps/v1', 'Deployment'), d.resource('apps/v1', 'Deployment'), d.resource('v1', 'Namespace')]);
    expect(got).toEqual([{ plural: 'deployments', namespaced: true }, { plural: 'deployments', namespaced: true }, { plural: 'namespaces', namespaced: false }]);
    expect(g.asked).toEqual(['/apis/apps/v1', '/api/v1']);
    expect(await d.resource('apps/v1', 'Scale')).toBeUndefined(); // only a subresource serves it
    expect(g.asked).toHaveLength(3);
    lists['/apis/apps/v1']?.push({ name: 'statefulsets', kind: 'StatefulSet', namespaced: true });
    expect(await d.resource('apps/v1', 'StatefulSet')).toEqual({ plural: 'statefulsets', namespaced: true });
    expect(await d.resource('apps/v1', 'StatefulSet')).toEqual({ plural: 'statefulsets', namespaced: true });
    expect(g.asked).toHaveLength(4);
    d.forget('apps/v1');
    await d.resource('apps/v1', 'Deployment');
    expect(g.asked).toHaveLength(5);
  });

  it('a group not served is an unknown kind; a failure is not cached', async () => {
    const g = counting({ '/apis/example.com/v1': [{ name: 'widgets', kind: 'Widget', namespaced: true }] });
    const d = new Discovery(g.get);
    expect(await d.resource('gone.example/v1', 'Thing')).toBeUndefined();
    expect(await d.served('gone.example/v1')).toBe(false);
    g.failNext(true);
    await expect(d.resource('example.com/v1', 'Widget')).rejects.toThrow('connection refused');
    g.failNext(false);
    expect(await d.resource('example.com/v1', 'Widget')).toEqual({ plural: 'widgets', namespaced: true });
    expect(await d.served('example.com/v1')).toBe(true);
  });
});
