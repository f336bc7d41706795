/**
 * The dashboard's pieces, each a small ink component: the header (cluster, connection, the node's CPU
 * and memory in use against allocatable, agents against the plan, queue), the view tabs, the jobs,
 * agents and pools tables, the report panel and the footer.
 * Rows are single lines cut to the terminal's width (never wrapped), so the layout holds at 80×24.
 */
import { createElement as h, type ReactNode } from 'react';
import { Box, Text } from 'ink';
import type { ApiAgent, ApiJob, ApiPool } from '../client.js';
import { branchOf, fit, formatAgo, formatDuration, jobDurationMs, statusColor, statusSymbol } from '../format.js';
import type { Connection, Snapshot } from './poller.js';
import { sparkline, type Sample } from './sparkline.js';

export type View = 'jobs' | 'agents' | 'pools';
export const VIEWS: readonly View[] = ['jobs', 'agents', 'pools'];

const pad = (s: string, w: number, right = false) => {
  const t = fit(s, w);
  const n = Math.max(0, w - [...t].length);
  return right ? ' '.repeat(n) + t : t + ' '.repeat(n);
};

/** The whole queue (every pool's lag summed) over time. */
export function totalHistory(history: ReadonlyMap<string, readonly Sample[]>): Sample[] {
  const byTime = new Map<number, number>();
  for (const samples of history.values()) for (const s of samples) byTime.set(s.t, (byTime.get(s.t) ?? 0) + s.value);
  return [...byTime].sort((a, b) => a[0] - b[0]).map(([t, value]) => ({ t, value }));
}

/** The connection in a few words (line 1) and, when it failed, why (line 2). */
function connectionText(c: Connection, now: number): { text: string; color: string; why?: string } {
  switch (c.state) {
    case 'connecting':
      return { text: '… connecting', color: 'gray' };
    case 'ok':
      return { text: '● live', color: 'green' };
    default: {
      const wait = Math.max(0, Math.ceil((c.retryAt - now) / 1000));
      const what = c.state === 'unauthorized' ? 'wrong token' : c.state === 'down' ? 'API unreachable' : 'API error';
      return { text: `✗ ${what} · retrying${wait ? ` in ${wait}s` : ''}`, color: 'red', why: c.message };
    }
  }
}

/** "3.2/18 cores", "41/118 GiB": in use against allocatable, and a colour when it is running short. */
function resourceText(used: number | null, allocatable: number, unit: 'cores' | 'GiB'): { text: string; color?: string } {
  const scale = unit === 'cores' ? 1000 : 2 ** 30;
  const show = (n: number) => (n / scale >= 10 ? String(Math.round(n / scale)) : (Math.round((n / scale) * 10) / 10).toFixed(1));
  if (used === null) return { text: `…/${show(allocatable)} ${unit}`, color: 'gray' };
  return { text: `${show(used)}/${show(allocatable)} ${unit}`, color: used > allocatable ? 'red' : used > allocatable * 0.85 ? 'yellow' : undefined };
}

export function Header(p: { cluster: string; snap: Snapshot; plan?: ReadonlyMap<string, number>; width: number; now: number }): ReactNode {
  const { snap, width } = p;
  const conn = connectionText(snap.conn, p.now);
  const name = snap.cluster?.name;
  const title = `raibid · ${name ? `${name} (${p.cluster})` : p.cluster}  `;
  const node = snap.cluster?.node;
  const cpu = node ? resourceText(node.cpu.usedMillis, node.cpu.allocatableMillis, 'cores') : undefined;
  const mem = node ? resourceText(node.memory.usedBytes, node.memory.allocatableBytes, 'GiB') : undefined;
  const line1 = h(
    Text,
    { wrap: 'truncate-end' },
    h(Text, { bold: true }, title),
    h(Text, { color: conn.color }, conn.text),
    ...(cpu && mem && !conn.why ? ['  cpu ', h(Text, { color: cpu.color }, cpu.text), ' · mem ', h(Text, { color: mem.color }, mem.text)] : []),
  );
  if (conn.why) return h(Box, { flexDirection: 'column', width }, line1, h(Text, { wrap: 'truncate-end', color: 'red' }, conn.why));
  const agents = snap.agents.length;
  const slots = snap.agents.reduce((n, a) => n + a.slots, 0);
  const busy = snap.agents.reduce((n, a) => n + a.busy, 0);
  // The API's plan (its settings file carries each pool's planned size); a checkout's CAPACITY.md otherwise.
  const planned = snap.cluster?.agents.planned ?? (p.plan ? snap.pools.reduce((n, pool) => n + (p.plan!.get(pool.name) ?? 0), 0) : undefined);
  const queued = snap.pools.reduce((n, pool) => n + (pool.lag ?? 0), 0);
  const dead = snap.pools.reduce((n, pool) => n + pool.dead, 0);
  const stats = [`agents ${agents}${planned ? ` of ${planned} planned` : ''}`, `slots ${busy}/${slots} busy`, `queued ${queued}`, `dead ${dead}`].join(' · ');
  const sparkWidth = Math.max(0, Math.min(30, width - stats.length - 10));
  return h(
    Box,
    { flexDirection: 'column', width },
    line1,
    h(
      Text,
      { wrap: 'truncate-end' },
      h(Text, { color: dead > 0 ? 'red' : undefined }, stats),
      sparkWidth >= 8 ? h(Text, { color: 'cyan' }, `  queue ${sparkline(totalHistory(snap.history), sparkWidth - 8, p.now)}`) : '',
    ),
  );
}

