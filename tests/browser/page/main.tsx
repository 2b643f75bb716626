import { QueryClientProvider } from '@tanstack/react-query';
import { StrictMode } from 'react';
import { createRoot, hydrateRoot } from 'react-dom/client';
import { BareCheckout, Checkout } from './checkout';
import { Classic } from './classic';
import { CrossOrigin } from './cross-origin';
import { HydratedKey } from './hydrated';
import { Persisted } from './persisted';
import { StrictKey } from './strict';
import { queryClient } from './trpc';

// One bundle for every case; `?case=` picks the screen.
const params = new URLSearchParams(window.location.search);
const screens: Record<string, () => React.ReactNode> = {
  checkout: () => <Checkout />,
  bare: () => <BareCheckout />,
  classic: () => <Classic />,
  conflict: () => <Checkout slow />,
  persisted: () => <Persisted />,
  'cross-origin': () => <CrossOrigin api={params.get('api') ?? ''} />,
  strict: () => <StrictKey />,
};
const root = document.getElementById('root');
if (!root) throw new Error('no #root');

if (params.get('case') === 'hydrate') {
  // Over the server's HTML; a mismatch would be reported here, and fail the test.
  hydrateRoot(
    root,
    <StrictMode>
      <HydratedKey />
    </StrictMode>,
    { onRecoverableError: (error) => console.error(`hydration: ${String(error)}`) },
  );
} else {
  render(root);
}

function render(root: HTMLElement) {
  const screen = screens[params.get('case') ?? ''];
  if (!screen) throw new Error(`unknown case ${params.get('case')}`);
  createRoot(root).render(
    <StrictMode>
      <QueryClientProvider client={queryClient}>{screen()}</QueryClientProvider>
    </StrictMode>,
  );
}
