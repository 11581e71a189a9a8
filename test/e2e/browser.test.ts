import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import { type DuetProcess, startDuet } from '../harness/duet-process.js';
import { freePort } from '../harness/free-port.js';

const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = fileURLToPath(new URL('../artifacts/', import.meta.url));
const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-quic',
  '--no-first-run',
  '--disable-component-update',
  '--disable-sync',
];
const STEP_TIMEOUT_MS = 15_000;

/** `duet dev` on a free loopback port (or `port`); a port taken between the probe and the bind is retried. */
async function startDev(port?: number): Promise<{ dev: DuetProcess; base: string; port: number }> {
  for (let tries = 0; ; tries++) {
    const p = port ?? (await freePort());
    try {
      const dev = await startDuet(['dev', '--set', `network.ws.server.addr=127.0.0.1:${p}`]);
      return { dev, base: `http://127.0.0.1:${p}`, port: p };
    } catch (err) {
      if (port !== undefined || tries >= 2 || !/EADDRINUSE/.test(String(err))) throw err;
    }
  }
}

function needChromium(): void {
  // CI installs chromium (.ci/run); a machine without it must not pass these tests silently.
  assert.ok(
    existsSync(CHROMIUM),
    `${CHROMIUM} is missing: install Debian's chromium (apt-get install chromium; .ci/run does) to run the browser test`,
  );
}

async function launch(t: { after: (fn: () => unknown) => void }): Promise<BrowserContext> {
  const userDataDir = mkdtempSync(join(tmpdir(), 'duet-chromium-'));
  t.after(() => rmSync(userDataDir, { recursive: true, force: true }));
  return chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: ARGS,
    viewport: { width: 1000, height: 600 },
  });
}

/** Fails the test on anything the page throws or logs as an error. */
function watchErrors(page: Page, name: string, errors: string[]): void {
  page.on('pageerror', (err) => errors.push(`${name}: ${err.message}`));
  page.on('console', (msg) => {
    if (msg.type() === 'error') errors.push(`${name}: console: ${msg.text()}`);
  });
}

async function enter(page: Page, base: string, name: string, room: string): Promise<void> {
  await page.goto(`${base}/`);
  await page.locator('#status[data-state="open"]').waitFor({ timeout: STEP_TIMEOUT_MS });
  await page.fill('#name', name);
  await page.click('#login');
  await page.locator('#room-panel').waitFor({ state: 'visible', timeout: STEP_TIMEOUT_MS });
  await page.fill('#room', room);
  await page.click('#join');
  await page.locator('#game').waitFor({ state: 'visible', timeout: STEP_TIMEOUT_MS });
  await page.locator(`#board .player.me[data-name="${name}"]`).waitFor({ timeout: STEP_TIMEOUT_MS });
}

async function chat(page: Page, text: string): Promise<void> {
  await page.fill('#chat-input', text);
  await page.press('#chat-input', 'Enter');
}

/** Waits until `who`'s dot on `page` sits at (x, y). */
async function seesAt(page: Page, who: string, x: number, y: number): Promise<void> {
  await page
    .locator(`#board .player[data-name="${who}"][data-x="${x}"][data-y="${y}"]`)
    .waitFor({ timeout: STEP_TIMEOUT_MS });
}

