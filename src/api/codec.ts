import express, { type Express, type RequestHandler } from 'express';
import type { PayloadCodec } from '@temporalio/common';
import { type JsonPayload, fromJsonPayload, toJsonPayload } from '../infra/codec';
import { type ApiKeyService, roleAtLeast } from '../services/api-keys';
import { sendProblem } from './errors';

const LOOPBACK = new Set(['127.0.0.1', '::1', '::ffff:127.0.0.1']);

/** The codec endpoint's settings. */
export interface CodecEndpoint {
  codec: PayloadCodec;
  /** The Temporal Web UI's origins: CORS admits only these. */
  uiOrigins: string[];
  /**
   * Whether a caller on this machine (a loopback address) may use the
   * endpoint without a key, as the dev server's UI in a local browser does
   * under `npm start`. Off unless set: behind a reverse proxy on the same
   * host every caller comes from loopback, so in production this must stay
   * off (TEMPORAL_CODEC_TRUST_LOOPBACK; config.ts defaults it on outside
   * production only).
   */
  trustLoopback?: boolean;
}

/**
 * The remote codec endpoint the Temporal Web UI calls (`--ui-codec-endpoint`,
 * or TEMPORAL_CODEC_ENDPOINT of the temporalio/ui image) to show decrypted
 * payloads to an operator: POST /codec/decode and /codec/encode with
 * `{ payloads: [...] }`. CORS admits only the UI's origins. A caller needs a
 * viewer key (`Authorization: Bearer ...`), unless it is on this machine and
 * `trustLoopback` is on.
 */
export function codecRoutes(app: Express, endpoint: CodecEndpoint, keys: ApiKeyService): void {
  const { codec, uiOrigins, trustLoopback = false } = endpoint;
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
    if (trustLoopback && LOOPBACK.has(req.socket.remoteAddress ?? '')) return next();
    const key = /^Bearer (\S+)$/i.exec(req.get('authorization') ?? '')?.[1];
    const principal = key ? await keys.authenticate(key) : null;
    if (!principal || !roleAtLeast(principal.role, 'viewer')) return sendProblem(res, 401, 'the codec endpoint needs a viewer key (Authorization: Bearer <key>)');
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
