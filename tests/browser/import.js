#!/usr/bin/env node
// import.js - imports a child's address book on guardlist's admin page
// (guardlist-web) in Debian's chromium (headless, playwright-core), as an
// administrator on a phone would.  Used by tests/integration/158_web_import_browser.t.
//
//   GUARDLIST_WEB_PASSWORD=... node import.js --url URL --out-dir DIR --user NAME
//       --child ADDRESS --file GOOD --bad-file BAD [--name NAME] [--viewport 390x844]
//       [--chromium PATH] [--profile-dir DIR] [--timeout SECONDS]
//
// Steps (screenshots NAME-N-*.png in DIR, axe-core on each page):
//   1 page      GET URL?p=import, pick --child
//   2 refused   pick --bad-file: the page's script shows why, fills nothing
//   3 picked    pick --file: the script puts its text in the form
//   4 preview   tap Preview: what would be added or skipped
//   5 imported  tap "Import N contacts"
// Prints one JSON object on stdout (what each step showed, console messages,
// page errors, requests); exit 0 when it ran to the end, 2 usage, 3 failure.
'use strict';

const path = require('path');
const { parseOptions, withPhoneBrowser, runBounded, axeViolations } = require('./common');

const PASSWORD_ENV = 'GUARDLIST_WEB_PASSWORD';

function usage(msg) {
  process.stderr.write('import.js: ' + msg + '\n' +
    'usage: ' + PASSWORD_ENV + '=... node import.js --url URL --out-dir DIR --user NAME\n' +
    '           --child ADDRESS --file GOOD --bad-file BAD [--name NAME] [--viewport WxH]\n' +
    '           [--chromium PATH] [--profile-dir DIR] [--timeout SECONDS]\n');
  process.exit(2);
}

function parseArgs(argv) {
  const opts = parseOptions(argv, { name: 'import', viewport: '390x844', timeout: '60' },
                            ['url', 'out-dir', 'user', 'child', 'file', 'bad-file', 'name', 'viewport', 'chromium',
                             'profile-dir', 'timeout'], usage);
  for (const k of ['url', 'out-dir', 'user', 'child', 'file', 'bad-file'])
    if (!opts[k])
      usage('--' + k + ' is required');
  opts.password = process.env[PASSWORD_ENV];
  if (!opts.password)
    usage(PASSWORD_ENV + ' must hold the password of --user');
  opts.origin = new URL(opts.url).origin;
  return opts;
}

// What the page shows now.
async function describe(page) {
  return page.evaluate(() => {
    const text = (sel) => {
      const el = document.querySelector(sel);
      return el ? el.innerText.trim() : null;
    };
    const err = document.getElementById('import-error');
    const book = document.getElementById('import-book');
    return {
      url: location.href,
      heading: text('h1'),
      message: text('.msg:not(#import-error)'),
      error: err && !err.hidden ? err.innerText.trim() : null,
      bookLength: book ? book.value.length : null,
      rows: Array.from(document.querySelectorAll('#import-preview tbody tr'))
        .map((tr) => Array.from(tr.cells).map((c) => c.innerText.trim())),
      summary: text('#import-summary'),
      buttons: Array.from(document.querySelectorAll('button')).map((b) => b.innerText.trim()),
      horizontalOverflow: document.documentElement.scrollWidth > document.documentElement.clientWidth,
    };
  });
}

async function main(opts, result) {
  await withPhoneBrowser(opts, result, {
    httpCredentials: { username: opts.user, password: opts.password, origin: opts.origin },
  }, async (context) => {
    const page = context.pages()[0] || await context.newPage();
    page.setDefaultTimeout(Math.min(20000, opts.timeoutMs));
    page.setDefaultNavigationTimeout(Math.min(20000, opts.timeoutMs));
    page.on('console', (m) => result.console.push({ type: m.type(), text: m.text() }));
    page.on('pageerror', (e) => result.pageErrors.push(String(e)));
    page.on('request', (r) => result.requests.push({ method: r.method(), url: r.url() }));
    page.on('requestfailed', (r) => result.failedRequests.push({ url: r.url(), error: r.failure() && r.failure().errorText }));
    const step = async (name, status) => {
      const seen = await describe(page);
      seen.name = name;
      seen.status = status;
      seen.screenshot = path.join(opts['out-dir'], opts.name + '-' + (result.steps.length + 1) + '-' + name + '.png');
      await page.screenshot({ path: seen.screenshot, fullPage: true, scale: 'css' });
      seen.axe = await axeViolations(page);
      result.steps.push(seen);
    };
    const tapAndLoad = async (button) => {
      const [resp] = await Promise.all([
        page.waitForResponse((r) => r.request().method() === 'POST'),
        page.waitForEvent('framenavigated', { predicate: (f) => f === page.mainFrame() }),
        button.tap(),
      ]);
      await page.waitForLoadState('load');
      return resp.status();
    };

    const resp = await page.goto(opts.url + '?p=import', { waitUntil: 'load' });
    await page.selectOption('#import-child', opts.child);
    await step('page', resp ? resp.status() : null);

    await page.setInputFiles('#import-file', opts['bad-file']);
    await page.locator('#import-error').waitFor({ state: 'visible' });
    await step('refused', null);

    await page.setInputFiles('#import-file', opts.file);
    await page.waitForFunction(() => document.getElementById('import-book').value.length > 0);
    await step('picked', null);

    await step('preview', await tapAndLoad(page.getByRole('button', { name: 'Preview', exact: true })));
    await step('imported', await tapAndLoad(page.getByRole('button', { name: /^Import \d+ contacts?$/ })));
  });
}

const opts = parseArgs(process.argv.slice(2));
const result = { ok: false, steps: [], console: [], pageErrors: [], requests: [], failedRequests: [] };
runBounded('import.js', opts, result, main);
