import { useIdempotencyKey } from '../../../src/react';

/** Rendered to HTML in Node, then hydrated in the browser: the key must appear only there. */
export function HydratedKey() {
  const { key } = useIdempotencyKey();
  return (
    <main>
      <output id="key">{key}</output>
    </main>
  );
}
