/**
 * `raibid tui`: the dashboard. One ink component tree, laid out to the terminal's size (one row is left
 * free so ink updates lines in place instead of clearing the screen), with every key handled here:
 *
 *   ↑/↓ j/k move · PgUp/PgDn · g/G first/last · Enter job detail · Esc back · c cancel (confirm)
 *   R retry · n new job (repo, then ref) · / filter (status, owner/name or text) · Tab/Shift+Tab views
 *   r refresh · + / - scale the selected pool (Pools view; confirm) · q or Ctrl+C quit
 *
 * The UI state lives in a ref so that keys typed faster than a redraw each see the state the previous
 * key left; data comes from the Poller, which refreshes in the background.
 */
import { createElement as h, useEffect, useReducer, useRef, useState, useSyncExternalStore, type ReactNode } from 'react';
import { Box, Text, useApp, useInput, useStdout, type Key } from 'ink';
import { ApiClientError, type ApiClient, type ApiJob } from '../client.js';
import { branchOf, ENDED } from '../format.js';
import type { ScaleResult } from '../scale.js';
import { JobDetail, logRowsFor, useJob, useJobLog } from './detail.js';
import { describeFilter, parseFilter, type Poller, type Snapshot } from './poller.js';
import { AgentsTable, Footer, Header, JobsTable, PoolsTable, Report, Tabs, VIEWS, type KeyHint, type View } from './views.js';

/** What the dashboard may do to raibid.yaml: present only when a checkout was found. */
export interface Scaler {
  readonly root: string;
  /** The pool's maxReplicas as a number (a number in raibid.yaml, or CAPACITY.md's plan for auto). */
  current(pool: string): number;
  /** Runs `raibid scale`'s code; `onSynth` receives a function that stops synth (raibid.yaml is then restored). */
  run(pool: string, to: number, onSynth?: (stop: () => void) => void): Promise<ScaleResult>;
  /** Planned agents per pool (CAPACITY.md), for the header and the Pools view. */
  plan(): ReadonlyMap<string, number> | undefined;
}

export interface AppProps {
  readonly poller: Poller;
  readonly client: ApiClient;
  /** Shown in the header: the API's host. */
  readonly cluster: string;
  readonly now?: () => number;
  readonly scaler?: Scaler;
  /** Why there is no scaler (no checkout found …), said when + or - is pressed. */
  readonly noScaler?: string;
}

type Modal =
  | { readonly kind: 'confirm-cancel'; readonly job: ApiJob }
  | { readonly kind: 'confirm-scale'; readonly pool: string; readonly from: number; readonly to: number }
  | { readonly kind: 'filter'; readonly value: string; readonly error?: string }
  | { readonly kind: 'new-repo'; readonly value: string; readonly error?: string }
  | { readonly kind: 'new-ref'; readonly repo: string; readonly value: string; readonly error?: string }
  | { readonly kind: 'busy'; readonly text: string };

type Tone = 'ok' | 'error' | 'info';

interface Ui {
  view: View;
  /** Selected row per view, and the selected job's id (kept when new jobs arrive above it). */
  sel: Record<View, number>;
  selJob?: string;
  top: Record<View, number>;
  detail?: string;
  /** Log lines scrolled back from the end (0: following). */
  scroll: number;
  modal?: Modal;
  flash?: { readonly text: string; readonly tone: Tone };
  report?: { readonly title: string; readonly lines: readonly string[]; readonly tone: 'ok' | 'error' };
}

function useSize(): { columns: number; rows: number } {
  const { stdout } = useStdout();
  const read = () => ({ columns: stdout.columns || 80, rows: stdout.rows || 24 });
  const [size, setSize] = useState(read);
  useEffect(() => {
    const onResize = () => setSize(read());
    stdout.on('resize', onResize);
    return () => void stdout.off('resize', onResize);
  }, [stdout]);
  return size;
}

const errorText = (e: unknown) => (e instanceof ApiClientError ? e.message : String((e as Error)?.message ?? e));