export function Tabs(p: { view: View; width: number; right: string; detail?: string }): ReactNode {
  const names: Record<View, string> = { jobs: 'Jobs', agents: 'Agents', pools: 'Pools' };
  const left = p.detail ? [h(Text, { key: 'd', bold: true, inverse: true }, ` Job ${p.detail} `)] : VIEWS.map((v) => h(Text, { key: v, bold: v === p.view, inverse: v === p.view, color: v === p.view ? undefined : 'gray' }, ` ${names[v]} `));
  const used = p.detail ? p.detail.length + 6 : VIEWS.reduce((n, v) => n + names[v].length + 2, 0);
  return h(Text, { wrap: 'truncate-end' }, ...left, h(Text, { color: 'gray' }, pad(p.right, Math.max(0, p.width - used), true)));
}

interface JobColumns {
  repo: number;
  branch: number;
  agent: number;
  created: number;
}

function jobColumns(width: number): JobColumns {
  const created = width >= 110 ? 9 : 0;
  const flexible = Math.max(12, width - 15 - 11 - 8 - 5 - (created ? created + 1 : 0));
  const repo = Math.floor(flexible * 0.4);
  const branch = Math.floor(flexible * 0.28);
  return { repo, branch, agent: flexible - repo - branch, created };
}

export function JobsTable(p: { jobs: readonly ApiJob[]; selected: number; top: number; height: number; width: number; now: number; empty: string }): ReactNode {
  const c = jobColumns(p.width);
  const header = `${pad('ID', 15)} ${pad('STATUS', 11)} ${pad('REPO', c.repo)} ${pad('BRANCH', c.branch)} ${pad('DURATION', 8, true)} ${pad('AGENT', c.agent)}${c.created ? ` ${pad('CREATED', c.created)}` : ''}`;
  const rows: ReactNode[] = [];
  if (p.jobs.length === 0) rows.push(h(Text, { key: 'empty', color: 'gray', wrap: 'truncate-end' }, p.empty));
  for (let i = p.top; i < Math.min(p.jobs.length, p.top + p.height - 1); i++) {
    const j = p.jobs[i];
    const selected = i === p.selected;
    rows.push(
      h(
        Text,
        { key: j.id, inverse: selected, wrap: 'truncate-end' },
        `${pad(j.id, 15)} `,
        h(Text, { color: statusColor(j.status) }, pad(`${statusSymbol(j.status)} ${j.status}`, 11)),
        ` ${pad(j.repo, c.repo)} ${pad(branchOf(j), c.branch)} ${pad(formatDuration(jobDurationMs(j, p.now)), 8, true)} ${pad(j.agent ?? '', c.agent)}${c.created ? ` ${pad(formatAgo(j.createdAt, p.now), c.created)}` : ''}`,
      ),
    );
  }
  return h(Box, { flexDirection: 'column', height: p.height, width: p.width }, h(Text, { bold: true, wrap: 'truncate-end' }, header), ...rows);
}

export function AgentsTable(p: { agents: readonly ApiAgent[]; selected: number; top: number; height: number; width: number; now: number }): ReactNode {
  // Fixed columns take 48 (with the spaces between); the name and the job ids share the rest.
  const name = Math.min(Math.max(12, p.width - 48 - 15), Math.max(17, Math.floor(p.width * 0.3)));
  const jobs = Math.max(8, p.width - 48 - name);
  const header = `${pad('AGENT', name)} ${pad('POOL', 10)} ${pad('MODE', 9)} ${pad('STATE', 8)} ${pad('BUSY', 7, true)} ${pad('JOBS', jobs)} ${pad('SEEN', 8)}`;
  const rows: ReactNode[] = [];
  if (p.agents.length === 0) rows.push(h(Text, { key: 'empty', color: 'gray', wrap: 'truncate-end' }, 'No agents with a live heartbeat. Ephemeral and direct pools start agents when jobs are queued.'));
  for (let i = p.top; i < Math.min(p.agents.length, p.top + p.height - 1); i++) {
    const a = p.agents[i];
    rows.push(
      h(
        Text,
        { key: a.name, inverse: i === p.selected, wrap: 'truncate-end' },
        `${pad(a.name, name)} ${pad(a.pool, 10)} ${pad(a.mode, 9)} `,
        h(Text, { color: a.state === 'busy' ? 'yellow' : a.state === 'idle' ? 'green' : 'gray' }, pad(a.state, 8)),
        ` ${pad(`${a.busy}/${a.slots}`, 7, true)} ${pad(a.jobs.join(' ') || '-', jobs)} ${pad(formatAgo(a.lastSeen, p.now), 8)}`,
      ),
    );
  }
  return h(Box, { flexDirection: 'column', height: p.height, width: p.width }, h(Text, { bold: true, wrap: 'truncate-end' }, header), ...rows);
}

