import type { Cluster, Redis } from 'ioredis';
import { isNoScript, type LuaScript, runScript, type ScriptClient } from './scripts';

interface Queued {
  lua: LuaScript;
  keys: string[];
  args: (string | number)[];
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

/**
 * Sends the script calls issued within one tick as one pipeline: one socket write for many
 * concurrent requests instead of one each (ioredis' `enableAutoPipelining`, for our commands
 * only, whatever the client's options). A Cluster pipeline must stay on one node, so a Cluster
 * gets no batching.
 */
export class ScriptBatcher {
  private queue: Queued[] = [];

  constructor(private readonly client: Redis | Cluster) {}

  run(lua: LuaScript, keys: string[], args: (string | number)[]): Promise<unknown> {
    if ((this.client as Cluster).isCluster) return runScript(this.client as unknown as ScriptClient, lua, keys, args);
    return new Promise((resolve, reject) => {
      if (this.queue.push({ lua, keys, args, resolve, reject }) === 1) process.nextTick(() => this.flush());
    });
  }

  private flush(): void {
    const batch = this.queue;
    this.queue = [];
    if (batch.length === 1) {
      const [only] = batch as [Queued];
      runScript(this.client as unknown as ScriptClient, only.lua, only.keys, only.args).then(only.resolve, only.reject);
      return;
    }
    const pipeline = this.client.pipeline();
    for (const q of batch) pipeline.evalsha(q.lua.sha, q.keys.length, ...q.keys, ...q.args);
    pipeline.exec().then(
      (replies) => {
        batch.forEach((q, i) => {
          const [error, value] = replies?.[i] ?? [new Error('no reply in pipeline')];
          if (!error) {
            q.resolve(value);
          } else if (isNoScript(error)) {
            // A server that has not seen the script yet (new, or restarted): EVAL once, alone.
            runScript(this.client as unknown as ScriptClient, q.lua, q.keys, q.args).then(q.resolve, q.reject);
          } else {
            q.reject(error);
          }
        });
      },
      (error: unknown) => {
        for (const q of batch) q.reject(error);
      },
    );
  }
}
