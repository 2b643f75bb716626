import { createTRPCClient, httpLink, retryLink, type TRPCLink } from '@trpc/client';
import superjson from 'superjson';
import { describe, expect, it } from 'vitest';
import { idempotencyHeaders, idempotencyLink, idempotentReplayLink, type ReplayInfo } from '../../src/client';
import type { HttpRouter } from '../helpers/http-app';
import { serveForSuite } from '../helpers/http-stores';

const served = serveForSuite('memoryStore');

/** A fetch that lets the server run the call, then loses the first `count` responses. */
function losingFetch(count: number) {
  let toLose = count;
  return async (url: string | URL | Request, init?: RequestInit) => {
    const response = await fetch(url, init);
    if (toLose > 0) {
      toLose -= 1;
      await response.arrayBuffer();
      throw new TypeError('fetch failed: connection reset after the server answered (simulated)');
    }
    return response;
  };
}

/** Retries a call that got no response at all (a network error), up to 3 attempts. */
const retry = retryLink<HttpRouter>({ retry: ({ error, attempts }) => error.data === undefined && attempts < 3 });

function client(links: TRPCLink<HttpRouter>[], lose: number, replays: ReplayInfo[]) {
  return createTRPCClient<HttpRouter>({
    links: [
      idempotentReplayLink({ onReplay: (info) => replays.push(info) }),
      ...links,
      httpLink({
        url: served.server.url,
        transformer: superjson,
        fetch: losingFetch(lose),
        headers: ({ op }) => idempotencyHeaders(op),
      }),
    ],
  });
}

async function lostResponseRun(links: TRPCLink<HttpRouter>[], lose = 1) {
  const replays: ReplayInfo[] = [];
  const [headersBefore, runsBefore] = [served.app.keyHeaders.length, served.app.runs.addItem];
  const result = await client(links, lose, replays).addItem.mutate({ cartId: crypto.randomUUID(), sku: 'a' });
  return {
    result,
    replays,
    keys: served.app.keyHeaders.slice(headersBefore),
    runs: served.app.runs.addItem - runsBefore,
  };
}

describe('a response lost after the server ran', () => {
  it('is retried by retryLink with the same key, and the retry gets the replay (resolver ran once)', async () => {
    const { result, replays, keys, runs } = await lostResponseRun([idempotencyLink(), retry]);
    expect(runs).toBe(1);
    expect(keys).toHaveLength(2);
    expect(keys[1]).toBe(keys[0]);
    expect(replays).toHaveLength(1);
    expect(result.at).toBeInstanceOf(Date);
  });

  it('survives several lost responses in a row', async () => {
    const { runs, keys } = await lostResponseRun([idempotencyLink(), retry], 2);
    expect(runs).toBe(1);
    expect(keys).toHaveLength(3);
    expect(new Set(keys).size).toBe(1);
  });

  it('keeps one key even with retryLink before idempotencyLink', async () => {
    const { runs, keys } = await lostResponseRun([retry, idempotencyLink()]);
    expect(runs).toBe(1);
    expect(keys[1]).toBe(keys[0]);
  });

  it('runs twice without idempotencyLink (the failure this library prevents)', async () => {
    const { runs, keys } = await lostResponseRun([retry]);
    expect(keys).toEqual([null, null]);
    expect(runs).toBe(2);
  });
});
