import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/** Imports a layer must not make: the domain knows no transport, and the web app takes only types from the server. */
const forbid = (groups, message) => ['error', { patterns: [{ group: groups, message }] }];

export default tseslint.config(
  { ignores: ['dist/', 'logs/', 'node_modules/', 'eslint.config.js', 'packages/client/dist/', 'packages/client/test/'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: { parserOptions: { projectService: { allowDefaultProject: ['bin/*.js'] }, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_' }],
      // A switch names every case of a union, or says what the others do (default); a string's switch needs a default.
      '@typescript-eslint/switch-exhaustiveness-check': ['error', { considerDefaultExhaustiveForUnions: true, requireDefaultForNonUnion: true }],
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      '@typescript-eslint/no-deprecated': 'error',
    },
  },
  {
    // Source files stay small enough to read whole; tests and fixtures may run longer.
    files: ['server/src/**/*.ts', 'shared/src/**/*.ts', 'web/src/**/*.{ts,tsx}'],
    ignores: ['**/*.test.ts'],
    rules: { 'max-lines': ['error', { max: 300, skipBlankLines: true, skipComments: true }] },
  },
  {
    // More than three positional parameters read as a riddle at the call site: one options object instead.
    files: ['server/src/**/*.ts', 'shared/src/**/*.ts'],
    ignores: ['**/*.test.ts'],
    rules: { 'max-params': ['error', { max: 3 }] },
  },
  {
    files: ['server/src/services/**/*.ts', 'server/src/process/**/*.ts', 'server/src/store/**/*.ts'],
    // A colocated test may check a service and a transport's form of it together.
    ignores: ['**/*.test.ts'],
    rules: {
      'no-restricted-imports': forbid(
        ['**/http/**', '**/trpc/**', '**/routers/**', '**/fleet/**', 'ws', '@trpc/*'],
        'the domain (services, process, store) knows no transport and no fleet: take what it needs as an interface, wired in main.ts',
      ),
    },
  },
  {
    files: ['web/src/**/*.{ts,tsx}'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ group: ['**/server/src/**'], allowTypeImports: true, message: 'the web app takes only types from the server' }] }],
    },
  },
);
