#!/usr/bin/env bash
# Packs the library as `npm publish` would, installs the tarball into throwaway consumer projects
# outside the repo, and checks what a user would see first:
#   - the tarball holds dist/ (ESM, CJS, .d.ts, .d.cts), README, LICENSE, CHANGELOG, and no redlock type;
#   - ESM (import) and CommonJS (require) apps each run a tRPC standalone server with memoryStore
#     and call it through @trpc/client with idempotencyLink: one key sent twice, five times at once,
#     and per call of an httpBatchLink batch runs the mutation once; replays are reported;
#   - the CommonJS app runs without ioredis installed (an optional peer, needed by redisStore only);
#   - a TypeScript consumer typechecks under module/moduleResolution nodenext with skipLibCheck off,
#     from an ES module (.mts) and a CommonJS module (.cts), including the typed
#     `context.idempotencyKey` that the client entry adds to @trpc/client.
# Dependencies are installed at the versions the repo itself uses, from the npm cache when it has them.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
work="$(mktemp -d "${TMPDIR:-/tmp}/trpc-idempotency-smoke.XXXXXX")"
# SMOKE_KEEP=1 keeps the consumer projects for a look after a failure.
if [ "${SMOKE_KEEP:-}" = 1 ]; then trap 'echo "smoke: kept $work"' EXIT; else trap 'rm -rf "$work"' EXIT; fi

ok() { printf 'smoke: ok    %s\n' "$*"; }
fail() {
  printf 'smoke: FAIL  %s\n' "$*" >&2
  exit 1
}
version() { node -p "require('$root/node_modules/$1/package.json').version"; }
npm_install() { npm install --prefer-offline --no-audit --no-fund --loglevel=error "$@"; }

# --- pack ---------------------------------------------------------------------------------------
echo "smoke: npm pack (runs prepack: the build)"
(cd "$root" && npm pack --pack-destination "$work" --loglevel=error >/dev/null)
tarball="$(ls "$work"/trpc-idempotency-*.tgz)"
listing="$(tar -tzf "$tarball" | sort)"
for file in package/package.json package/README.md package/LICENSE package/CHANGELOG.md \
  package/dist/index.js package/dist/index.cjs package/dist/index.d.ts package/dist/index.d.cts \
  package/dist/client/index.js package/dist/client/index.cjs package/dist/client/index.d.ts \
  package/dist/client/index.d.cts; do
  grep -qx "$file" <<<"$listing" || fail "the tarball lacks $file"
done
unexpected="$(grep -v -e '^package/dist/' -e '^package/package.json$' -e '^package/README.md$' \
  -e '^package/LICENSE$' -e '^package/CHANGELOG.md$' <<<"$listing" || true)"
[ -z "$unexpected" ] || fail "the tarball ships files it should not: $unexpected"
ok "tarball $(basename "$tarball"): $(wc -l <<<"$listing") files, dist + README + LICENSE + CHANGELOG only"

mkdir -p "$work/unpacked"
tar -xzf "$tarball" -C "$work/unpacked"
if grep -l redlock "$work"/unpacked/package/dist/*.d.ts "$work"/unpacked/package/dist/*.d.cts \
  "$work"/unpacked/package/dist/client/*.d.*ts; then
  fail "a published declaration file mentions redlock, whose types do not resolve for consumers"
fi
ok "no redlock type in the published .d.ts/.d.cts"

trpc_server="@trpc/server@$(version @trpc/server)"
trpc_client="@trpc/client@$(version @trpc/client)"
zod="zod@$(version zod)"
superjson="superjson@$(version superjson)"
ioredis="ioredis@$(version ioredis)"
types_node="@types/node@$(version @types/node)"

# --- the app both runtime consumers run ----------------------------------------------------------
# $1: how the module loads its dependencies. Everything after it is shared.
write_app() {
  cat "$1"
  cat <<'EOF'

function check(condition, message) {
  if (!condition) throw new Error(message);
}

/** A type of the app's own, registered on the app's superjson (which the CommonJS build's bundled copy never sees). */
class Money {
  constructor(cents) {
    this.cents = cents;
  }
}
superjson.registerCustom(
  { isApplicable: (v) => v instanceof Money, serialize: (m) => String(m.cents), deserialize: (s) => new Money(Number(s)) },
  'money',
);

