import { describe, expect, it } from 'vitest';
import { buildApp } from '../src/app.js';
import { Dns } from '../src/dns/dns.js';
import { config, findObject, objectsUnder } from './helpers.js';

const dir = 'infrastructure/configs/dns/';
const objs = objectsUnder(dir);
const override = (yaml = '') => findObject(objectsUnder(dir, yaml), 'ConfigMap', 'coredns-custom', 'kube-system').data['raibid.override'] as string;

describe('CoreDNS entries', () => {
  it('go into k3s’s coredns-custom ConfigMap as an override of the main server block', () => {
    const cm = findObject(objs, 'ConfigMap', 'coredns-custom', 'kube-system');
    expect(Object.keys(cm.data)).toEqual(['raibid.override']);
  });

  it('resolve gitea.<domain> to the Gitea LoadBalancer Service, answering for the asked name', () => {
    expect(override()).toContain(
      ['rewrite stop {', '  name regex ^gitea\\.dgx\\.local\\.$ gitea.infrastructure.svc.cluster.local.', '  answer name ^gitea\\.infrastructure\\.svc\\.cluster\\.local\\.$ gitea.dgx.local.', '}'].join('\n'),
    );
  });

  it('resolve redis.<domain> to the Redis Service', () => {
    expect(override()).toContain(
      ['rewrite stop {', '  name regex ^redis\\.dgx\\.local\\.$ redis.infrastructure.svc.cluster.local.', '  answer name ^redis\\.infrastructure\\.svc\\.cluster\\.local\\.$ redis.dgx.local.', '}'].join('\n'),
    );
  });

  it('follow cluster.domain and namespaces.infrastructure', () => {
    const text = override('cluster:\n  domain: lab.example\nnamespaces:\n  infrastructure: platform\n');
    expect(text).toContain('name regex ^gitea\\.lab\\.example\\.$ gitea.platform.svc.cluster.local.');
    expect(text).toContain('name regex ^redis\\.lab\\.example\\.$ redis.platform.svc.cluster.local.');
    expect(text).not.toContain('dgx');
  });

  it('point at Services that exist', () => {
    const c = config();
    const dns = buildApp(c).node.findChild('dns') as Dns;
    const services = objectsUnder('infrastructure/configs/').filter((o) => o.kind === 'Service').map((o) => `${o.metadata.name}.${o.metadata.namespace}.svc.cluster.local`);
    for (const e of dns.entries) expect(services).toContain(e.target);
  });

  it('request nothing', () => {
    expect((buildApp(config()).node.findChild('dns') as Dns).requests).toEqual({ cpuMillis: 0, memoryBytes: 0 });
  });

  it('matches the snapshot', () => {
    expect(objs).toMatchSnapshot();
  });
});
