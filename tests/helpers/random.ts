/**
 * A seeded pseudo-random integer source (a linear congruential generator), so that a randomised
 * test runs the same sequence every time: `random(n)` is in [0, n).
 */
export function seededRandom(seed: number): (n: number) => number {
  let state = seed;
  return (n) => {
    state = (state * 1_103_515_245 + 12_345) % 2 ** 31;
    return state % n;
  };
}
