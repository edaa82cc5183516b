// Entry point of the packaged `trivy` stand-in (bundled by ../package.ts with a node shebang).
import { main } from './main';

main(process.argv.slice(2)).then(
  (code) => process.stdout.write('', () => process.exit(code)),
  (error: unknown) => {
    process.stderr.write(`lab stand-in bug: ${(error as Error).stack ?? String(error)}\n`);
    process.exit(1);
  },
);
