/** The log format's batching: chunks never exceed LOG_BATCH_BYTES, and a chunked burst reads back whole. */
import { describe, expect, it } from 'vitest';
import { chunkText, LOG_BATCH_BYTES } from '../src/jobs/log.js';

describe('chunkText', () => {
  it('cuts a burst of lines at line ends into chunks of at most LOG_BATCH_BYTES bytes, losing nothing', () => {
    const text = Array.from({ length: 20_000 }, (_, i) => `line ${i} ${'é'.repeat(i % 50)}`).join('\n');
    const chunks = chunkText(text);
    expect(chunks.every((c) => Buffer.byteLength(c) <= LOG_BATCH_BYTES)).toBe(true);
    expect(chunks.join('\n')).toBe(text);
  });

  it('cuts a line longer than a chunk where it must, and leaves short text alone', () => {
    const chunks = chunkText(`a\n${'x'.repeat(20_000)}\nb`);
    expect(chunks.every((c) => Buffer.byteLength(c) <= LOG_BATCH_BYTES)).toBe(true);
    expect(chunks.join('').replaceAll('\n', '')).toBe(`a${'x'.repeat(20_000)}b`);
    expect(chunkText('short')).toEqual(['short']);
  });
});
