import { ENGINE_ENV, startEngine } from './engine';

/**
 * Starts one real engine for the whole Playwright run and hands it to the
 * test workers through the environment (they are forked after this runs).
 * The function it returns is the global teardown: it stops the engine.
 */
export default async function globalSetup(): Promise<() => Promise<void>> {
  const started = Date.now();
  const engine = await startEngine();
  process.env[ENGINE_ENV] = JSON.stringify(engine.info);
  process.stdout.write(`engine for browser tests: ${engine.info.url} (started in ${((Date.now() - started) / 1000).toFixed(1)} s)\n`);
  return () => engine.stop();
}
