import { type ChildProcess, spawn } from 'node:child_process';

/** Children still running, killed if the test process exits first (SIGCONT: a stopped one too). */
const children = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of children) {
    child.kill('SIGCONT');
    child.kill('SIGKILL');
  }
});

/**
 * Runs the TypeScript file `entry` in a child Node process (through tsx) with an IPC channel,
 * `env` added to this process's. `exited` resolves once it has exited, however it ended.
 */
export function spawnTsxChild(
  entry: string,
  cwd: string,
  env: Record<string, string>,
): { child: ChildProcess; exited: Promise<void> } {
  const child = spawn(process.execPath, ['--import', 'tsx', entry], {
    cwd,
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    env: { ...process.env, ...env },
  });
  children.add(child);
  const exited = new Promise<void>((resolve) =>
    child.once('exit', () => {
      children.delete(child);
      resolve();
    }),
  );
  return { child, exited };
}
