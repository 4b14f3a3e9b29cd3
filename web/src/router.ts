/**
 * Hash routes (`#/portfolios/<id>`): the server serves one page at `/`, and
 * nothing in a route is secret (the key is never in a URL).
 */
import { useEffect, useState } from 'react';

export type Route = { page: 'portfolios' } | { page: 'portfolio'; id: string };

export function parseRoute(hash: string): Route {
  const m = /^#\/portfolios\/([0-9a-fA-F-]{36})\/?$/.exec(hash);
  return m ? { page: 'portfolio', id: m[1]!.toLowerCase() } : { page: 'portfolios' };
}

export const hrefOf = (route: Route): string => (route.page === 'portfolio' ? `#/portfolios/${route.id}` : '#/');

export function navigate(route: Route): void {
  window.location.hash = hrefOf(route);
}

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(window.location.hash));
  useEffect(() => {
    const onChange = () => setRoute(parseRoute(window.location.hash));
    window.addEventListener('hashchange', onChange);
    return () => window.removeEventListener('hashchange', onChange);
  }, []);
  return route;
}
