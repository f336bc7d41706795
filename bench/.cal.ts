import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { cargoWorkspace } from './cargo-fixture.ts';
const dir = process.argv[2];
const f = cargoWorkspace(Number(process.argv[3] ?? 8), Number(process.argv[4] ?? 6));
for (const [p, t] of Object.entries(f)) { mkdirSync(dirname(join(dir, p)), { recursive: true }); writeFileSync(join(dir, p), t); }
console.log(Object.values(f).reduce((n, t) => n + t.split('\n').length, 0), 'lines');
