import type { AddressInfo } from 'node:net';
import { createConnection } from 'node:net';
import { initTRPC } from '@trpc/server';
import { createHTTPServer } from '@trpc/server/adapters/standalone';
import fc from 'fast-check';
import { Redis } from 'ioredis';
import superjson from 'superjson';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createIdempotency, IDEMPOTENCY_ERROR_CODES, type IdempotencyStore, redisStore } from '../../src';
import { type RedisServer, startRedis } from '../helpers/redis-server';

const DOCUMENTED = new Set<string>(Object.values(IDEMPOTENCY_ERROR_CODES));

interface RawResponse {
  status: number;
  body: string;
}

/**
 * Sends one HTTP/1.1 request byte for byte, so that header values can hold any latin1 byte and the
 * same header can be repeated: what fetch and @trpc/client refuse to send, a hostile client can.
 */
function rawPost(port: number, path: string, headerLines: [string, string][], body: string): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ port, host: '127.0.0.1' });
    const chunks: Buffer[] = [];
    socket.setTimeout(5_000, () => socket.destroy(new Error('raw request timed out')));
    socket.on('data', (c) => chunks.push(c));
    socket.on('error', reject);
    socket.on('close', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0);
      const split = text.indexOf('\r\n\r\n');
      const head = text.slice(0, split).toLowerCase();
      let rest = text.slice(split + 4);
      if (head.includes('transfer-encoding: chunked')) {
        let body = '';
        for (;;) {
          const eol = rest.indexOf('\r\n');
          const size = Number.parseInt(rest.slice(0, eol), 16);
          if (!(size > 0)) break;
          // Sizes count bytes; the bodies here are ASCII JSON, so bytes and characters agree.
          body += rest.slice(eol + 2, eol + 2 + size);
          rest = rest.slice(eol + 2 + size + 2);
        }
        rest = body;
      }
      resolve({ status, body: rest });
    });
    const head = [
      `POST ${path} HTTP/1.1`,
      'Host: 127.0.0.1',
      'Content-Type: application/json',
      `Content-Length: ${Buffer.byteLength(body)}`,
      'Connection: close',
      ...headerLines.map(([name, value]) => `${name}: ${value}`),
    ].join('\r\n');
    socket.write(Buffer.concat([Buffer.from(`${head}\r\n\r\n`, 'latin1'), Buffer.from(body)]));
  });
}

/** The tRPC error code in a response body, 'ok' for a result, or null when tRPC did not answer. */
function trpcOutcome(response: RawResponse): string | null {
  try {
    const parsed = JSON.parse(response.body) as { result?: unknown; error?: { json?: { data?: { code?: string } } } };
    if (parsed.result !== undefined) return 'ok';
    return parsed.error?.json?.data?.code ?? null;
  } catch {
    return null;
  }
}

describe('hostile headers and bodies over raw HTTP', () => {
  let server: RedisServer;
  let redis: Redis;
  let store: IdempotencyStore;
  let http: ReturnType<typeof createHTTPServer>;
  let port: number;
  let runs = 0;

  beforeAll(async () => {
    server = await startRedis();
    redis = new Redis(server.url);
    store = redisStore({ redis });
    const t = initTRPC
      .context<{ headers: Record<string, string | string[] | undefined>; user: { id: string } | null }>()
      .create({
        transformer: superjson,
      });
    const idempotency = createIdempotency<{
      headers: Record<string, string | string[] | undefined>;
      user: { id: string } | null;
    }>({ store });
    const router = t.router({
      pay: t.procedure
        .use(idempotency.middleware)
        .input(z.object({ amount: z.number() }))
        .mutation(({ input, ctx }) => ({ amount: input.amount, user: ctx.user?.id ?? null, run: ++runs })),
    });
    http = createHTTPServer({
      router,
      createContext: ({ req }) => {
        const user = req.headers['x-user'];
        return { headers: req.headers, user: typeof user === 'string' ? { id: user } : null };
      },
    });
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    port = (http.address() as AddressInfo).port;
  }, 30_000);

  afterAll(async () => {
    http?.closeAllConnections();
    await new Promise((resolve) => http?.close(resolve));
    await store?.close();
    redis?.disconnect();
    await server?.stop();
  });

  const body = (amount: number) => JSON.stringify(superjson.serialize({ amount }));

  it('answers any repeated, latin1 or control-character Idempotency-Key header with a result or a documented error, never a 500', async () => {
    // Any byte but CR and LF (which would end the header line: request smuggling, not a key).
    const byte = fc
      .integer({ min: 0, max: 255 })
      .filter((c) => c !== 10 && c !== 13)
      .map((c) => String.fromCharCode(c));
    const value = fc.oneof(
      fc.string({ unit: byte, maxLength: 40 }),
      fc.constantFrom('k1', '"k1"', 'k1, k1', '"k1", "k2"', ''),
    );
    await fc.assert(
      fc.asyncProperty(
        fc.array(value, { minLength: 1, maxLength: 3 }),
        fc.constantFrom('u1', 'u2'),
        async (values, user) => {
          const before = runs;
          const response = await rawPost(
            port,
            '/pay',
            [['x-user', user], ...values.map((v): [string, string] => ['Idempotency-Key', v])],
            body(1),
          );
          const outcome = trpcOutcome(response);
          expect(response.status).not.toBe(500);
          if (outcome === null) {
            // Refused by Node's HTTP parser before tRPC saw it (a control character, say).
            expect(response.status).toBe(400);
            expect(runs).toBe(before);
          } else if (outcome !== 'ok') {
            expect(DOCUMENTED.has(outcome), `${JSON.stringify(values)} -> ${outcome}`).toBe(true);
            expect(runs).toBe(before);
          } else {
            expect(
              (JSON.parse(response.body) as { result: { data: { json: { user: string } } } }).result.data.json.user,
            ).toBe(user);
          }
        },
      ),
      { numRuns: 150 },
    );
  }, 60_000);

  it('rejects a key sent twice in two header lines, instead of running it under a merged key', async () => {
    const key = `twice-${Date.now()}`;
    const before = runs;
    const response = await rawPost(
      port,
      '/pay',
      [
        ['Idempotency-Key', key],
        ['Idempotency-Key', key],
      ],
      body(2),
    );
    expect(trpcOutcome(response)).toBe('BAD_REQUEST');
    expect(runs).toBe(before);
  });

  // superjson.serialize throws on an own "__proto__" property; over HTTP tRPC's body parsing must not
  // hand one to fingerprint() (see the server-side caller case in hostile-input.test.ts).
  it('answers a body with a "__proto__" key without an INTERNAL_SERVER_ERROR', async () => {
    const before = runs;
    const response = await rawPost(
      port,
      '/pay',
      [['Idempotency-Key', `proto-${Date.now()}`]],
      '{"json":{"amount":1,"__proto__":{"polluted":true}}}',
    );
    const outcome = trpcOutcome(response);
    expect(outcome).not.toBe('INTERNAL_SERVER_ERROR');
    expect(outcome === 'ok' || DOCUMENTED.has(outcome ?? '')).toBe(true);
    expect(runs - before).toBeLessThanOrEqual(1);
  });
});
