/**
 * A tRPC WebSocket reader in a process of its own, as a user's client is (bench/readers.ts starts it
 * before the clock). It connects with the typed client and, once connected, prints "ready"; then,
 * one command per line on stdin:
 *
 * - `read <run id>`: keeps every line it receives and prints "done" after the run's end event;
 * - `check`: compares what the last run gave with the bench tool's lines (LINE) and prints
 *   `{"lines": n, "mismatches": m, "cpuMs": c}` (c: this process's CPU time while reading); asked
 *   once every reader is done, outside the measured time.
 *
 * Usage: node --import tsx bench/wsReader.ts <server url>   (BENCH_KEY: the credential)
 */
import { createInterface } from 'node:readline';
import { trpcClient } from '../server/test/harness';
import { LINE } from './cases';
import { followLog } from './readers';

const [url = ''] = process.argv.slice(2);
const { client, connected, close } = trpcClient(url, process.env.BENCH_KEY ?? null);
let batches: string[][] = [];
let cpuMs = 0;

async function read(runId: string): Promise<void> {
  batches = [];
  const before = process.cpuUsage();
  await followLog(client, runId, (lines) => batches.push(lines));
  const used = process.cpuUsage(before);
  cpuMs = (used.user + used.system) / 1000;
}

function check(): { lines: number; mismatches: number; cpuMs: number } {
  let lines = 0;
  let mismatches = 0;
  for (const batch of batches) for (const line of batch) if (line !== LINE(lines++)) mismatches++;
  batches = [];
  return { lines, mismatches, cpuMs };
}

await connected();
console.log('ready');
for await (const command of createInterface({ input: process.stdin })) {
  const [verb, arg = ''] = command.split(' ');
  if (verb === 'read') {
    await read(arg);
    console.log('done');
  } else if (verb === 'check') console.log(JSON.stringify(check()));
}
await close();
