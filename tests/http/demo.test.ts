import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { createTestDatabase } from '../helpers/postgres';
import { startRedis } from '../helpers/redis-server';

const root = join(import.meta.dirname, '..', '..');

/** Runs `npm run demo`'s script as a child; rejects on a non-zero exit or when it hangs. */
async function demo(env: NodeJS.ProcessEnv) {
  const { stdout } = await promisify(execFile)(join(root, 'node_modules', '.bin', 'tsx'), ['examples/demo.ts'], {
    cwd: root,
    env,
    // A demo that leaves a handle open never exits: the timeout turns that into a failure.
    timeout: 40_000,
  });
  return stdout;
}

describe('npm run demo', () => {
  it('runs every scenario and exits 0, on memoryStore and on redisStore', async () => {
    const { REDIS_URL: _ignored, ...rest } = process.env;
    // One database per run: the two run at once, and each counts its own rows.
    const [redis, db1, db2] = await Promise.all([startRedis(), createTestDatabase('demo'), createTestDatabase('demo')]);
    try {
      const [memory, withRedis] = await Promise.all([
        demo({ ...rest, DATABASE_URL: db1.url }),
        demo({ ...rest, DATABASE_URL: db2.url, REDIS_URL: redis.url }),
      ]);
      expect(memory).toContain('idempotency store: memoryStore');
      expect(withRedis).toContain(`idempotency store: redisStore at ${redis.url}`);
      for (const out of [memory, withRedis]) {
        expect(out).toMatch(/burst of 20 duplicates\s+1 execution, 1 order id, 19 replays/);
        expect(out).toMatch(/lost response \+ retryLink\s+2 attempts, 1 execution, retry replayed/);
        expect(out).toContain('422 UNPROCESSABLE_CONTENT');
        expect(out).toMatch(
          /crash after COMMIT \+ retry\s+holder killed after COMMIT \(no answer\); retry on another server: order \d+ from the dead holder; 1 row/,
        );
        expect(out).toContain('every duplicate ran once.');
      }
    } finally {
      await Promise.all([redis.stop(), db1.drop(), db2.drop()]);
    }
  });
});
