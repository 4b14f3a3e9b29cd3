import { useCallback, useEffect, useRef, useState } from 'react';
import { describeError, type Trouble } from './api';

export interface Loaded<T> {
  data: T | undefined;
  error: Trouble | undefined;
  /** True until the answer to the latest request (a new key or a reload) arrives. */
  loading: boolean;
  reload: () => void;
}

interface Answer<T> {
  request: string;
  key: string;
  data?: T;
  error?: Trouble;
}

/**
 * Loads `fetcher()` whenever `key` changes (it names what is loaded, e.g.
 * `portfolio:<id>`) and on reload(). The last data stays on screen while a
 * reload runs, so polling never flickers, but never the data of another key.
 * One request at a time: a reload() while one runs is run once it answers
 * (a slow engine slows the refresh down instead of starving it).
 */
export function useLoad<T>(fetcher: () => Promise<T>, key: string): Loaded<T> {
  const latestFetcher = useRef(fetcher);
  useEffect(() => {
    latestFetcher.current = fetcher;
  });
  const [tick, setTick] = useState(0);
  const [answer, setAnswer] = useState<Answer<T>>({ request: '', key: '' });
  const running = useRef(false);
  const again = useRef(false);
  const request = `${key}#${tick}`;
  useEffect(() => {
    let current = true;
    running.current = true;
    latestFetcher.current()
      .then(
        (data) => current && setAnswer({ request, key, data }),
        (err: unknown) => current && setAnswer((a) => ({ request, key, data: a.key === key ? a.data : undefined, error: describeError(err) })),
      )
      .finally(() => {
        if (!current) return;
        running.current = false;
        if (again.current) {
          again.current = false;
          setTick((t) => t + 1);
        }
      });
    return () => {
      current = false;
      running.current = false;
      again.current = false;
    };
  }, [request, key]);
  const reload = useCallback(() => {
    if (running.current) again.current = true;
    else setTick((t) => t + 1);
  }, []);
  return { data: answer.data, error: answer.error, loading: answer.request !== request, reload };
}

/** Calls `fn` every `ms` while the tab is visible (and at once when it becomes visible again); `null` stops it. */
export function useInterval(fn: () => void, ms: number | null): void {
  const saved = useRef(fn);
  useEffect(() => {
    saved.current = fn;
  });
  useEffect(() => {
    if (ms === null) return;
    const timer = setInterval(() => {
      if (document.visibilityState === 'visible') saved.current();
    }, ms);
    const onVisible = () => document.visibilityState === 'visible' && saved.current();
    document.addEventListener('visibilitychange', onVisible);
    return () => {
      clearInterval(timer);
      document.removeEventListener('visibilitychange', onVisible);
    };
  }, [ms]);
}
