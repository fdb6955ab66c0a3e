/**
 * The configuration reference and .env.example say what config.ts parses: they are written from its
 * schema by `npm run docs:config`, and this fails when a committed copy differs from what it writes.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../config';
import { ENV_EXAMPLE_FILE, REFERENCE_FILE, renderEnvExample, renderReference, settings } from './configDocs';

const FIX = 'run `npm run docs:config` and commit the result';
/** Compared line by line, so a failure shows the lines that differ. */
const linesOf = (text: string) => text.split('\n');

describe('configuration docs', () => {
  it('docs/configuration.md is what `npm run docs:config` writes', () => {
    expect(linesOf(readFileSync(REFERENCE_FILE, 'utf8')), FIX).toEqual(linesOf(renderReference()));
  });

  it('.env.example is what `npm run docs:config` writes', () => {
    expect(linesOf(readFileSync(ENV_EXAMPLE_FILE, 'utf8')), FIX).toEqual(linesOf(renderEnvExample()));
  });

  it('every default shown is the one the server takes', () => {
    const shown = Object.fromEntries(settings().flatMap((g) => g.settings.filter((s) => s.value !== undefined).map((s) => [s.name, s.value as string])));
    // From the project's root, where the shipped catalog's relative path points; envOf is a function, compared apart.
    const root = loadConfig({}).PROJECT_ROOT;
    const { envOf: _a, ...fromShown } = loadConfig(shown, root);
    const { envOf: _b, ...fromNothing } = loadConfig({}, root);
    expect(fromShown).toEqual(fromNothing);
  });
});
