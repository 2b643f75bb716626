import { useState } from 'react';
import { useIdempotencyKey } from '../../../src/react';

/** Counts the keys minted: StrictMode's double render must not mint two for one action. */
const minted = { count: 0 };
const randomUUID = crypto.randomUUID.bind(crypto);
crypto.randomUUID = () => {
  minted.count += 1;
  return randomUUID();
};

export function StrictKey() {
  const { key, reset } = useIdempotencyKey();
  const [renders, setRenders] = useState(0);
  return (
    <main>
      <button id="rerender" type="button" onClick={() => setRenders((n) => n + 1)}>
        Re-render
      </button>
      <button id="reset" type="button" onClick={reset}>
        New action
      </button>
      <output id="key">{key}</output>
      <output id="renders">{renders}</output>
      <output id="minted">{minted.count}</output>
    </main>
  );
}
