#!/usr/bin/env node
// approve.js - opens a guardlist approval link in Debian's chromium (headless,
// driven by playwright-core), takes a screenshot, presses one button, reads
// the confirmation and takes a second screenshot, as a guardian on a phone
// would.  Used by tests/integration/112_approve_browser.t.
//
//   node approve.js --url URL --out-dir DIR [--name NAME] [--click "Allow this sender"]
//                   [--viewport 390x844] [--widths 390x844,1280x800] [--chromium PATH] [--profile-dir DIR]
//                   [--timeout SECONDS]
//
// Before and after the click the page is also looked at in each of --widths
// (common.js lookAtWidths: a screenshot NAME-1-challenge-WxH.png and
// NAME-2-decided-WxH.png, axe-core's violations, layout facts) in
// before.widths and after.widths; the click happens at --viewport.
//
// Prints one JSON object on stdout: what the page showed before and after the
// click (status, title, heading, text, buttons, layout facts), the screenshot
// paths, every request the page made, console messages and page errors.  Exit
// status 0 when the script ran to the end (the test judges what it saw), 2 for
// a usage error, 3 when something failed or the overall time bound passed
// (the JSON then has "error").  Everything is bounded: each step by Playwright's
// timeout, the whole run by --timeout; the browser's profile is a fresh
// directory that is removed at the end.
'use strict';

const path = require('path');
const { parseOptions, withPhoneBrowser, runBounded, lookAtWidths, parseViewports } = require('./common');

const MIN_TAP = 44;             // CSS px: buttons shorter than this are listed

function usage(msg) {
  process.stderr.write('approve.js: ' + msg + '\n' +
    'usage: node approve.js --url URL --out-dir DIR [--name NAME] [--click TEXT] [--viewport WxH]\n' +
    '                       [--widths WxH,WxH]\n' +
    '                       [--chromium PATH] [--profile-dir DIR] [--timeout SECONDS]\n');
  process.exit(2);
}

function parseArgs(argv) {
  const opts = parseOptions(argv, { name: 'approve', click: 'Allow this sender', viewport: '390x844',
                                    widths: '390x844,1280x800', timeout: '60' },
                            ['url', 'out-dir', 'name', 'click', 'viewport', 'widths', 'chromium', 'profile-dir',
                             'timeout'], usage);
  opts.viewports = parseViewports(opts.widths, usage);
  if (!opts.url || !opts['out-dir'])
    usage('--url and --out-dir are required');
  return opts;
}

// What a person sees on the page now, and layout facts for a small screen.
async function describe(page) {
  return page.evaluate(() => {
    const text = (sel) => {
      const el = document.querySelector(sel);
      return el ? el.innerText.trim() : null;
    };
    const vw = document.documentElement.clientWidth;
    const buttons = Array.from(document.querySelectorAll('button')).map((b) => {
      const r = b.getBoundingClientRect();
      return { text: b.innerText.trim(), name: b.name, value: b.value, type: b.type,
               left: r.left, right: r.right, top: r.top, width: r.width, height: r.height };
    });
    return {
      url: location.href,
      title: document.title,
      heading: text('h1'),
      main: text('main'),
      buttons,
      forms: Array.from(document.forms).map((f) => ({ method: f.method, action: f.action })),
      viewportWidth: vw,
      scrollWidth: document.documentElement.scrollWidth,
      horizontalOverflow: document.documentElement.scrollWidth > vw,
      fontSizePx: parseFloat(getComputedStyle(document.body).fontSize),
    };
  });
}

async function main(opts, result) {
  await withPhoneBrowser(opts, result, {}, async (context) => {
    const page = context.pages()[0] || await context.newPage();
    page.setDefaultTimeout(Math.min(20000, opts.timeoutMs));
    page.setDefaultNavigationTimeout(Math.min(20000, opts.timeoutMs));
    page.on('console', (m) => result.console.push({ type: m.type(), text: m.text() }));
    page.on('pageerror', (e) => result.pageErrors.push(String(e)));
    page.on('request', (r) => result.requests.push({ method: r.method(), url: r.url() }));
    page.on('requestfailed', (r) => result.failedRequests.push({ url: r.url(), error: r.failure() && r.failure().errorText }));
    await page.addInitScript({ path: require.resolve('axe-core/axe.min.js') });
    const atWidths = async (shot) => {
      const seen = await lookAtWidths(page, opts.viewports, opts['out-dir'], opts.name + '-' + shot, MIN_TAP);
      await page.setViewportSize({ width: opts.width, height: opts.height });
      return seen;
    };

    // 1. The link from the email.
    const resp = await page.goto(opts.url, { waitUntil: 'load' });
    result.before = await describe(page);
    result.before.status = resp ? resp.status() : null;
    result.before.headers = resp ? await resp.allHeaders() : {};
    result.screenshots.push(path.join(opts['out-dir'], opts.name + '-1-challenge.png'));
    await page.screenshot({ path: result.screenshots[0], fullPage: true });
    result.before.widths = await atWidths('1-challenge');

    // 2. The guardian presses the button.
    const button = page.getByRole('button', { name: opts.click, exact: true });
    const count = await button.count();
    if (count !== 1)
      throw new Error('expected one button named ' + JSON.stringify(opts.click) + ', found ' + count);
    // The answer to the POST is a new document: wait for the main frame to
    // commit it, then for its load event, before reading it.
    const [post] = await Promise.all([
      page.waitForResponse((r) => r.request().method() === 'POST'),
      page.waitForEvent('framenavigated', { predicate: (f) => f === page.mainFrame() }),
      button.tap(),
    ]);
    await page.waitForLoadState('load');
    result.post = { status: post.status(), url: post.url(), body: post.request().postData(),
                    headers: await post.allHeaders() };
    result.after = await describe(page);
    result.screenshots.push(path.join(opts['out-dir'], opts.name + '-2-decided.png'));
    await page.screenshot({ path: result.screenshots[1], fullPage: true });
    result.after.widths = await atWidths('2-decided');
  });
}

const opts = parseArgs(process.argv.slice(2));
const result = { ok: false, screenshots: [], console: [], pageErrors: [], requests: [], failedRequests: [] };
runBounded('approve.js', opts, result, main);
