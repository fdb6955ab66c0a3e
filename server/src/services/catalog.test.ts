/**
 * Catalog validation through the loader the server starts with (loadCatalogFile), on YAML written to
 * a temporary file: each refusal names the entry and the field. That start-up stops on such an error,
 * before it touches the database, is shown once against the real server (server/test/processes.test.ts).
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { CatalogError, loadCatalogFile } from './catalog';

/** The loader's refusal of `yaml`, as the message the server prints before it exits. */
function refusal(yaml: string): string {
  const file = path.join(mkdtempSync(path.join(tmpdir(), 'catalog-')), 'catalog.yaml');
  writeFileSync(file, yaml);
  try {
    loadCatalogFile(file);
  } catch (e) {
    expect(e).toBeInstanceOf(CatalogError);
    return (e as Error).message;
  }
  throw new Error(`the catalog was accepted:\n${yaml}`);
}

describe('loadCatalogFile', () => {
  it('refuses a bad entry, naming the entry and the field', () => {
    const cases: [string, RegExp][] = [
      ['tools:\n  - name: ok\n    cmd: [echo]\n  - name: broken\n    cmd: "echo hi"\n', /tool #2 "broken", field cmd: .*array/],
      ['tools:\n  - name: Bad Name\n    cmd: [echo]\n', /tool #1 "Bad Name", field name/],
      ['tools:\n  - name: twice\n    cmd: [echo]\n  - name: twice\n    cmd: [echo]\n', /tool #2 "twice", field name: .*twice/],
      ['tools:\n  - name: x\n    cmd: [echo]\n    shell: true\n', /tool #1 "x", field \(entry\): Unrecognized key: "shell"/],
      ['tools:\n  - name: x\n    cmd: []\n', /tool #1 "x", field cmd/],
      ['tools: [\n', /invalid YAML/],
      ['tools:\n  - name: x\n    cmd: [env]\n    env: [ADMIN_API_KEY]\n', /tool #1 "x", field env\.0: the server's own secret is never given to a tool/],
      ['tools:\n  - name: x\n    cmd: [env]\n    set_env: { PATH: /tmp }\n', /tool #1 "x", field set_env\.PATH: set by the server/],
      // A parameter as the code an interpreter runs: a shell for whoever may start the tool.
      ['tools:\n  - name: x\n    cmd: ["bash", "-c", "{{x}}"]\n    params:\n      x: { type: string }\n', /tool #1 "x", field cmd\.2: \{\{x\}\} would be code that bash runs/],
      ['tools:\n  - name: x\n    cmd: ["/usr/bin/env", "LC_ALL=C", "python3.11", "-c", "{{x}}"]\n    params:\n      x: { type: string }\n', /tool #1 "x", field cmd\.4: \{\{x\}\} would be code/],
      ['tools:\n  - name: x\n    cmd: ["node", "--eval", "{{x}}"]\n    params:\n      x: { type: string }\n', /tool #1 "x", field cmd\.2: \{\{x\}\} would be code/],
      // A pattern that backtracks catastrophically in JavaScript's engine is matched by RE2, in linear time; one RE2 cannot match so is refused.
      ['tools:\n  - name: x\n    cmd: ["echo", "{{x}}"]\n    params:\n      x: { type: string, pattern: "^(a)\\\\1$" }\n', /tool #1 "x", field params\.x\.pattern: must be a regular expression RE2 matches in linear time/],
    ];
    for (const [yaml, expected] of cases) expect(refusal(yaml), yaml).toMatch(expected);
  });

  it('refuses a placeholder inside a string, an undeclared one, and a parameter never placed', () => {
    expect(refusal('tools:\n  - name: x\n    cmd: ["sh", "-c", "scan {{target}}"]\n    params:\n      target: { type: string }\n')).toMatch(/tool #1 "x", field cmd\.2: a placeholder must be a whole argv element/);
    expect(refusal('tools:\n  - name: x\n    cmd: ["echo", "{{nope}}"]\n')).toMatch(/tool #1 "x", field cmd\.1: \{\{nope\}\} is not a declared parameter/);
    expect(refusal('tools:\n  - name: x\n    cmd: ["echo"]\n    params:\n      target: { type: string }\n')).toMatch(/tool #1 "x", field params\.target: declared but never placed/);
    expect(refusal('tools:\n  - name: x\n    cmd: ["echo", "{{s}}"]\n    params:\n      s: { type: enum, values: [a], default: b }\n')).toMatch(/field params\.s\.default: must be one of the values/);
  });

  it('refuses an entry that would share a cache between root and unprivileged runs', () => {
    expect(refusal('tools:\n  - name: x\n    cmd: [echo]\n    cache: db\n    run_as_root: true\n')).toMatch(/tool #1 "x", field cache: an entry with run_as_root: true cannot share a cache with unprivileged runs/);
  });

  it('refuses a file it cannot read, saying so', () => {
    const missing = path.join(mkdtempSync(path.join(tmpdir(), 'catalog-')), 'nope.yaml');
    expect(() => loadCatalogFile(missing)).toThrow(/cannot read/);
  });
});
