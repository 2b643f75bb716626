import type { Browser, Page } from 'playwright-core';
import { createElement } from 'react';
import { renderToString } from 'react-dom/server';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { memoryStore } from '../../src';
import { bundlePage } from './bundle';
import { launchChromium } from './chromium';
import { HydratedKey } from './page/hydrated';
import { serveShop, serveShopCors } from './serve';
import { makeShop } from './shop';

// One Chromium for the file, a fresh context (own storage) and page per case.
const store = memoryStore();
const shop = makeShop(store);
let browser: Browser;
let served: Awaited<ReturnType<typeof serveShop>>;
let cors: Awaited<ReturnType<typeof serveShopCors>>;
let page: Page;
let pageErrors: string[];

beforeAll(async () => {
  const [bundle, launched] = await Promise.all([bundlePage(), launchChromium()]);
  browser = launched;
  // The hydrate case's HTML comes from react-dom/server, here in Node.
  const ssr = (testCase: string) => (testCase === 'hydrate' ? renderToString(createElement(HydratedKey)) : undefined);
  served = await serveShop(shop, { ...bundle, ssr });
  cors = await serveShopCors(shop, served.origin);
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await served?.close();
  await cors?.close();
  await store.close();
});

afterEach(async () => {
  await page?.context().close();
  // An error thrown in the page (a failed render, an unhandled rejection) fails the case that caused it.
  expect(pageErrors).toEqual([]);
});

async function open(testCase: string, query = '') {
  shop.timing.delayMs = 1000;
  pageErrors = [];
  const context = await browser.newContext();
  page = await context.newPage();
  page.on('pageerror', (error) => pageErrors.push(error.message));
  page.on('console', (message) => {
    if (message.type() === 'error' && message.text().startsWith('hydration')) pageErrors.push(message.text());
  });
  await page.goto(`${served.origin}/?case=${testCase}${query}`);
  await page.waitForSelector('#root main');
  return page;
}

const text = async (selector: string) => (await page.locator(selector).textContent()) ?? '';

/** Waits until the page shows `count` order ids, and returns them. */
async function orders(count: number, selector = '#orders'): Promise<string[]> {
  await page.waitForFunction(
    ([sel, n]) =>
      (document.querySelector(sel as string)?.textContent ?? '').split(',').filter(Boolean).length >= (n as number),
    [selector, count] as const,
  );
  return (await text(selector)).split(',');
}

/**
 * Two clicks 30 ms apart, while the first call runs (it takes 1 s on the server). Clicked inside the
 * page, so that the gap is the page's own and not a round trip from the test on a busy machine.
 */
async function doubleClick() {
  await page.evaluate(
    () =>
      new Promise<void>((resolve) => {
        const button = document.querySelector<HTMLButtonElement>('#order');
        button?.click();
        setTimeout(() => {
          button?.click();
          resolve();
        }, 30);
      }),
  );
}

const executions = () => shop.executions.createOrder;
const keysSince = (from: number) => served.keys.slice(from);

