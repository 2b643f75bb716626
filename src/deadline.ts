/**
 * A timer for a deadline on I/O. Once the event loop has been blocked (a long GC pause, a starved
 * CPU), an expired timer runs before the loop reads its sockets; so when this one fires, the expiry
 * waits for that read (setImmediate runs after it), and a reply that arrived during the stall wins.
 */
export function deadline(ms: number, onExpired: () => void): NodeJS.Timeout {
  return setTimeout(() => setImmediate(onExpired), ms);
}
