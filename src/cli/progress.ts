/**
 * A live status line for long waits (operations, imports): a spinner, or a
 * bar when the fraction done is known. It is drawn on stderr, and only when
 * both stdout and stderr are terminals (and TERM is not dumb) and --json is
 * off, so a pipe, a file or a script never receives an escape code.
 */
import { progressBar } from './output';

const FRAMES = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

export interface Progress {
  /** The text after the spinner; `done`/`total` draw a bar instead. */
  update(text: string, done?: number, total?: number): void;
  /** A permanent line on stdout, printed above the live line. */
  log(line: string): void;
  /** Removes the live line. */
  stop(): void;
}

export function startProgress(enabled: boolean, print: (line: string) => void): Progress {
  if (!enabled) return { update: () => undefined, log: print, stop: () => undefined };
  let text = '';
  let frame = 0;
  let shown = false;
  const clear = () => {
    if (shown) process.stderr.write('\r\x1b[2K');
    shown = false;
  };
  const draw = () => {
    if (!text) return;
    clear();
    process.stderr.write(`${FRAMES[frame++ % FRAMES.length]} ${text}`.slice(0, (process.stderr.columns || 80) - 1));
    shown = true;
  };
  // Spins while nothing new arrives, so a long wait still looks alive; unref'd, it never keeps the process up.
  const timer = setInterval(draw, 100);
  timer.unref();
  return {
    update(next, done, total) {
      text = done !== undefined && total ? `${progressBar(String(done), String(total), true, 30).bar} ${done}/${total} ${next}` : next;
      draw();
    },
    log(line) {
      clear();
      print(line);
      if (text) draw();
    },
    stop() {
      clearInterval(timer);
      clear();
    },
  };
}

/** A dumb terminal cannot erase a line (`\r\x1b[2K`): it gets the permanent lines only. */
export function progressEnabled(json: boolean, env: NodeJS.ProcessEnv = process.env): boolean {
  return !json && Boolean(process.stdout.isTTY) && Boolean(process.stderr.isTTY) && env.TERM !== 'dumb';
}
