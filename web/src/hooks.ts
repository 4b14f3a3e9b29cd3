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
  data?: T;
  error?: Trouble;
}

/**
 * Loads `fetcher()` whenever `key` changes (it names what is loaded, e.g.
 * `portfolio:<id>`) and on reload(). The last data stays on screen while a
 * reload runs, so polling never flickers; an answer to a request that has
 * since been replaced is dropped.
 */
export function useLoad<T>(fetcher: () => Promise<T>, key: string): Loaded<T> {
  const latestFetcher = useRef(fetcher);
  useEffect(() => {
    latestFetcher.current = fetcher;
  });
  const [tick, setTick] = useState(0);
  const [answer, setAnswer] = useState<Answer<T>>({ request: '' });
  const request = `${key}#${tick}`;
  useEffect(() => {
    let current = true;
    latestFetcher.current().then(
      (data) => current && setAnswer({ request, data }),
      (err: unknown) => current && setAnswer((a) => ({ request, data: a.data, error: describeError(err) })),
    );
    return () => {
      current = false;
    };
  }, [request]);
  const reload = useCallback(() => setTick((t) => t + 1), []);
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
