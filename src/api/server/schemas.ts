/**
 * JSON Schemas of the REST surface. Fastify validates requests with them (unknown body fields are
 * refused) and @fastify/swagger turns them into the OpenAPI document at /openapi.json.
 */
import { JOB_EVENTS, JOB_STATUSES, STEP_STATUSES } from '../../jobs/record.js';

const error = {
  type: 'object',
  description: 'An error: a stable code and a message for people.',
  properties: { error: { type: 'string' }, message: { type: 'string' } },
  required: ['error', 'message'],
} as const;

export const errorResponses = { 400: error, 401: error, 403: error, 404: error, 409: error, 413: error, 503: error } as const;

const step = {
  type: 'object',
  properties: {
    name: { type: 'string' },
    status: { type: 'string', enum: [...STEP_STATUSES] },
    exitCode: { type: ['integer', 'null'] },
    durationMs: { type: 'integer' },
    reason: { type: 'string' },
  },
} as const;

export const jobSchema = {
  type: 'object',
  description: 'A job record.',
  properties: {
    id: { type: 'string' },
    repo: { type: 'string', description: 'owner/name' },
    cloneUrl: { type: 'string' },
    event: { type: 'string', enum: [...JOB_EVENTS] },
    ref: { type: 'string' },
    sha: { type: 'string' },
    pool: { type: 'string' },
    status: { type: 'string', enum: [...JOB_STATUSES] },
    attempt: { type: 'integer' },
    createdAt: { type: 'integer', description: 'ms since the epoch' },
    startedAt: { type: 'integer' },
    finishedAt: { type: 'integer' },
    durationMs: { type: 'integer' },
    agent: { type: 'string' },
    steps: { type: 'array', items: step },
    reason: { type: 'string' },
    image: { type: 'object', properties: { ref: { type: 'string' }, digest: { type: 'string' }, tags: { type: 'array', items: { type: 'string' } } } },
    cache: { type: 'object', properties: { hits: { type: 'integer' }, misses: { type: 'integer' }, hitRate: { type: ['number', 'null'] } } },
    cancelRequested: { type: 'string' },
    waiting: { type: 'string', description: 'Why a queued job is not running yet.' },
    pr: { type: 'string' },
    title: { type: 'string' },
    actor: { type: 'string' },
    retryOf: { type: 'string' },
    pipeline: { type: 'string' },
    url: { type: 'string', description: 'The job\'s log URL.' },
  },
} as const;

export const jobIdParams = {
  type: 'object',
  properties: { id: { type: 'string', pattern: '^[0-9a-z]{15}$', description: 'Job id' } },
  required: ['id'],
} as const;

export const listJobsQuery = {
  type: 'object',
  additionalProperties: false,
  properties: {
    status: { type: 'string', enum: [...JOB_STATUSES] },
    repo: { type: 'string', pattern: '^[^/\\s]+/[^/\\s]+$', description: 'owner/name' },
    ref: { type: 'string', minLength: 1, maxLength: 255, description: 'branch, tag or full ref' },
    pool: { type: 'string', minLength: 1, maxLength: 63 },
    limit: { type: 'integer', minimum: 1, maximum: 200, default: 50 },
    cursor: { type: 'string', pattern: '^[0-9a-z]{15}$', description: 'the `next` of the previous page' },
  },
} as const;

export const createJobBody = {
  type: 'object',
  additionalProperties: false,
  properties: {
    repo: { type: 'string', pattern: '^[^/\\s]+/[^/\\s]+$', description: 'owner/name in Gitea' },
    ref: { type: 'string', minLength: 1, maxLength: 255, description: 'Branch, tag or full ref. Default: the repository\'s default branch.' },
    sha: { type: 'string', pattern: '^[0-9a-f]{40}([0-9a-f]{24})?$', description: 'Commit to run (instead of ref).' },
    pool: { type: 'string', minLength: 1, maxLength: 63, description: 'Pool. Default: the pipeline file\'s, else the default pool.' },
  },
  required: ['repo'],
} as const;

export const logsQuery = {
  type: 'object',
  additionalProperties: false,
  properties: {
    follow: { type: 'boolean', description: 'Stream as Server-Sent Events until the job ends (also with Accept: text/event-stream).' },
    after: { type: 'string', pattern: '^\\d+-\\d+$', description: 'Resume after this entry id (like Last-Event-ID).' },
  },
} as const;

export const triggerResponse = {
  type: 'object',
  properties: {
    queued: { type: 'boolean' },
    duplicate: { type: 'boolean' },
    id: { type: 'string' },
    pool: { type: 'string' },
    url: { type: 'string' },
    reason: { type: 'string' },
  },
  required: ['queued'],
} as const;

export const poolSchema = {
  type: 'object',
  properties: {
    name: { type: 'string' },
    mode: { type: 'string' },
    stream: { type: 'string' },
    lag: { type: ['integer', 'null'], description: 'Entries not yet delivered (null: Redis cannot tell).' },
    pending: { type: 'integer', description: 'Delivered, not yet acknowledged.' },
    running: { type: 'integer', description: 'Jobs agents report running.' },
    dead: { type: 'integer', description: 'Dead letters.' },
    agents: { type: 'integer' },
    planned: { type: ['integer', 'null'], description: 'Most agents the capacity plan gives the pool (null: not in the settings file).' },
  },
} as const;

const figures = (unit: string) =>
  ({
    type: 'object',
    properties: {
      [`capacity${unit}`]: { type: 'integer', description: 'The machine in all.' },
      [`allocatable${unit}`]: { type: 'integer', description: 'What pods may request: the machine less the reservations of raibid.yaml `node`.' },
      [`used${unit}`]: { type: unit === 'Millis' ? ['integer', 'null'] : 'integer', description: 'In use on the machine now, by pods and everything else.' },
    },
  }) as const;

export const clusterSchema = {
  type: 'object',
  properties: {
    name: { type: ['string', 'null'], description: 'cluster.name of raibid.yaml.' },
    node: {
      type: ['object', 'null'],
      description: 'The node the API runs on (null: its /proc cannot be read). CPU in millicores (usedMillis null until two samples a second apart), memory in bytes.',
      properties: { cpu: figures('Millis'), memory: figures('Bytes') },
    },
    agents: {
      type: 'object',
      properties: {
        running: { type: 'integer', description: 'Agents with a live heartbeat.' },
        planned: { type: ['integer', 'null'], description: 'Agents the capacity plan allows in all (null: unknown for some pool).' },
      },
    },
    pools: {
      type: 'array',
      items: { type: 'object', properties: { name: { type: 'string' }, mode: { type: 'string' }, agents: { type: 'integer' }, planned: { type: ['integer', 'null'] } } },
    },
  },
} as const;

export const agentSchema = {
  type: 'object',
  properties: {
    name: { type: 'string' },
    pool: { type: 'string' },
    mode: { type: 'string' },
    state: { type: 'string' },
    slots: { type: 'integer' },
    busy: { type: 'integer' },
    free: { type: 'integer' },
    jobs: { type: 'array', items: { type: 'string' } },
    startedAt: { type: 'integer' },
    lastSeen: { type: 'integer' },
    version: { type: 'string' },
  },
} as const;