test('browser - two players log in, join one room, chat and see each other move (headless Chromium)', {
  timeout: 90_000,
}, async (t) => {
  needChromium();
  const { dev, base } = await startDev();
  let context: BrowserContext | undefined;
  t.after(async () => {
    await context?.close();
    await dev.stop();
  });

  // The page, its script and style come from the WebSocket port; other paths get the transport's 426.
  const page404 = await fetch(`${base}/no-such-file`);
  assert.equal(page404.status, 426);
  const script = await fetch(`${base}/app.js`);
  assert.equal(script.status, 200);
  assert.match(script.headers.get('content-type') ?? '', /javascript/);

  context = await launch(t);
  const errors: string[] = [];
  const alice = await context.newPage();
  const bob = await context.newPage();
  watchErrors(alice, 'alice', errors);
  watchErrors(bob, 'bob', errors);

  await enter(alice, base, 'alice', 'e2e');
  await enter(bob, base, 'bob', 'e2e');
  // Each sees the other through the position tick.
  await alice.locator('#board .player[data-name="bob"]').waitFor({ timeout: STEP_TIMEOUT_MS });
  await bob.locator('#board .player[data-name="alice"]').waitFor({ timeout: STEP_TIMEOUT_MS });

  await chat(alice, 'hello from alice');
  await bob.locator('#chat-log li', { hasText: 'alice: hello from alice' }).waitFor({ timeout: STEP_TIMEOUT_MS });
  await chat(bob, 'hi alice, bob here');
  await alice.locator('#chat-log li', { hasText: 'bob: hi alice, bob here' }).waitFor({ timeout: STEP_TIMEOUT_MS });

  // A click moves alice there (and takes the focus off the chat box); arrow keys then step 10 px.
  await alice.locator('#board').click({ position: { x: 300, y: 200 } });
  await seesAt(bob, 'alice', 300, 200);
  for (let i = 0; i < 3; i++) await alice.keyboard.press('ArrowRight');
  await alice.keyboard.press('ArrowDown');
  await seesAt(bob, 'alice', 330, 210);
  await bob.locator('#board').click({ position: { x: 120, y: 90 } });
  await seesAt(alice, 'bob', 120, 90);

  mkdirSync(ARTIFACTS, { recursive: true });
  // animations: 'disabled' finishes the dots' CSS transitions, so the picture shows where they are.
  await bob.screenshot({ path: join(ARTIFACTS, 'two-players.png'), animations: 'disabled' });

  // The same name from a third page displaces alice's first page, which goes back to its login form instead of
  // logging in again on reconnect (that would displace the new page in turn, forever).
  const alice2 = await context.newPage();
  watchErrors(alice2, 'alice2', errors);
  await enter(alice2, base, 'alice', 'e2e');
  await alice.locator('#error', { hasText: 'another page' }).waitFor({ timeout: STEP_TIMEOUT_MS });
  await alice.locator('#login-form').waitFor({ state: 'visible', timeout: STEP_TIMEOUT_MS });
  await bob.locator('#chat-log li', { hasText: 'alice joined e2e' }).waitFor({ timeout: STEP_TIMEOUT_MS });
  await alice.locator('#status[data-state="open"]').waitFor({ timeout: STEP_TIMEOUT_MS });
  await chat(alice2, 'second alice');
  await bob.locator('#chat-log li', { hasText: 'alice: second alice' }).waitFor({ timeout: STEP_TIMEOUT_MS });
  assert.equal(await alice2.locator('#login-form').isVisible(), false, 'the new page stays logged in');
  assert.deepEqual(errors, []);
});

test('browser - after a server crash and restart the page reconnects, logs in and joins its room again', {
  timeout: 90_000,
}, async (t) => {
  needChromium();
  const first = await startDev();
  let dev = first.dev;
  let context: BrowserContext | undefined;
  t.after(async () => {
    await context?.close();
    await dev.stop();
  });
  context = await launch(t);
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (err) => errors.push(err.message));
  await enter(page, first.base, 'carol', 'again');
  const joins = page.locator('#chat-log li', { hasText: 'carol joined again' });
  await joins.first().waitFor({ timeout: STEP_TIMEOUT_MS });

  // SIGKILL: no close frame, like a crash; the page's client retries with backoff while the port is closed.
  await dev.kill();
  await page.locator('#status[data-state="closed"]').waitFor({ timeout: STEP_TIMEOUT_MS });
  dev = (await startDev(first.port)).dev;
  await page.locator('#status[data-state="open"]').waitFor({ timeout: 30_000 });
  await page.waitForFunction(
    () =>
      [...document.querySelectorAll('#chat-log li')].filter((li) => li.textContent === 'carol joined again').length ===
      2,
    undefined,
    { timeout: STEP_TIMEOUT_MS },
  );
  await chat(page, 'still here');
  await page.locator('#chat-log li', { hasText: 'carol: still here' }).waitFor({ timeout: STEP_TIMEOUT_MS });
  assert.deepEqual(errors, []);
});
