/**
 * A small seeded pseudo-random generator (mulberry32, 32-bit state) and the
 * draws the chaos run makes with it. Not for anything secret: only so that one
 * seed always gives the same fault schedule and the same load choices.
 */
export class Prng {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** A float in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** A float in [min, max). */
  between(min: number, max: number): number {
    return min + (max - min) * this.next();
  }

  /** An integer in [min, max], both included. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error('pick from an empty list');
    return items[Math.floor(this.next() * items.length)]!;
  }

  /** A new array in a random order (Fisher-Yates). */
  shuffle<T>(items: readonly T[]): T[] {
    const out = [...items];
    for (let i = out.length - 1; i > 0; i--) {
      const j = Math.floor(this.next() * (i + 1));
      [out[i], out[j]] = [out[j]!, out[i]!];
    }
    return out;
  }

  /** An amount of money in [min, max] cents as a decimal string ("123.45"): whole cents, never a float's rounding. */
  cents(minCents: number, maxCents: number): string {
    const c = this.int(minCents, maxCents);
    return `${Math.floor(c / 100)}.${String(c % 100).padStart(2, '0')}`;
  }
}

/**
 * An independent generator for one purpose, derived from the run's seed and
 * a stream number (splitmix32 of both), so the load's draws do not shift when
 * the fault schedule draws one number more, and each load lane has its own.
 */
export function stream(seed: number, id: number): Prng {
  let z = (Math.imul(seed >>> 0, 0x9e3779b9) + Math.imul(id + 1, 0x85ebca6b)) >>> 0;
  z = Math.imul(z ^ (z >>> 16), 0x21f0aaad);
  z = Math.imul(z ^ (z >>> 15), 0x735a2d97);
  return new Prng((z ^ (z >>> 15)) >>> 0);
}
