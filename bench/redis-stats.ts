import { Redis } from 'ioredis';

/** Commands executed (Lua-internal ones included) and socket reads, at one moment. */
export interface Snapshot {
  commands: Record<string, number>;
  reads: number;
  /** used_cpu_user + used_cpu_sys of the server, in µs. */
  cpuMicros: number;
}

/** What happened on the server between two snapshots, minus the probe's own INFO calls. */
export interface Delta {
  /** Every command executed, including those a Lua script ran. */
  commands: number;
  /** Per command name, for the JSON report. */
  byCommand: Record<string, number>;
  /** Socket reads that carried commands: one per round trip for request/response clients. */
  roundTrips: number;
  /** Server CPU time (the probe's INFO included, a few µs). */
  cpuMicros: number;
}

/** Our own commands: excluded from every delta. */
const PROBE_COMMANDS = new Set(['info', 'memory', 'scan', 'keys', 'flushall', 'config', 'ping']);

/** Reads the counters of one contender's private Redis over a connection of its own. */
export class RedisProbe {
  private readonly redis: Redis;

  constructor(url: string) {
    this.redis = new Redis(url, { maxRetriesPerRequest: 1 });
  }

  async snapshot(): Promise<Snapshot> {
    const text = (await this.redis.call('INFO', 'everything')) as string;
    const commands: Record<string, number> = {};
    let reads = 0;
    let cpuMicros = 0;
    for (const line of text.split('\r\n')) {
      const cmd = /^cmdstat_([^:]+):calls=(\d+)/.exec(line);
      if (cmd?.[1] && cmd[2]) commands[cmd[1]] = Number(cmd[2]);
      const r = /^total_reads_processed:(\d+)/.exec(line);
      if (r?.[1]) reads = Number(r[1]);
      const cpu = /^used_cpu_(?:user|sys):([\d.]+)/.exec(line);
      if (cpu?.[1]) cpuMicros += Number(cpu[1]) * 1e6;
    }
    return { commands, reads, cpuMicros };
  }

  /** used_cpu_user + used_cpu_sys of the server, in µs, from the small `INFO cpu` section. */
  async cpuMicros(): Promise<number> {
    const text = (await this.redis.call('INFO', 'cpu')) as string;
    let micros = 0;
    for (const [, seconds] of text.matchAll(/^used_cpu_(?:user|sys):([\d.]+)/gm)) micros += Number(seconds) * 1e6;
    return micros;
  }

  /** Counters from `before` to now; the INFO that takes this snapshot is one read, removed here. */
  async since(before: Snapshot): Promise<Delta> {
    const after = await this.snapshot();
    const byCommand: Record<string, number> = {};
    let commands = 0;
    for (const [name, calls] of Object.entries(after.commands)) {
      if (PROBE_COMMANDS.has(name.split('|')[0] ?? name)) continue;
      const d = calls - (before.commands[name] ?? 0);
      if (d > 0) {
        byCommand[name] = d;
        commands += d;
      }
    }
    return {
      commands,
      byCommand,
      roundTrips: after.reads - before.reads - 1,
      cpuMicros: after.cpuMicros - before.cpuMicros,
    };
  }

  /** Bytes of every key, with their count; exact (SAMPLES 0). */
  async memory(): Promise<{ keys: number; bytes: number }> {
    const keys = await this.redis.keys('*');
    let bytes = 0;
    for (const key of keys) bytes += Number(await this.redis.call('MEMORY', 'USAGE', key, 'SAMPLES', '0'));
    return { keys: keys.length, bytes };
  }

  async flush(): Promise<void> {
    await this.redis.flushall();
  }

  async close(): Promise<void> {
    await this.redis.quit();
  }
}