async function smoke() {
  let runs = 0;
  const t = initTRPC.context().create({ transformer: superjson });
  const idempotency = lib.createIdempotency({ store: lib.memoryStore(), superjson });
  const router = t.router({
    createOrder: t.procedure
      .use(idempotency.middleware)
      .input(z.object({ sku: z.string() }))
      .mutation(async ({ input }) => {
        const id = ++runs;
        await new Promise((resolve) => setTimeout(resolve, 50));
        return { id, sku: input.sku, at: new Date(), price: new Money(1250) };
      }),
  });
  // A signed-in caller: anonymous keyed calls are rejected by default.
  const server = createHTTPServer({
    router,
    createContext: ({ req, res }) => ({ headers: req.headers, res, user: { id: 'smoke-user' } }),
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${server.address().port}`;

  let replays = 0;
  const single = createTRPCClient({
    links: [
      client.idempotencyLink(),
      client.idempotentReplayLink({ onReplay: () => replays++ }),
      httpLink({ url, transformer: superjson, headers: ({ op }) => client.idempotencyHeaders(op) }),
    ],
  });
  const batched = createTRPCClient({
    links: [
      client.idempotencyLink(),
      httpBatchLink({ url, transformer: superjson, headers: ({ opList }) => client.idempotencyBatchHeaders(opList) }),
    ],
  });
  const order = (trpc, key, sku = 'abc') =>
    trpc.createOrder.mutate({ sku }, key === undefined ? undefined : { context: { idempotencyKey: key } });

  try {
    const sql = await import('trpc-idempotency/sql');
    check(typeof sql.pgAdapter === 'function' && typeof sql.stepTableDDL === 'function', 'trpc-idempotency/sql has no pgAdapter');
    const first = await order(single, 'key-1');
    const second = await order(single, 'key-1');
    check(runs === 1, `one key sent twice ran the mutation ${runs} times`);
    check(second.id === first.id && second.at instanceof Date, 'the replay differs from the first result');
    check(second.price instanceof Money && second.price.cents === 1250, 'a custom superjson type was not replayed as itself');
    check(replays === 1, `idempotentReplayLink saw ${replays} replays, not 1`);

    const burst = await Promise.all(Array.from({ length: 5 }, () => order(single, 'key-2')));
    check(runs === 2, `five concurrent calls with one key ran ${runs - 1} times`);
    check(new Set(burst.map((r) => r.id)).size === 1, 'concurrent duplicates got different results');

    const batch = () => Promise.all([order(batched, 'key-3', 'x'), order(batched, 'key-4', 'y')]);
    const [a, b] = await batch();
    check(runs === 4 && a.id !== b.id, 'two keys in one httpBatchLink batch did not run once each');
    const [a2, b2] = await batch();
    check(runs === 4 && a2.id === a.id && b2.id === b.id, 'the repeated batch was not replayed call by call');

    await order(single, undefined);
    await order(single, undefined);
    check(runs === 6, 'idempotencyLink gave two separate mutations the same key');
  } finally {
    server.close();
  }
}

smoke().then(
  () =>
    console.log(
      'one run per key (repeated, 5 concurrent, per call of a batch), replay reported, custom superjson type replayed, a new key per mutation',
    ),
  (error) => {
    console.error(error);
    process.exit(1);
  },
);
EOF
}

# --- ESM consumer (ioredis installed, as a redisStore user would have it) --------------------------
esm="$work/esm"
mkdir -p "$esm"
echo '{ "name": "smoke-esm", "private": true, "type": "module" }' >"$esm/package.json"
(cd "$esm" && npm_install "$tarball" "$trpc_server" "$trpc_client" "$zod" "$superjson" "$ioredis" "$types_node")
cat >"$work/esm-imports.js" <<'EOF'
import { createTRPCClient, httpBatchLink, httpLink } from '@trpc/client';
import { initTRPC } from '@trpc/server';
import { createHTTPServer } from '@trpc/server/adapters/standalone';
import superjson from 'superjson';
import * as lib from 'trpc-idempotency';
import * as client from 'trpc-idempotency/client';
import { z } from 'zod';
EOF
write_app "$work/esm-imports.js" >"$esm/app.js"
result="$(cd "$esm" && timeout 60 node app.js)" || fail "ESM consumer (import)"
ok "ESM consumer (import): $result"

# --- CommonJS consumer (no ioredis) ----------------------------------------------------------------
cjs="$work/cjs"
mkdir -p "$cjs"
echo '{ "name": "smoke-cjs", "private": true, "type": "commonjs" }' >"$cjs/package.json"
(cd "$cjs" && npm_install "$tarball" "$trpc_server" "$trpc_client" "$zod" "$superjson")
[ ! -e "$cjs/node_modules/ioredis" ] || fail "ioredis was installed into the CommonJS consumer; it should be optional"
cat >"$work/cjs-imports.js" <<'EOF'
const { createTRPCClient, httpBatchLink, httpLink } = require('@trpc/client');
const { initTRPC } = require('@trpc/server');
const { createHTTPServer } = require('@trpc/server/adapters/standalone');
const { default: superjson } = require('superjson');
const lib = require('trpc-idempotency');
const client = require('trpc-idempotency/client');
const { z } = require('zod');
EOF
# This app's own require('superjson') needs Node >= 20.19 (superjson 2 is ESM only); the library's
# CommonJS build does not, as it bundles its copy.
write_app "$work/cjs-imports.js" >"$cjs/app.js"
result="$(cd "$cjs" && timeout 60 node app.js)" || fail "CommonJS consumer (require)"
ok "CommonJS consumer (require, without ioredis): $result"

# --- TypeScript consumer, module nodenext ----------------------------------------------------------
cat >"$esm/tsconfig.json" <<'EOF'
{
  "compilerOptions": {
    "target": "ES2022",
    "module": "nodenext",
    "moduleResolution": "nodenext",
    "strict": true,
    "skipLibCheck": false,
    "types": ["node"],
    "noEmit": true
  },
  "include": ["consumer.mts", "consumer.cts"]
}
EOF
cat >"$esm/consumer.mts" <<'EOF'
import { createTRPCClient, httpBatchLink, httpLink, type Operation, splitLink } from '@trpc/client';
import { initTRPC, type TRPCError } from '@trpc/server';
import { Redis } from 'ioredis';
import superjson, { SuperJSON } from 'superjson';
import {
  createIdempotency,
  IDEMPOTENCY_ERROR_CODES,
  type IdempotencyEvent,
  type IdempotencyOptions,
  type IdempotencyStore,
  memoryStore,
  redisStore,
} from 'trpc-idempotency';
import {
  hasIdempotencyKey,
  idempotencyBatchHeaders,
  idempotencyHeaders,
  idempotencyLink,
  idempotentReplayLink,
} from 'trpc-idempotency/client';
import { z } from 'zod';

type Context = { headers: Headers; user: { id: string } | null };
const t = initTRPC.context<Context>().create({ transformer: superjson });
const events: IdempotencyEvent['type'][] = [];
const options: IdempotencyOptions<Context> = {
  store: memoryStore({ maxEntries: 100 }),
  getUserId: (ctx) => ctx.user?.id,
  cacheErrors: (error: TRPCError) => error.code === 'NOT_FOUND',
  onEvent: (event) => events.push(event.type),
  superjson,
};
const idempotency = createIdempotency(options);
const router = t.router({
  createOrder: t.procedure
    .use(idempotency.middleware)
    .input(z.object({ sku: z.string() }))
    .mutation(({ input, ctx }) => ({ sku: input.sku, owner: ctx.user?.id })),
});

const url = 'http://127.0.0.1:3000';
const trpc = createTRPCClient<typeof router>({
  links: [
    idempotencyLink(),
    idempotentReplayLink({ onReplay: ({ op, outcome }) => console.log(op.path, outcome) }),
    splitLink({
      condition: hasIdempotencyKey,
      true: httpLink({ url, transformer: superjson, headers: ({ op }) => idempotencyHeaders(op) }),
      false: httpBatchLink({ url, transformer: superjson, headers: ({ opList }) => idempotencyBatchHeaders(opList) }),
    }),
  ],
});
export const placed: Promise<{ sku: string; owner: string | undefined }> = trpc.createOrder.mutate(
  { sku: 'abc' },
  { context: { idempotencyKey: 'order-1' } },
);
// The client entry types `op.context.idempotencyKey` by augmenting @trpc/client (unknown without it).
export const keyOf = (op: Operation): string | undefined => op.context.idempotencyKey;

export const inFlight: number = idempotency.inFlight;
export const withInstance = createIdempotency({ store: memoryStore(), superjson: new SuperJSON() });
export const stores: IdempotencyStore[] = [redisStore({ redis: new Redis({ lazyConnect: true }), prefix: 'app:' })];
export const conflict: 'CONFLICT' = IDEMPOTENCY_ERROR_CODES.stillRunning;
// @ts-expect-error: createIdempotency needs a store
createIdempotency({});
EOF
cat >"$esm/consumer.cts" <<'EOF'
import type { Operation } from '@trpc/client';
import { createIdempotency, memoryStore } from 'trpc-idempotency';
import { idempotencyHeaders, idempotencyLink } from 'trpc-idempotency/client';

export const idempotency = createIdempotency({ store: memoryStore() });
export const links = [idempotencyLink()];
export const headers: typeof idempotencyHeaders = idempotencyHeaders;
export const keyOf = (op: Operation): string | undefined => op.context.idempotencyKey;
EOF
"$root/node_modules/.bin/tsc" --version >/dev/null
(cd "$esm" && "$root/node_modules/.bin/tsc" -p tsconfig.json) || fail "TypeScript consumer (nodenext) does not typecheck"
ok "TypeScript consumer typechecks under module nodenext, skipLibCheck off ($("$root/node_modules/.bin/tsc" --version)): .mts (import) and .cts (require)"

echo "smoke: all checks passed"
