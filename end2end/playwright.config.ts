import { defineConfig } from '@playwright/test';

// Debian's Chromium; Playwright cannot download browsers here.
const launchOptions = {
  executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
  args: [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--no-first-run',
  ],
};

// run.sh starts one fresh hub per project and passes its URL and setup token.
export default defineConfig({
  testDir: './tests',
  outputDir: './test-results',
  fullyParallel: false,
  workers: 2,
  retries: 0,
  timeout: 30_000,
  expect: { timeout: 10_000 },
  reporter: [['list']],
  use: { trace: 'off', screenshot: 'only-on-failure' },
  projects: [
    {
      name: 'hydrated',
      use: { baseURL: process.env.CORTEX_URL_JS, javaScriptEnabled: true, launchOptions },
      metadata: { setupToken: process.env.CORTEX_SETUP_JS },
    },
    {
      name: 'ssr-only',
      use: { baseURL: process.env.CORTEX_URL_NOJS, javaScriptEnabled: false, launchOptions },
      metadata: { setupToken: process.env.CORTEX_SETUP_NOJS },
    },
  ],
});
