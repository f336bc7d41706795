import { spawnSync } from 'node:child_process';
import { Chart, Testing } from 'cdk8s';
import { describe, expect, it } from 'vitest';
import { allowTraffic, contains, kubernetesServiceIp, type AllowTrafficProps, type Peer } from '../src/network/policy.js';
import { checkScript } from '../src/bootstrap/preflight-script.js';
import { checkPolicies } from '../src/policy/rules/index.js';
import { apiServerEgressRule } from '../src/policy/rules/namespaces.js';
import type { LoadedDocument } from '../src/policy/documents.js';
import { allObjects, config, synthError } from './helpers.js';

function policy(props: Omit<AllowTrafficProps, 'config' | 'name' | 'namespace' | 'pods'>, yaml = ''): Record<string, any> {
  const chart = new Chart(Testing.app(), 'test');
  allowTraffic(chart, 'p', { config: config(yaml), name: 'p', namespace: 'ci', pods: { app: 'x' }, ...props });
  return chart.toJson()[0].spec;
}

describe('allowTraffic', () => {
  it('lets pods reach the API server through the kubernetes Service and the node port on the LAN only, without cluster.nodeAddress', () => {
    const spec = policy({ egress: [{ peers: [{ apiServer: true }], ports: [1] }] });
    expect(spec.egress).toEqual([
      { to: [{ ipBlock: { cidr: '10.0.0.0/8', except: ['10.42.0.0/16', '10.43.0.0/16'] } }, { ipBlock: { cidr: '172.16.0.0/12' } }, { ipBlock: { cidr: '192.168.0.0/16' } }], ports: [{ protocol: 'TCP', port: 6443 }] },
      { to: [{ ipBlock: { cidr: '10.43.0.1/32' } }], ports: [{ protocol: 'TCP', port: 443 }] },
    ]);
  });

  it('narrows the API server to the node when its address is configured', () => {
    const spec = policy({ egress: [{ peers: [{ apiServer: true }], ports: [] }] }, 'cluster:\n  nodeAddress: 192.168.1.50\nnetwork:\n  apiServerPort: 7443\n');
    expect(spec.egress).toEqual([
      { to: [{ ipBlock: { cidr: '192.168.1.50/32' } }], ports: [{ protocol: 'TCP', port: 7443 }] },
      { to: [{ ipBlock: { cidr: '10.43.0.1/32' } }], ports: [{ protocol: 'TCP', port: 443 }] },
    ]);
  });

  it('fails on the API server as an ingress peer: traffic from the node needs no rule', () => {
    const apiServer = { apiServer: true } as unknown as Exclude<Peer, { apiServer: true }>;
    expect(() => policy({ ingress: [{ peers: [apiServer], ports: [9443] }] })).toThrow(
      "allowTraffic: 'apiServer' is an egress peer only; traffic from the node (API server, kubelet) to a pod needs no rule",
    );
  });

  it('keeps internet egress off the LAN and the cluster ranges', () => {
    const spec = policy({ egress: [{ peers: [{ internet: true }], ports: [443] }] });
    expect(spec.egress[0].to).toEqual([{ ipBlock: { cidr: '0.0.0.0/0', except: ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16'] } }]);
  });

  it('keeps pods from passing as LAN clients', () => {
    const spec = policy({ ingress: [{ peers: [{ lan: true }], ports: [3000] }] });
    expect(spec.ingress[0].from[0]).toEqual({ ipBlock: { cidr: '10.0.0.0/8', except: ['10.42.0.0/16', '10.43.0.0/16'] } });
    expect(spec.ingress[0].from[1]).toEqual({ ipBlock: { cidr: '172.16.0.0/12' } });
  });

  it('fails without any flow', () => {
    expect(() => policy({})).toThrow('allowTraffic p: give ingress or egress flows');
  });
});

describe('address arithmetic', () => {
  it('finds the kubernetes Service address', () => {
    expect(kubernetesServiceIp('10.43.0.0/16')).toBe('10.43.0.1');
    expect(kubernetesServiceIp('172.20.255.0/24')).toBe('172.20.255.1');
  });

  it('tells whether one CIDR contains another', () => {
    expect(contains('10.0.0.0/8', '10.42.0.0/16')).toBe(true);
    expect(contains('192.168.0.0/16', '10.42.0.0/16')).toBe(false);
    expect(contains('10.42.0.0/16', '10.0.0.0/8')).toBe(false);
    expect(contains('0.0.0.0/0', '203.0.113.0/24')).toBe(true);
  });
});

describe('the README claim: pods that talk to the API server reach only the kubernetes Service and the node', () => {
  const docs = (objs: readonly unknown[]): LoadedDocument[] => objs.map((doc, i) => ({ where: `tree#${i}`, file: 'tree', doc: doc as LoadedDocument['doc'] }));
  const run = (yaml: string, objs: readonly unknown[]) => checkPolicies(docs(objs), config(yaml), [apiServerEgressRule]);
  const directPool = 'agents:\n  pools:\n    - name: d\n      mode: direct\n';
  const pinned = 'cluster:\n  nodeAddress: 192.168.1.50\n';

  for (const [what, yaml] of [
    ['the defaults', directPool],
    ['cluster.nodeAddress set', `${pinned}${directPool}`],
  ] as const) {
    it(`holds for every NetworkPolicy of the tree with ${what}`, () => {
      const objs = allObjects(yaml);
      const blocks = objs
        .filter((o: any) => o.kind === 'NetworkPolicy')
        .flatMap((o: any) => (o.spec.egress ?? []).filter((e: any) => (e.ports ?? []).some((p: any) => p.port === 6443)))
        .flatMap((e: any) => e.to.map((t: any) => t.ipBlock?.cidr));
      // KEDA's operator, metrics server and webhooks, and the API with a direct pool.
      expect(blocks.length).toBeGreaterThanOrEqual(4);
      // Independently of the rule's own idea of the node: the node's /32, else LAN networks only.
      // No rule admits the node by address: NetworkPolicy always lets a pod's own node in (API server, kubelet).
      const ingressFrom = objs.filter((o: any) => o.kind === 'NetworkPolicy').flatMap((o: any) => (o.spec.ingress ?? []).flatMap((r: any) => r.from ?? []));
      expect(ingressFrom.filter((f: any) => f.ipBlock && !f.ipBlock.except && f.ipBlock.cidr.endsWith('/32'))).toEqual([]);
      expect(ingressFrom.filter((f: any) => f.ipBlock?.cidr === '0.0.0.0/0')).toEqual([]);
      if (yaml.includes('nodeAddress')) expect(new Set(blocks)).toEqual(new Set(['192.168.1.50/32']));
      else expect(blocks.every((b: string) => ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16'].some((l) => contains(l, b)))).toBe(true);
      expect(run(yaml, objs)).toEqual([]);
    });
  }

  it('fails on the API-server port among the agents\' internet ports', () => {
    expect(synthError('network:\n  apiServerPort: 7443\n  internetEgressPorts: [443, 7443]\n')).toContain(
      "network.internetEgressPorts[1]: 7443 is the API server's port (network.apiServerPort): only the pods that talk to the API server may reach it, and only on the node; remove it",
    );
  });

  const np = (egress: unknown[]) => ({ apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'x', namespace: 'ci' }, spec: { podSelector: {}, policyTypes: ['Egress'], egress } });
  it('fails on the API-server port open to every address outside the cluster (the old rule without nodeAddress)', () => {
    const findings = run('', [np([{ to: [{ ipBlock: { cidr: '0.0.0.0/0', except: ['10.42.0.0/16', '10.43.0.0/16'] } }], ports: [{ protocol: 'TCP', port: 6443 }] }])]);
    expect(findings.map((f) => `${f.rule} ${f.path}: ${f.message}`)).toEqual([
      'network-api-server spec.egress[0].to[0].ipBlock: admits port 6443 (the API server) on 0.0.0.0/0 except 10.42.0.0/16,10.43.0.0/16; only the node may be reached on it (10.0.0.0/8 except 10.42.0.0/16,10.43.0.0/16; 172.16.0.0/12 except ; 192.168.0.0/16 except )',
    ]);
  });

  it('fails on the LAN rule once cluster.nodeAddress is set, on rules without ports or destinations, and on port ranges', () => {
    const lan = { ipBlock: { cidr: '192.168.0.0/16' } };
    expect(run(pinned, [np([{ to: [lan], ports: [{ protocol: 'TCP', port: 6443 }] }])]).map((f) => f.path)).toEqual(['spec.egress[0].to[0].ipBlock']);
    expect(run('', [np([{ to: [{ ipBlock: { cidr: '203.0.113.0/24' } }] }])]).map((f) => f.path)).toEqual(['spec.egress[0].to[0].ipBlock']);
    expect(run('', [np([{ ports: [{ protocol: 'TCP', port: 6000, endPort: 7000 }] }])]).map((f) => f.path)).toEqual(['spec.egress[0]']);
    expect(run('', [np([{ to: [{ ipBlock: { cidr: '0.0.0.0/0' } }], ports: [{ protocol: 'TCP', port: 443 }] }, { ports: [{ protocol: 'UDP', port: 53 }] }])])).toEqual([]);
  });
});

describe('bootstrap preflight: the node address the API-server rule relies on', () => {
  const outside = (ip: string) =>
    `  - cluster.nodeAddress: unset, and the address k3s will use, ${ip}, is outside network.lanCidrs (10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16), the only addresses the API-server NetworkPolicy rule admits; set cluster.nodeAddress to the machine's LAN address, or add its network to network.lanCidrs\n`;
  /**
   * The problems the preflight's checking half reports for a machine whose default route has `nodeIp`
   * (its other facts are left empty: only this check's line is looked at).
   */
  function problems(nodeIp: string, yaml = ''): string {
    const text = ['set -e', `node_ip='${nodeIp}'`, 'has_address=no', checkScript(config(yaml), 'dgx')].join('\n');
    return spawnSync('sh', ['-c', text], { encoding: 'utf8' }).stderr;
  }

  it('accepts a default-route address inside network.lanCidrs', () => {
    for (const ip of ['10.0.0.1', '172.31.255.254', '192.168.1.50']) expect(problems(ip)).not.toContain('network.lanCidrs');
    expect(problems('203.0.113.7', 'network:\n  lanCidrs: ["203.0.113.0/24"]\n')).not.toContain('network.lanCidrs');
  });

  it('fails when cluster.nodeAddress is unset and the address k3s will use is outside network.lanCidrs', () => {
    for (const ip of ['203.0.113.7', '172.32.0.1', '192.169.0.1', '9.255.255.255']) expect(problems(ip)).toContain(outside(ip));
  });

  it('leaves that check out when cluster.nodeAddress is set (the rule then names it, and the preflight checks that the machine has it)', () => {
    const r = problems('203.0.113.7', 'cluster:\n  nodeAddress: 192.168.1.50\n');
    expect(r).toContain('  - cluster.nodeAddress: 192.168.1.50 is not an address of this machine; fix cluster.nodeAddress\n');
    expect(r).not.toContain('network.lanCidrs');
  });
});
