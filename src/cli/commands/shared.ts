import type { Command } from 'commander';
import type { Context } from '../context';

/** Each command asks main.ts for its context: built from the global options once they are parsed. */
export type ContextOf = (cmd: Command) => Context;

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
