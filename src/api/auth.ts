import type { RequestHandler } from 'express';
import type { ApiKeyService, Principal, Role } from '../services/api-keys';
import { roleAtLeast } from '../services/api-keys';
import type { Logger } from '../infra/logger';
import { sendProblem } from './errors';

/**
 * Resolves `Authorization: Bearer <key>` to a principal; 401 otherwise. Failures are logged, never locked out.
 * Known keys come from the process's cache (ApiKeyService); a key that needs a lookup while PostgreSQL is
 * unreachable gets 503.
 */
export function authenticate(keys: ApiKeyService, log: Logger): RequestHandler {
  return async (req, res, next) => {
    const header = req.get('authorization') ?? '';
    const match = /^Bearer ([\x21-\x7e]{1,200})$/i.exec(header);
    let principal: Principal | null = null;
    try {
      if (match) principal = await keys.authenticate(match[1]!);
    } catch (err) {
      log.error('API key lookup failed', { method: req.method, path: req.path, error: (err as Error).message });
      res.setHeader('Retry-After', '1');
      return sendProblem(res, 503, 'the service is unavailable for a moment: try again shortly');
    }
    if (!principal) {
      log.warn('authentication failed', { ip: req.ip, method: req.method, path: req.path, reason: match ? 'unknown key' : 'no bearer key' });
      res.setHeader('WWW-Authenticate', 'Bearer realm="alluse"');
      return sendProblem(res, 401, 'a valid API key is required: Authorization: Bearer <key>');
    }
    res.locals.principal = principal;
    next();
  };
}

export function requireRole(role: Role): RequestHandler {
  return (_req, res, next) => {
    const principal = res.locals.principal as { role: Role } | undefined;
    if (!principal || !roleAtLeast(principal.role, role)) {
      return sendProblem(res, 403, `this action needs the ${role} role`);
    }
    next();
  };
}