export function App(props: AppProps): ReactNode {
  const { poller, client } = props;
  const now = (props.now ?? Date.now)();
  const { exit } = useApp();
  const { columns, rows } = useSize();
  const snap: Snapshot = useSyncExternalStore(poller.subscribe, () => poller.snapshot);
  const ui = useRef<Ui>({ view: 'jobs', sel: { jobs: 0, agents: 0, pools: 0 }, top: { jobs: 0, agents: 0, pools: 0 }, scroll: 0 });
  const [, redraw] = useReducer((n: number) => n + 1, 0);
  const [plan, setPlan] = useState(() => props.scaler?.plan());
  const stopSynth = useRef<(() => void) | undefined>(undefined);
  const update = (fn: (u: Ui) => void) => {
    fn(ui.current);
    redraw();
  };

  useEffect(() => {
    poller.start();
    return () => poller.stop();
  }, [poller]);

  const u = ui.current;
  const detail = useJob(client, u.detail, snap.generation, u.detail ? snap.jobs.find((j) => j.id === u.detail) : undefined);
  const log = useJobLog(client, u.detail);

  // Layout: header 2, tabs 1, body, footer 2, and the last row left free.
  const width = Math.max(20, columns);
  const bodyHeight = Math.max(3, rows - 1 - 2 - 1 - 2);
  // What this render knows, for a key handled before ink has swapped in this render's handler.
  const live = useRef({ detail, log, bodyHeight, now });
  live.current = { detail, log, bodyHeight, now };

  // The selected job stays selected when newer jobs arrive above it.
  const jobs = snap.jobs;
  if (u.selJob) {
    const i = jobs.findIndex((j) => j.id === u.selJob);
    if (i >= 0) u.sel.jobs = i;
  }
  const lengths: Record<View, number> = { jobs: jobs.length, agents: snap.agents.length, pools: snap.pools.length };
  for (const v of VIEWS) {
    u.sel[v] = Math.max(0, Math.min(u.sel[v], lengths[v] - 1));
    const visible = bodyHeight - 1;
    if (u.sel[v] < u.top[v]) u.top[v] = u.sel[v];
    if (u.sel[v] >= u.top[v] + visible) u.top[v] = u.sel[v] - visible + 1;
    u.top[v] = Math.max(0, Math.min(u.top[v], Math.max(0, lengths[v] - visible)));
  }

  const flash = (text: string, tone: Tone = 'info') => update((s) => void (s.flash = { text, tone }));
  const act = async (what: () => Promise<string>) => {
    try {
      flash(await what(), 'ok');
    } catch (e) {
      flash(errorText(e), 'error');
    }
    void poller.refresh();
  };

  const startScale = (delta: number) => {
    if (!props.scaler) return flash(props.noScaler ?? 'scaling needs a raibid-ci checkout', 'error');
    const pool = poller.snapshot.pools[u.sel.pools];
    if (u.view !== 'pools' || !pool) return flash('select a pool in the Pools view (Tab) to scale it', 'info');
    let from: number;
    try {
      from = props.scaler.current(pool.name);
    } catch (e) {
      return flash(errorText(e), 'error');
    }
    const to = from + delta;
    if (to < 1) return flash(`pool ${pool.name} is at ${from}; maxReplicas is at least 1 (idle pools scale to zero by themselves)`, 'error');
    update((s) => void (s.modal = { kind: 'confirm-scale', pool: pool.name, from, to }));
  };

  const runScale = (pool: string, to: number) => {
    const scaler = props.scaler!;
    update((s) => void (s.modal = { kind: 'busy', text: `editing raibid.yaml and running synth for pool ${pool}…` }));
    scaler.run(pool, to, (stop) => (stopSynth.current = stop)).then(
      (r) =>
        update((s) => {
          stopSynth.current = undefined;
          s.modal = undefined;
          s.flash = { text: r.summary, tone: r.ok ? 'ok' : 'error' };
          s.report = r.ok
            ? { title: r.summary, tone: 'ok', lines: ['Commit and push to apply it (raibid never commits; Flux applies what is in Git):', ...r.commit, '', ...r.diff, '', ...r.synth.map((l) => `synth: ${l}`)] }
            : { title: r.summary, tone: 'error', lines: [...r.synth, '', 'raibid.yaml is unchanged.'] };
          setPlan(scaler.plan());
        }),
      (e: unknown) =>
        update((s) => {
          stopSynth.current = undefined;
          s.modal = undefined;
          s.flash = { text: errorText(e), tone: 'error' };
        }),
    );
  };

  const onPrompt = (input: string, key: Partial<Key>, m: Extract<Modal, { value: string }>) => {
    if (key.escape) return update((s) => void (s.modal = undefined));
    if (key.return) {
      const value = m.value.trim();
      if (m.kind === 'filter') {
        update((s) => {
          s.modal = undefined;
          s.sel.jobs = 0;
          s.selJob = undefined;
          s.flash = undefined;
        });
        return poller.setFilter(parseFilter(value));
      }
      if (m.kind === 'new-repo') {
        if (!/^[^/\s]+\/[^/\s]+$/.test(value)) return update((s) => void (s.modal = { ...m, error: 'expected owner/name' }));
        return update((s) => void (s.modal = { kind: 'new-ref', repo: value, value: '' }));
      }
      update((s) => void (s.modal = undefined));
      return void act(async () => {
        const r = await client.run({ repo: m.repo, ref: value || undefined });
        if (r.queued) return `queued job ${r.id} for ${m.repo}${value ? ` ${value}` : ''} on pool ${r.pool}`;
        throw new Error(r.id ? `job ${r.id} ended in error: ${r.reason}` : `nothing was queued: ${r.reason}`);
      });
    }
    if (key.backspace || key.delete) return update((s) => void (s.modal = { ...m, value: [...m.value].slice(0, -1).join(''), error: undefined }));
    if (input && !key.ctrl && !key.meta && !/[\x00-\x1f\x7f]/.test(input)) update((s) => void (s.modal = { ...m, value: m.value + input, error: undefined }));
  };

  // Over a slow link several keys arrive in one read, and ink hands plain text over as one string
  // ("jj", "/failure\r"): take it one key at a time.
  useInput((input, key) => {
    if (input.length > 1 && !input.includes('\x1b')) {
      for (const ch of input) handle(ch, { return: ch === '\r' || ch === '\n', tab: ch === '\t', backspace: ch === '\x7f' || ch === '\b', ctrl: false });
      return;
    }
    handle(input, key);
  });

  function handle(input: string, key: Partial<Key>): void {
    // Keys can arrive faster than redraws: read the data as it is now, not as the last render saw it.
    const snap = poller.snapshot;
    const jobs = snap.jobs;
    const lengths: Record<View, number> = { jobs: jobs.length, agents: snap.agents.length, pools: snap.pools.length };
    if (u.selJob) {
      const i = jobs.findIndex((j) => j.id === u.selJob);
      if (i >= 0) u.sel.jobs = i;
    }
    const move = (v: View, to: number) => {
      const n = lengths[v];
      if (n === 0) return;
      const i = Math.max(0, Math.min(n - 1, to));
      u.sel[v] = i;
      if (v === 'jobs') {
        u.selJob = jobs[i]?.id;
        // Near the end of what is loaded: load older jobs.
        if (i >= n - 5 && snap.more) poller.loadMore();
      }
    };
    const { detail, log, bodyHeight, now } = live.current;
    const selectedJob = (): ApiJob | undefined => (u.detail ? (detail.job ?? jobs.find((j) => j.id === u.detail)) : jobs[u.sel.jobs]);
    const m = u.modal;
    if (m?.kind === 'busy') {
      // Leaving now would leave raibid.yaml edited: Ctrl+C stops synth, which puts raibid.yaml back.
      if (key.ctrl && input === 'c' && stopSynth.current) {
        stopSynth.current();
        update((s) => void (s.modal = { kind: 'busy', text: 'stopping synth; raibid.yaml is put back…' }));
      }
      return;
    }
    if (key.ctrl && input === 'c') return exit();
    if (m?.kind === 'filter' || m?.kind === 'new-repo' || m?.kind === 'new-ref') return onPrompt(input, key, m);
    if (m?.kind === 'confirm-cancel' || m?.kind === 'confirm-scale') {
      update((s) => void (s.modal = undefined));
      if (input !== 'y' && input !== 'Y') return flash('not confirmed; nothing changed');
      if (m.kind === 'confirm-scale') return runScale(m.pool, m.to);
      return void act(async () => {
        const r = await client.cancel(m.job.id);
        return r.outcome === 'cancelled' ? `cancelled job ${m.job.id}` : `cancel requested; ${m.job.agent ?? 'its agent'} stops job ${m.job.id} shortly`;
      });
    }
    if (input === 'q') return exit();
    if (u.report) {
      // Any key closes the report; only q (above) also quits.
      return update((s) => {
        s.report = undefined;
      });
    }
    if (u.flash) update((s) => void (s.flash = undefined));

    if (u.detail) {
      const rowsShown = logRowsFor(detail.job, bodyHeight, now);
      const max = Math.max(0, log.lines.length - rowsShown);
      const scrollTo = (n: number) => update((s) => void (s.scroll = Math.max(0, Math.min(max, n))));
      if (key.escape || key.leftArrow || key.backspace) return update((s) => void ((s.detail = undefined), (s.scroll = 0)));
      if (key.upArrow || input === 'k') return scrollTo(u.scroll + 1);
      if (key.downArrow || input === 'j') return scrollTo(u.scroll - 1);
      if (key.pageUp) return scrollTo(u.scroll + rowsShown - 1);
      if (key.pageDown || input === ' ') return scrollTo(u.scroll - rowsShown + 1);
      if (key.home || input === 'g') return scrollTo(max);
      if (key.end || input === 'G' || input === 'f') return scrollTo(0);
    } else {
      const v = u.view;
      const page = bodyHeight - 2;
      if (key.tab) return update((s) => void (s.view = VIEWS[(VIEWS.indexOf(s.view) + (key.shift ? VIEWS.length - 1 : 1)) % VIEWS.length]));
      if (key.upArrow || input === 'k') return update(() => move(v, u.sel[v] - 1));
      if (key.downArrow || input === 'j') return update(() => move(v, u.sel[v] + 1));
      if (key.pageUp) return update(() => move(v, u.sel[v] - page));
      if (key.pageDown) return update(() => move(v, u.sel[v] + page));
      if (key.home || input === 'g') return update(() => move(v, 0));
      if (key.end || input === 'G') return update(() => move(v, lengths[v] - 1));
      if (input === '/') return update((s) => void (s.modal = { kind: 'filter', value: [snap.filter.status, snap.filter.repo, snap.filter.text].filter(Boolean).join(' ') }));
      if (input === '+' || input === '=') return startScale(1);
      if (input === '-' || input === '_') return startScale(-1);
      if (key.return) {
        if (v === 'jobs' && jobs[u.sel.jobs]) return update((s) => void ((s.detail = jobs[u.sel.jobs].id), (s.scroll = 0)));
        if (v === 'agents') {
          const a = snap.agents[u.sel.agents];
          if (a?.jobs[0]) return update((s) => void ((s.detail = a.jobs[0]), (s.scroll = 0)));
          return flash(a ? `agent ${a.name} runs no job` : 'no agent selected');
        }
        return;
      }
    }
    if (input === 'n') return update((s) => void (s.modal = { kind: 'new-repo', value: '' }));
    if (input === 'r') return void poller.refresh();
    if (input === 'c' || input === 'R') {
      const job = u.detail || u.view === 'jobs' ? selectedJob() : undefined;
      if (!job) return flash(u.view === 'jobs' || u.detail ? 'no job selected' : 'cancel and retry act on jobs: Tab to the Jobs view');
      if (input === 'c') {
        if (ENDED.includes(job.status)) return flash(`job ${job.id} has already ended (${job.status}); R retries it`, 'error');
        return update((s) => void (s.modal = { kind: 'confirm-cancel', job }));
      }
      if (!ENDED.includes(job.status)) return flash(`job ${job.id} is still ${job.status}; c cancels it`, 'error');
      return void act(async () => {
        const r = await client.retry(job.id);
        if (r.queued) return `queued job ${r.id} (retry of ${job.id}) on pool ${r.pool}`;
        throw new Error(r.reason ?? 'nothing was queued');
      });
    }
  }

  // ---- render
  let body: ReactNode;
  let tabsRight = '';
  if (u.report) {
    body = h(Report, { ...u.report, height: bodyHeight, width });
    tabsRight = 'any key closes';
  } else if (u.detail) {
    body = h(JobDetail, { job: detail.job, error: detail.error, log, scroll: u.scroll, height: bodyHeight, width, now });
    tabsRight = 'Esc back';
  } else if (u.view === 'jobs') {
    const filter = describeFilter(snap.filter);
    const empty = !snap.loaded ? (snap.conn.state === 'connecting' ? 'Loading jobs…' : 'Waiting for the API…') : filter ? `No jobs match ${filter}. Press / to change the filter.` : 'No jobs yet. Push to a repository with the webhook, or press n to run one.';
    body = h(JobsTable, { jobs, selected: u.sel.jobs, top: u.top.jobs, height: bodyHeight, width, now, empty });
    const shown = jobs.length ? `${u.top.jobs + 1}–${Math.min(jobs.length, u.top.jobs + bodyHeight - 1)} of ${jobs.length}${snap.more ? '+' : ''}` : '';
    tabsRight = [filter && `filter: ${filter}`, shown].filter(Boolean).join(' · ');
  } else if (u.view === 'agents') {
    body = h(AgentsTable, { agents: snap.agents, selected: u.sel.agents, top: u.top.agents, height: bodyHeight, width, now });
    tabsRight = `${snap.agents.length} agent${snap.agents.length === 1 ? '' : 's'}`;
  } else {
    body = h(PoolsTable, { pools: snap.pools, history: snap.history, plan, selected: u.sel.pools, top: u.top.pools, height: bodyHeight, width, now });
    tabsRight = plan ? `plan: ${props.scaler?.root}` : 'plan: no checkout';
  }

  const m = u.modal;
  let status: ReactNode;
  const prompt = (label: string, value: string, error?: string) => h(Text, { wrap: 'truncate-start' }, h(Text, { bold: true, color: 'cyan' }, label), value, h(Text, { inverse: true }, ' '), error ? h(Text, { color: 'red' }, `  ${error}`) : '');
  if (m?.kind === 'filter') status = prompt('filter (status, owner/name or text; empty clears): ', m.value, m.error);
  else if (m?.kind === 'new-repo') status = prompt('new job · repository (owner/name): ', m.value, m.error);
  else if (m?.kind === 'new-ref') status = prompt(`new job · ${m.repo} · branch, tag or commit (empty: default branch): `, m.value, m.error);
  else if (m?.kind === 'confirm-cancel') status = h(Text, { wrap: 'truncate-end', color: 'yellow', bold: true }, `Cancel job ${m.job.id} (${m.job.repo} ${branchOf(m.job)}, ${m.job.status})? y/N`);
  else if (m?.kind === 'confirm-scale') status = h(Text, { wrap: 'truncate-end', color: 'yellow', bold: true }, `Scale pool ${m.pool} from ${m.from} to ${m.to} agents (raibid.yaml + synth; no commit)? y/N`);
  else if (m?.kind === 'busy') status = h(Text, { wrap: 'truncate-end', color: 'yellow' }, m.text);
  else if (u.flash) status = h(Text, { wrap: 'truncate-end', color: u.flash.tone === 'error' ? 'red' : u.flash.tone === 'ok' ? 'green' : undefined }, u.flash.text);
  else status = h(Text, { wrap: 'truncate-end', color: 'gray' }, props.scaler || u.view !== 'pools' ? ' ' : (props.noScaler ?? ' '));

  const keys: KeyHint[] = m
    ? m.kind === 'confirm-cancel' || m.kind === 'confirm-scale'
      ? [{ key: 'y', action: 'yes' }, { key: 'any other key', action: 'no' }]
      : m.kind === 'busy'
        ? [{ key: 'Ctrl+C', action: 'stop synth' }]
        : [{ key: 'Enter', action: 'accept' }, { key: 'Esc', action: 'cancel' }]
    : u.report
      ? [{ key: 'any key', action: 'close' }, { key: 'q', action: 'quit' }]
      : u.detail
        ? [{ key: '↑↓', action: 'scroll' }, { key: 'End', action: 'follow' }, { key: 'c', action: 'cancel' }, { key: 'R', action: 'retry' }, { key: 'Esc', action: 'back' }, { key: 'q', action: 'quit' }, { key: 'PgUp/PgDn', action: 'page' }, { key: 'n', action: 'new job' }]
        : u.view === 'pools'
          ? [{ key: '↑↓', action: 'move' }, { key: '+/-', action: 'scale' }, { key: 'Tab', action: 'view' }, { key: 'r', action: 'refresh' }, { key: 'n', action: 'new job' }, { key: 'q', action: 'quit' }]
          : u.view === 'agents'
            ? [{ key: '↑↓', action: 'move' }, { key: '⏎', action: 'its job' }, { key: 'Tab', action: 'view' }, { key: 'r', action: 'refresh' }, { key: 'n', action: 'new job' }, { key: 'q', action: 'quit' }]
            : [{ key: '↑↓', action: 'move' }, { key: '⏎', action: 'open' }, { key: 'c', action: 'cancel' }, { key: 'R', action: 'retry' }, { key: 'n', action: 'new' }, { key: '/', action: 'filter' }, { key: 'Tab', action: 'view' }, { key: 'r', action: 'refresh' }, { key: 'q', action: 'quit' }];

  return h(
    Box,
    { flexDirection: 'column', width, height: rows - 1 },
    h(Header, { cluster: props.cluster, snap, plan, width, now }),
    h(Tabs, { view: u.view, width, right: tabsRight, detail: u.detail }),
    body,
    h(Footer, { status, keys, width }),
  );
}