describe('useIdempotentMutation in Chromium', () => {
  it('a double click while the call runs: 1 execution, the same order id shown twice', async () => {
    await open('checkout');
    const [before, sent] = [executions(), served.keys.length];
    await doubleClick();
    const [first, second] = await orders(2);
    expect(executions() - before).toBe(1);
    expect(first).toBe(`order-${before + 1}`);
    expect(second).toBe(first);
    const keys = keysSince(sent);
    expect(keys).toHaveLength(2);
    expect(keys[1]).toBe(keys[0]);
  });

  it('a third click after success: a new key, a new order', async () => {
    await open('checkout');
    const [before, sent] = [executions(), served.keys.length];
    await doubleClick();
    await orders(2);
    await page.click('#order');
    const shown = await orders(3);
    expect(executions() - before).toBe(2);
    expect(shown).toEqual([`order-${before + 1}`, `order-${before + 1}`, `order-${before + 2}`]);
    const keys = keysSince(sent);
    expect(keys[2]).not.toBe(keys[0]);
  });

  it('retry: 2 after a lost response (the server ran, the socket died after the headers): 1 execution', async () => {
    await open('checkout');
    const [before, sent] = [executions(), served.keys.length];
    served.loseResponses(1);
    await page.click('#order');
    expect(await orders(1)).toEqual([`order-${before + 1}`]);
    expect(executions() - before).toBe(1);
    const keys = keysSince(sent);
    expect(keys).toHaveLength(2);
    expect(keys[1]).toBe(keys[0]);
  });

  it('a reset() after the first of two overlapping calls succeeds cannot reach the second call’s retry', async () => {
    await open('checkout');
    const [before, sent] = [executions(), served.keys.length];
    served.loseResponses(2); // the duplicate's answer is lost; it retries after the first call succeeded
    await doubleClick();
    expect(await orders(2)).toEqual([`order-${before + 1}`, `order-${before + 1}`]);
    expect(executions() - before).toBe(1);
    expect(new Set(keysSince(sent)).size).toBe(1);
  });

  it('the same story with the key read from the options (the issue’s snippet): the retry sends the new key, and the order runs twice', async () => {
    await open('bare');
    const [before, sent] = [executions(), served.keys.length];
    served.loseResponses(2);
    await doubleClick();
    expect(await orders(2)).toEqual([`order-${before + 1}`, `order-${before + 2}`]);
    expect(executions() - before).toBe(2);
    const keys = keysSince(sent);
    expect(keys).toHaveLength(3);
    expect(keys[1]).toBe(keys[0]);
    expect(keys[2]).not.toBe(keys[0]);
  });

  it('a double click with the bare hook, no retry involved: 1 execution', async () => {
    await open('bare');
    const before = executions();
    await doubleClick();
    expect(await orders(2)).toEqual([`order-${before + 1}`, `order-${before + 1}`]);
    expect(executions() - before).toBe(1);
  });

  it('classic @trpc/react-query (the vanilla client under useIdempotentMutation): a double click and a retry, 1 execution', async () => {
    await open('classic');
    const [before, sent] = [executions(), served.keys.length];
    served.loseResponses(2);
    await doubleClick();
    expect(await orders(2)).toEqual([`order-${before + 1}`, `order-${before + 1}`]);
    expect(executions() - before).toBe(1);
    expect(new Set(keysSince(sent)).size).toBe(1);
  });

  it('a persisted paused mutation, resumed after a reload, keeps its key: 1 execution', async () => {
    await open('persisted');
    const [before, sent] = [executions(), served.keys.length];
    served.loseResponses(1);
    await page.click('#order');
    // The call reached the server; its answer will be lost, and the device goes offline meanwhile.
    await expect.poll(executions).toBe(before + 1);
    await page.evaluate(() => (window as unknown as { goOffline(): void }).goOffline());
    await page.waitForFunction(() => document.querySelector('#paused')?.textContent === 'true');
    await page.waitForFunction(() => localStorage.getItem('REACT_QUERY_OFFLINE_CACHE')?.includes('"isPaused":true'));
    await page.reload();
    expect(await orders(1)).toEqual([`order-${before + 1}`]);
    expect(executions() - before).toBe(1);
    const keys = keysSince(sent);
    expect(keys).toHaveLength(2);
    expect(keys[1]).toBe(keys[0]);
  });

  it('a CONFLICT is answered by the link: it waits as Retry-After says, asks again, and the caller ends with the result', async () => {
    await open('conflict');
    const [before, conflicts] = [shop.executions.slowOrder, shop.events.conflict];
    await doubleClick();
    const [first, second] = await orders(2);
    expect(first).toBe(`slow-${before + 1}`);
    expect(second).toBe(first);
    expect(shop.executions.slowOrder - before).toBe(1);
    expect(shop.events.conflict - conflicts).toBeGreaterThanOrEqual(1);
  });

  it('cross-origin with the CORS recipe: the key passes the preflight, and the page reads Idempotent-Replayed', async () => {
    await open('cross-origin', `&api=${encodeURIComponent(cors.origin)}`);
    const [before, preflights] = [executions(), cors.preflights.length];
    await page.click('#order');
    await orders(1, '#log');
    await page.click('#order'); // the same action again: the same key, so a replay
    const log = await orders(3, '#log');
    expect(log).toEqual([`order-${before + 1}`, 'replayed', `order-${before + 1}`]);
    expect(executions() - before).toBe(1);
    expect(cors.preflights.slice(preflights).some((h) => h.toLowerCase().includes('idempotency-key'))).toBe(true);
  });
});

describe('useIdempotencyKey in Chromium', () => {
  it('SSR: the server renders no key, and hydration mints it in the browser without a mismatch', async () => {
    expect(renderToString(createElement(HydratedKey))).toBe('<main><output id="key"></output></main>');
    await open('hydrate');
    await page.waitForFunction(() => (document.querySelector('#key')?.textContent ?? '') !== '');
    expect(await text('#key')).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('StrictMode: the double render mints one key, kept across re-renders until reset()', async () => {
    await open('strict');
    const key = await text('#key');
    expect(key).toMatch(/^[0-9a-f-]{36}$/);
    expect(await text('#minted')).toBe('1');
    await page.click('#rerender');
    await page.waitForFunction(() => document.querySelector('#renders')?.textContent === '1');
    expect(await text('#key')).toBe(key);
    await page.click('#reset');
    await page.waitForFunction((old) => document.querySelector('#key')?.textContent !== old, key);
    expect(await text('#key')).toMatch(/^[0-9a-f-]{36}$/);
    expect(await text('#minted')).toBe('2');
  });
});
