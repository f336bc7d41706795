#!/usr/bin/env node
// The raibid command from a checkout: runs the TypeScript sources through tsx. The images run the
// esbuild bundle of the same entry point (src/cli/entry.ts) instead.
import { register } from 'tsx/esm/api';

register();
await import('../src/cli/entry.ts');