export function PoolsTable(p: { pools: readonly ApiPool[]; history: ReadonlyMap<string, readonly Sample[]>; plan?: ReadonlyMap<string, number>; selected: number; top: number; height: number; width: number; now: number }): ReactNode {
  const fixed = 12 + 9 + 6 + 9 + 7 + 4 + 6 + 4 + 8;
  const spark = Math.max(4, p.width - fixed);
  const header = `${pad('POOL', 12)} ${pad('MODE', 9)} ${pad('QUEUED', 6, true)} ${pad('DELIVERED', 9, true)} ${pad('RUNNING', 7, true)} ${pad('DEAD', 4, true)} ${pad('AGENTS', 6, true)} ${pad('PLAN', 4, true)} ${pad('LAST 60 s', spark)}`;
  const rows: ReactNode[] = [];
  if (p.pools.length === 0) rows.push(h(Text, { key: 'empty', color: 'gray' }, 'No pools yet.'));
  for (let i = p.top; i < Math.min(p.pools.length, p.top + p.height - 1); i++) {
    const pool = p.pools[i];
    // A checkout's CAPACITY.md (what +/- edits), else what the running API was deployed with.
    const plan = p.plan?.get(pool.name) ?? pool.planned ?? undefined;
    rows.push(
      h(
        Text,
        { key: pool.name, inverse: i === p.selected, wrap: 'truncate-end' },
        `${pad(pool.name, 12)} ${pad(pool.mode, 9)} ${pad(pool.lag === null ? '?' : String(pool.lag), 6, true)} ${pad(String(pool.pending), 9, true)} ${pad(String(pool.running), 7, true)} `,
        h(Text, { color: pool.dead > 0 ? 'red' : undefined }, pad(String(pool.dead), 4, true)),
        ` ${pad(String(pool.agents), 6, true)} ${pad(plan === undefined ? '-' : String(plan), 4, true)} `,
        h(Text, { color: 'cyan' }, sparkline(p.history.get(pool.name) ?? [], spark, p.now)),
      ),
    );
  }
  const hint = p.plan ? '+/- changes the selected pool\'s maxReplicas in raibid.yaml (with a confirmation), runs synth and shows the commit to make.' : '';
  return h(Box, { flexDirection: 'column', height: p.height, width: p.width }, h(Text, { bold: true, wrap: 'truncate-end' }, header), ...rows, hint && p.pools.length + 3 <= p.height ? h(Text, { key: 'hint', color: 'gray', wrap: 'wrap' }, `\n${hint}`) : null);
}

/** A panel of lines (the result of `raibid scale`), shown in place of the table until a key is pressed. */
export function Report(p: { title: string; lines: readonly string[]; tone: 'ok' | 'error'; height: number; width: number }): ReactNode {
  const room = Math.max(0, p.height - 1);
  const shown = p.lines.length > room ? p.lines.slice(0, Math.max(0, room - 1)) : p.lines;
  const more = p.lines.length - shown.length;
  return h(
    Box,
    { flexDirection: 'column', height: p.height, width: p.width },
    h(Text, { bold: true, color: p.tone === 'ok' ? 'green' : 'red', wrap: 'truncate-end' }, p.title),
    ...shown.map((l, i) => h(Text, { key: i, wrap: 'truncate-end', color: l.startsWith('+') && !l.startsWith('+++') ? 'green' : l.startsWith('-') && !l.startsWith('---') ? 'red' : undefined }, l || ' ')),
    more > 0 ? h(Text, { color: 'gray' }, `… ${more} more lines`) : null,
  );
}

export interface KeyHint {
  readonly key: string;
  readonly action: string;
}

export function Footer(p: { status: ReactNode; keys: readonly KeyHint[]; width: number }): ReactNode {
  const parts: ReactNode[] = [];
  let used = 0;
  for (const [i, k] of p.keys.entries()) {
    const len = k.key.length + 1 + k.action.length + (i ? 2 : 0);
    if (used + len > p.width) break;
    used += len;
    parts.push(h(Text, { key: i }, i ? '  ' : '', h(Text, { bold: true, color: 'cyan' }, k.key), ` ${k.action}`));
  }
  return h(Box, { flexDirection: 'column', width: p.width }, h(Box, { width: p.width, height: 1 }, p.status), h(Text, { wrap: 'truncate-end' }, ...parts));
}
