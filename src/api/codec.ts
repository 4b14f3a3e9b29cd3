import express, { type Express, type RequestHandler } from 'express';
import type { PayloadCodec } from '@temporalio/common';
import { type JsonPayload, fromJsonPayload, toJsonPayload } from '../infra/codec';
import { type ApiKeyService, roleAtLeast } from '../services/api-keys';
import { sendProblem } from './errors';

const LOOPBACK = new Set(['127.0.0.1', '::1', '::ffff:127.0.0.1']);

/**
 * The remote codec endpoint the Temporal Web UI calls (`--ui-codec-endpoint`)
 * to show decrypted payloads to an operator: POST /codec/decode and
 * /codec/encode with `{ payloads: [...] }`. CORS admits only the UI's origins.
 * Callers on this machine are trusted (the dev UI runs in a local browser);
 * any other caller needs a viewer key.
 */
export function codecRoutes(app: Express, codec: PayloadCodec, uiOrigins: string[], keys: ApiKeyService): void {
  const cors: RequestHandler = (req, res, next) => {
    const origin = req.get('origin');
    if (origin && uiOrigins.includes(origin)) {
      res.setHeader('Access-Control-Allow-Origin', origin);
      res.setHeader('Vary', 'Origin');
      res.setHeader('Access-Control-Allow-Methods', 'POST, OPTIONS');
      res.setHeader('Access-Control-Allow-Headers', 'content-type, x-namespace, authorization');
      res.setHeader('Cross-Origin-Resource-Policy', 'cross-origin');
    }
    if (req.method === 'OPTIONS') return void res.status(204).end();
    next();
  };
  const guard: RequestHandler = async (req, res, next) => {
    if (LOOPBACK.has(req.socket.remoteAddress ?? '')) return next();
    const key = /^Bearer (\S+)$/i.exec(req.get('authorization') ?? '')?.[1];
    const principal = key ? await keys.authenticate(key) : null;
    if (!principal || !roleAtLeast(principal.role, 'viewer')) return sendProblem(res, 401, 'the codec endpoint needs a viewer key from outside this machine');
    next();
  };
  const handler = (op: 'encode' | 'decode'): RequestHandler => async (req, res) => {
    const body = req.body as { payloads?: JsonPayload[] } | undefined;
    if (!body || !Array.isArray(body.payloads)) return sendProblem(res, 400, 'expected { "payloads": [...] }');
    try {
      const out = await codec[op](body.payloads.map(fromJsonPayload));
      res.json({ payloads: out.map(toJsonPayload) });
    } catch {
      sendProblem(res, 400, `could not ${op} the payloads`);
    }
  };
  const router = express.Router();
  router.use(cors);
  router.options(/.*/, cors);
  router.post('/encode', guard, handler('encode'));
  router.post('/decode', guard, handler('decode'));
  app.use('/codec', router);
}
