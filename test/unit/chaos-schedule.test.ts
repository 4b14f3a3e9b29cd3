import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Prng, stream } from '../../chaos/prng';
import { buildFaultSchedule, describeFault, FAULT_KINDS, type FaultEvent } from '../../chaos/schedule';
import { loadConfig } from '../../src/config';
import { brokerWeather, engineClock, fileKnob } from '../../src/infra/knobs';

const schedule = (seed: number, minutes = 2) => buildFaultSchedule({ seed, minutes, workers: 2, apis: 2 });

describe('the chaos fault schedule', () => {
  it('is the same for the same seed and length', () => {
    for (const seed of [0, 1, 42, 2 ** 32 - 1]) {
      expect(schedule(seed)).toEqual(schedule(seed));
      expect(schedule(seed, 10)).toEqual(schedule(seed, 10));
    }
  });

  it('differs between seeds', () => {
    const seen = new Set([1, 2, 3, 4, 5, 6, 7, 8, 9, 10].map((seed) => JSON.stringify(schedule(seed))));
    expect(seen.size).toBe(10);
  });

  it('has every kind of fault, the clock jump exactly once, all inside the load window, in time order', () => {
    for (const [seed, minutes] of [[1, 2], [7, 2], [99, 10], [5, 0.5]] as const) {
      const events = schedule(seed, minutes);
      const window = minutes * 60;
      expect(new Set(events.map((e) => e.kind))).toEqual(new Set(FAULT_KINDS));
      expect(events.filter((e) => e.kind === 'clock-jump')).toHaveLength(1);
      expect(events.map((e) => e.at)).toEqual([...events.map((e) => e.at)].sort((a, b) => a - b));
      for (const e of events) {
        expect(e.at).toBeGreaterThanOrEqual(0.08 * window);
        expect(e.at).toBeLessThanOrEqual(0.8 * window);
      }
    }
  });

  it('grows with the length of the run', () => {
    expect(schedule(3, 2)).toHaveLength(FAULT_KINDS.length);
    expect(schedule(3, 10).length).toBeGreaterThan(FAULT_KINDS.length + 10);
  });

  it('never overlaps two broker windows and keeps rates and jumps in their ranges', () => {
    for (let seed = 0; seed < 50; seed++) {
      const events = schedule(seed, 10);
      const broker = events.filter((e): e is Extract<FaultEvent, { kind: 'broker-weather' }> => e.kind === 'broker-weather');
      for (let i = 1; i < broker.length; i++) expect(broker[i - 1]!.at + broker[i - 1]!.seconds).toBeLessThan(broker[i]!.at);
      for (const b of broker) {
        expect(b.failureRate).toBeGreaterThanOrEqual(0.1);
        expect(b.failureRate + b.timeoutRate).toBeLessThanOrEqual(1);
      }
      const jump = events.find((e) => e.kind === 'clock-jump') as Extract<FaultEvent, { kind: 'clock-jump' }>;
      // Past the 24 h fork cooling period and into another day, short of two.
      expect(jump.hours).toBeGreaterThan(24);
      expect(jump.hours).toBeLessThan(48);
    }
  });

  it('prints one line per fault', () => {
    const lines = schedule(1).map(describeFault);
    expect(lines).toHaveLength(FAULT_KINDS.length);
    expect(lines.join('\n')).toMatch(/kill -9 .*worker/);
    expect(lines.join('\n')).toMatch(/engine clock jumps \d+(\.\d)? h ahead/);
  });

  it('rejects a run of no length', () => {
    expect(() => schedule(1, 0)).toThrow(/minutes/);
  });
});

