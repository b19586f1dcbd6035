import { test, expect, Page, Browser } from '@playwright/test';

// The demo storefront: each page's layout is resolved per visitor on the server and hydrated
// from the same answer. With JavaScript on, a console error (a failed hydration) fails.
const IPHONE = 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148';
const DESKTOP = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/126.0 Safari/537.36';

async function visitor(browser: Browser, info: any, userAgent: string): Promise<{ page: Page; problems: string[] }> {
  const js = info.project.use.javaScriptEnabled !== false;
  const context = await browser.newContext({ userAgent, javaScriptEnabled: js, baseURL: info.project.use.baseURL });
  const page = await context.newPage();
  const problems: string[] = [];
  page.on('pageerror', (e) => problems.push(`pageerror on ${page.url()}: ${e.message}`));
  page.on('console', (m) => { if (m.type() === 'error') problems.push(`console on ${page.url()}: ${m.text()}`); });
  return { page, problems };
}

async function openShop(page: Page, path: string) {
  // The hub seeds the storefront a moment after it starts.
  await expect.poll(async () => {
    await page.goto(path);
    return await page.locator('#shop').count();
  }, { timeout: 15_000 }).toBe(1);
}

async function moduleOrder(page: Page): Promise<string[]> {
  return page.locator('main > [data-node]').evaluateAll((els) => els.map((e) => e.getAttribute('data-node') ?? ''));
}

test('mobile and desktop visitors get their own layout, with no shift on hydration', async ({ browser }, info) => {
  const mobile = await visitor(browser, info, IPHONE);
  await openShop(mobile.page, '/shop');
  const before = await mobile.page.locator('[data-node="hero"]').boundingBox();
  expect((await moduleOrder(mobile.page))[0]).toBe('offer');
  await mobile.page.waitForLoadState('networkidle');
  const after = await mobile.page.locator('[data-node="hero"]').boundingBox();
  expect(after, 'the hero did not move when the page hydrated').toEqual(before);
  expect((await moduleOrder(mobile.page))[0]).toBe('offer');
  await mobile.page.screenshot({ path: info.outputPath('shop-mobile.png'), fullPage: true });

  const desktop = await visitor(browser, info, DESKTOP);
  await openShop(desktop.page, '/shop');
  await desktop.page.waitForLoadState('networkidle');
  expect((await moduleOrder(desktop.page))[0]).toBe('hero');
  await desktop.page.screenshot({ path: info.outputPath('shop-desktop.png'), fullPage: true });
  expect([...mobile.problems, ...desktop.problems], 'browser errors').toEqual([]);
});

test('a quiz answer changes the page, with and without JavaScript', async ({ browser }, info) => {
  const v = await visitor(browser, info, DESKTOP);
  await openShop(v.page, '/shop');
  await expect(v.page.locator('[data-node="testimonials"]')).not.toContainText('Penzance');
  await v.page.getByRole('button', { name: 'Coast' }).click();
  await expect(v.page).toHaveURL(/hike=Coast/);
  // The answer is acknowledged: marked, and said in words.
  await expect(v.page.getByRole('button', { name: 'Coast' })).toHaveAttribute('aria-pressed', 'true');
  await expect(v.page.locator('[data-quiz-answer="Coast"]')).toContainText('you answered “Coast”');
  await expect(v.page.locator('[data-node="testimonials"]')).toContainText('Penzance');
  await v.page.getByRole('link', { name: 'Sale' }).click();
  await expect(v.page.locator('[data-node="hero"]')).toContainText('Winter sale');
  await v.page.goto('/shop/nowhere');
  await expect(v.page.getByText(/unknown page/)).toBeVisible();
  expect(v.problems.filter((p) => !/status of 404/.test(p)), 'browser errors').toEqual([]);
});

test('event-triggered rules apply in the browser without a reload', async ({ browser }, info) => {
  test.skip(info.project.use.javaScriptEnabled === false, 'triggers run in the browser; without JavaScript the page stays as the server rendered it');
  const v = await visitor(browser, info, DESKTOP);
  await openShop(v.page, '/shop');
  await v.page.waitForLoadState('networkidle');
  const footer = v.page.locator('[data-node="footer"]');
  const offer = v.page.locator('[data-node="offer"]');
  await expect(footer).not.toContainText('free returns');
  await expect(offer).not.toContainText('STAY15');
  // Navigations would reset the page; count them to prove there is no reload.
  let navigations = 0;
  v.page.on('framenavigated', () => navigations++);
  await v.page.mouse.wheel(0, 20_000);
  await expect(footer).toContainText('free returns for 60 days');
  // The pointer leaves through the top edge: exit intent.
  await v.page.evaluate(() => document.dispatchEvent(new MouseEvent('mouseout', { clientY: -5, bubbles: true })));
  await expect(offer).toContainText('STAY15');
  expect(navigations).toBe(0);
  await v.page.screenshot({ path: info.outputPath('shop-triggered.png'), fullPage: true });
  expect(v.problems, 'browser errors').toEqual([]);
});

test('without JavaScript the storefront downloads no script and no WebAssembly', async ({ browser }, info) => {
  test.skip(info.project.use.javaScriptEnabled !== false, 'checked with JavaScript off');
  const v = await visitor(browser, info, DESKTOP);
  const fetched: string[] = [];
  v.page.on('request', (r) => fetched.push(r.url()));
  await openShop(v.page, '/shop');
  await v.page.waitForLoadState('networkidle');
  const bundle = fetched.filter((u) => /\/pkg\/.*\.(js|wasm)(\?|$)/.test(u));
  expect(bundle, 'bundle requests with JavaScript off').toEqual([]);
  expect(fetched.some((u) => /\/pkg\/cortex\.css/.test(u)), 'the stylesheet still loads').toBe(true);
});

test('with JavaScript the storefront still fetches its bundle and hydrates', async ({ browser }, info) => {
  test.skip(info.project.use.javaScriptEnabled === false, 'checked with JavaScript on');
  const v = await visitor(browser, info, DESKTOP);
  const fetched: string[] = [];
  v.page.on('request', (r) => fetched.push(r.url()));
  await openShop(v.page, '/shop');
  await v.page.waitForLoadState('networkidle');
  expect(fetched.some((u) => /\/pkg\/cortex\.wasm/.test(u)), 'the WebAssembly bundle loads').toBe(true);
  const add = v.page.locator('[data-goal="add-to-cart"]').first();
  await add.click();
  await expect(add).toHaveText('Added ✓');
  expect(v.problems, 'browser errors').toEqual([]);
});
