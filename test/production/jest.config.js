/**
 * `npm run test:production`: the production topology's test (test/production),
 * apart from `npm test` because it builds and starts a real Temporal server
 * and four engine processes. One file at a time, with long deadlines: the
 * first run compiles the server (about 5 minutes on 2 cores).
 *
 * @type {import('jest').Config}
 */
module.exports = {
  rootDir: '../..',
  roots: ['<rootDir>/test/production'],
  testEnvironment: 'node',
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.ts$': ['@swc/jest', { jsc: { target: 'es2022', parser: { syntax: 'typescript' } } }] },
  maxWorkers: 1,
  // The stack starts and stops outside the tests' module sandbox (embedded PostgreSQL is an ES module).
  globalSetup: '<rootDir>/test/production/global-setup.ts',
  globalTeardown: '<rootDir>/test/production/global-teardown.ts',
  // Each test and hook: the start includes the server's first build.
  testTimeout: 30 * 60_000,
};
