/** Process entry of the raibid command: runs main() and exits with its code. */
import { main } from './main.js';

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    console.error(`raibid: ${(e as Error)?.message ?? String(e)}`);
    process.exit(1);
  },
);