describe('the seeded generator', () => {
  it('repeats its sequence for a seed, and streams of one seed differ', () => {
    const a = new Prng(7);
    const b = new Prng(7);
    const xs = Array.from({ length: 100 }, () => a.next());
    expect(Array.from({ length: 100 }, () => b.next())).toEqual(xs);
    expect(xs.every((x) => x >= 0 && x < 1)).toBe(true);
    expect(stream(7, 1).next()).not.toBe(stream(7, 2).next());
    expect(stream(7, 1).next()).not.toBe(stream(8, 1).next());
  });

  it('draws whole cents as money strings within the range', () => {
    const rng = new Prng(3);
    for (let i = 0; i < 500; i++) {
      const amount = rng.cents(100, 30_000);
      expect(amount).toMatch(/^\d+\.\d{2}$/);
      const cents = Number(amount.replace('.', ''));
      expect(cents).toBeGreaterThanOrEqual(100);
      expect(cents).toBeLessThanOrEqual(30_000);
    }
  });
});

describe('fault knobs', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'alluse-knobs-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const write = (file: string, text: string) => {
    writeFileSync(`${file}.tmp`, text);
    renameSync(`${file}.tmp`, file);
  };

  it('moves the engine clock by the offset in its file, and back when the file goes', () => {
    const file = join(dir, 'offset');
    const now = engineClock(file)!;
    expect(Math.abs(now().getTime() - Date.now())).toBeLessThan(1000);
    write(file, String(25 * 3_600_000));
    const knob = fileKnob(file, Number, 0, 0);
    expect(knob()).toBe(25 * 3_600_000);
    const fresh = engineClock(file)!;
    expect(fresh().getTime() - Date.now()).toBeGreaterThan(25 * 3_600_000 - 1000);
    rmSync(file);
    expect(knob()).toBe(0);
  });

  it('reads broker rates, and keeps the last good ones when the file is unreadable', () => {
    const file = join(dir, 'weather.json');
    expect(brokerWeather(file)()).toEqual({ failureRate: 0, timeoutRate: 0 });
    write(file, JSON.stringify({ failureRate: 0.3, timeoutRate: 0.1 }));
    const knob = fileKnob(file, (t) => JSON.parse(t) as unknown, {}, 0);
    expect(brokerWeather(file)()).toEqual({ failureRate: 0.3, timeoutRate: 0.1 });
    expect(knob()).toEqual({ failureRate: 0.3, timeoutRate: 0.1 });
    write(file, '{ not json');
    expect(knob()).toEqual({ failureRate: 0.3, timeoutRate: 0.1 });
    write(file, JSON.stringify({ failureRate: 2 }));
    expect(brokerWeather(file)()).toEqual({ failureRate: 0, timeoutRate: 0 });
  });

  it('is no engine clock without a file', () => {
    expect(engineClock(undefined)).toBeUndefined();
  });

  it('is refused in production, allowed elsewhere', () => {
    const production = { NODE_ENV: 'production', DATABASE_URL: 'postgres://db/alluse', TEMPORAL_ADDRESS: 'temporal:7233', ALLUSE_ADMIN_API_KEY: 'x'.repeat(32) };
    expect(() => loadConfig(production)).not.toThrow();
    for (const knob of [
      { PAPER_BROKER_FAILURE_RATE: '0.1' }, { PAPER_BROKER_TIMEOUT_RATE: '0.1' },
      { PAPER_BROKER_WEATHER_FILE: '/tmp/w.json' }, { ALLUSE_CLOCK_OFFSET_FILE: '/tmp/offset' },
    ]) {
      expect(() => loadConfig({ ...production, ...knob })).toThrow(new RegExp(`${Object.keys(knob)[0]} inject faults and are refused in production`));
      expect(loadConfig({ NODE_ENV: 'development', ...knob })).toBeDefined();
    }
    const dev = loadConfig({ PAPER_BROKER_WEATHER_FILE: '/tmp/w.json', ALLUSE_CLOCK_OFFSET_FILE: '/tmp/offset' });
    expect(dev.paperBroker.weatherFile).toBe('/tmp/w.json');
    expect(dev.clockOffsetFile).toBe('/tmp/offset');
  });
});
