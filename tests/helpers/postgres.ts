import { randomBytes } from 'node:crypto';
import pg from 'pg';

/** The machine's PostgreSQL (trust auth), as `.ci/run` starts it. */
const ADMIN = { host: '127.0.0.1', port: 5432, user: 'postgres', database: 'postgres' };

/** A fresh database for one test file: create it in beforeAll, `drop()` it in afterAll. */
export interface TestDatabase {
  readonly name: string;
  readonly url: string;
  /** A pool on this database; closed by `drop()`. */
  pool(max?: number): pg.Pool;
  /** Closes the pools made here and drops the database, whoever is still connected. */
  drop(): Promise<void>;
}

async function admin<T>(run: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client(ADMIN);
  await client.connect();
  try {
    return await run(client);
  } finally {
    await client.end();
  }
}

export async function createTestDatabase(label = 'test'): Promise<TestDatabase> {
  const name = `idem_${label}_${randomBytes(6).toString('hex')}`;
  await admin((c) => c.query(`CREATE DATABASE ${name}`));
  const url = `postgres://${ADMIN.user}@${ADMIN.host}:${ADMIN.port}/${name}`;
  const pools: pg.Pool[] = [];
  return {
    name,
    url,
    pool(max = 10) {
      const pool = new pg.Pool({ connectionString: url, max });
      pool.on('error', () => {}); // a connection killed by DROP … WITH (FORCE) is expected
      pools.push(pool);
      return pool;
    },
    async drop() {
      await Promise.all(pools.map((p) => p.end().catch(() => {})));
      await admin((c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
    },
  };
}
