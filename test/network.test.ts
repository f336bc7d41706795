import { Chart, Testing } from 'cdk8s';
import { describe, expect, it } from 'vitest';
import { allowTraffic, contains, kubernetesServiceIp, type AllowTrafficProps } from '../src/network/policy.js';
import { config } from './helpers.js';

function policy(props: Omit<AllowTrafficProps, 'config' | 'name' | 'namespace' | 'pods'>, yaml = ''): Record<string, any> {
  const chart = new Chart(Testing.app(), 'test');
  allowTraffic(chart, 'p', { config: config(yaml), name: 'p', namespace: 'ci', pods: { app: 'x' }, ...props });
  return chart.toJson()[0].spec;
}

describe('allowTraffic', () => {
  it('lets pods reach the API server through the kubernetes Service and the node port only', () => {
    const spec = policy({ egress: [{ peers: [{ apiServer: true }], ports: [1] }] });
    expect(spec.egress).toEqual([
      { to: [{ ipBlock: { cidr: '0.0.0.0/0', except: ['10.42.0.0/16', '10.43.0.0/16'] } }], ports: [{ protocol: 'TCP', port: 6443 }] },
      { to: [{ ipBlock: { cidr: '10.43.0.1/32' } }], ports: [{ protocol: 'TCP', port: 443 }] },
    ]);
  });

  it('narrows the API server to the node when its address is configured', () => {
    const spec = policy({ egress: [{ peers: [{ apiServer: true }], ports: [] }] }, 'cluster:\n  nodeAddress: 192.168.1.50\n');
    expect(spec.egress[0].to).toEqual([{ ipBlock: { cidr: '192.168.1.50/32' } }]);
  });

  it('admits the API server (host network) on the flow ports for ingress', () => {
    const spec = policy({ ingress: [{ peers: [{ apiServer: true }], ports: [9443] }] }, 'cluster:\n  nodeAddress: 192.168.1.50\n');
    expect(spec.ingress).toEqual([{ from: [{ ipBlock: { cidr: '192.168.1.50/32' } }], ports: [{ protocol: 'TCP', port: 9443 }] }]);
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
