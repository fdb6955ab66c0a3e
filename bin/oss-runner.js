#!/usr/bin/env node
// `npx oss-runner`: runs the command-line client built into dist/server (`npm run build:server`),
// building it first in a checkout where it is not built yet (docs/cli.md).
import { execFileSync } from 'node:child_process';
import process from 'node:process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const built = new URL('../dist/server/oss-runner.js', import.meta.url);
if (!existsSync(built)) execFileSync(process.execPath, [fileURLToPath(new URL('../server/build.ts', import.meta.url))], { stdio: ['ignore', 'ignore', 'inherit'] });
await import(built.href);
