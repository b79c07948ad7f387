#!/usr/bin/env node
// admin.js - walks through guardlist's admin page (guardlist-web) in Debian's
// chromium (headless, driven by playwright-core) as an administrator on a
// phone would: logs in with HTTP Basic auth (the context's httpCredentials),
// protects an address with a guardian, then allows one pending sender and
// blocks another, taking a screenshot at each step.  Used by
// tests/integration/152_web_browser.t.
//
//   GUARDLIST_WEB_PASSWORD=... node admin.js --url URL --out-dir DIR --user NAME
//       --protect ADDRESS --guardian EMAIL --approve SENDER --block SENDER
//       [--name NAME] [--viewport 390x844] [--widths 390x844,1280x800] [--search TEXT]
//       [--chromium PATH] [--profile-dir DIR] [--timeout SECONDS]
//
// The password comes from the environment (GUARDLIST_WEB_PASSWORD), not the
// command line, where every local user could read it.
//
// First a tour of every page (TOUR below: protected, rules, global, pending,
// audit, search for --search), each opened once and looked at in turn at
// each of --widths: a screenshot NAME-tour-PAGE-WxH.png, axe-core's
// violations and layout facts (words a table breaks over lines, placeholders
// cut off, sideways scrolling, small buttons, text size).  Then the journey
// at --viewport, each answer page checked by axe as well (screenshots
// NAME-1..5-*.png in DIR):
//   1 protected       GET URL?p=protected
//   2 protected-done  fill "Protect address" and "Guardian's email", tap Protect
//   3 pending         GET URL?p=pending
//   4 approved        tap "Allow sender" in the row of --approve
//   5 blocked         tap "Block sender" in the row of --block (on the page the
//                     previous answer rendered, if it is the pending queue;
//                     else after opening URL?p=pending again)
//
// Prints one JSON object on stdout: for each step what the page showed
// (status, title, h1, the message box, the rows of the main table, buttons,
// layout facts), the POST bodies, every request and response the page made,
// console messages and page errors, the screenshot paths.  Exit status 0 when
// the script ran to the end (the test judges what it saw), 2 for a usage
// error, 3 when something failed or the overall time bound passed (the JSON
// then has "error").  Everything is bounded: each step by Playwright's
// timeout, the whole run by --timeout; the browser's profile is a fresh
// directory that is removed at the end.
'use strict';

const path = require('path');
const { parseOptions, withPhoneBrowser, runBounded, axeViolations, lookAtWidths, parseViewports } = require('./common');

const PASSWORD_ENV = 'GUARDLIST_WEB_PASSWORD';
const MIN_TAP = 44;             // CSS px: buttons shorter than this are listed (the test judges at which width)

// The tour: every page of the admin page, by name and query.
const TOUR = [
  ['protected', '?p=protected'], ['rules', '?p=rules'], ['global', '?p=global'], ['pending', '?p=pending'],
  ['audit', '?p=audit'], ['search', '?p=search&q='],
];

function usage(msg) {
  process.stderr.write('admin.js: ' + msg + '\n' +
    'usage: ' + PASSWORD_ENV + '=... node admin.js --url URL --out-dir DIR --user NAME\n' +
    '           --protect ADDRESS --guardian EMAIL --approve SENDER --block SENDER\n' +
    '           [--name NAME] [--viewport WxH] [--widths WxH,WxH] [--search TEXT]\n' +
    '           [--chromium PATH] [--profile-dir DIR] [--timeout SECONDS]\n');
  process.exit(2);
}

function parseArgs(argv) {
  const opts = parseOptions(argv, { name: 'admin', viewport: '390x844', widths: '390x844,1280x800', search: 'family',
                                    timeout: '60' },
                            ['url', 'out-dir', 'user', 'protect', 'guardian', 'approve', 'block', 'name', 'viewport',
                             'widths', 'search', 'chromium', 'profile-dir', 'timeout'], usage);
  opts.viewports = parseViewports(opts.widths, usage);
  for (const k of ['url', 'out-dir', 'user', 'protect', 'guardian', 'approve', 'block'])
    if (!opts[k])
      usage('--' + k + ' is required');
  opts.password = process.env[PASSWORD_ENV];
  if (!opts.password)
    usage(PASSWORD_ENV + ' must hold the password of --user');
  let url;
  try {
    url = new URL(opts.url);
  } catch (e) {
    usage('--url is not a URL: ' + JSON.stringify(opts.url));
  }
  if (url.search || url.hash)
    usage('--url must have no query or fragment (the script adds ?p=...)');
  opts.origin = url.origin;
  return opts;
}

// What a person sees on the page now, and layout facts for a small screen.
async function describe(page) {
  return page.evaluate(() => {
    const text = (el) => (el ? el.innerText.trim() : null);
    const vw = document.documentElement.clientWidth;
    const rect = (el) => {
      const r = el.getBoundingClientRect();
      return { left: r.left, right: r.right, top: r.top, width: r.width, height: r.height };
    };
    const msg = document.querySelector('.msg');
    const table = document.querySelector('main table');
    const rows = table ? Array.from(table.querySelectorAll('tbody tr')).map((tr) => ({
      text: text(tr),
      cells: Array.from(tr.querySelectorAll('td')).map((td) => ({ label: td.dataset.label || '', text: text(td) })),
      buttons: Array.from(tr.querySelectorAll('button')).map((b) => Object.assign({ text: text(b) }, rect(b))),
    })) : null;
    // Elements that stick out to the right of the screen (what makes it scroll sideways).
    // inMsg: the element is (in) the message box.
    const wide = [];
    for (const el of document.body.querySelectorAll('*')) {
      const r = el.getBoundingClientRect();
      if (r.width > 0 && r.right > vw + 0.5 && wide.length < 20)
        wide.push({ tag: el.tagName.toLowerCase(), cls: String(el.className || ''), right: r.right,
                    inMsg: !!el.closest('.msg'), text: (el.innerText || el.value || '').trim().slice(0, 60) });
    }
    return {
      url: location.href,
      title: document.title,
      heading: text(document.querySelector('h1')),
      main: text(document.querySelector('main')),
      message: text(msg),
      messageClass: msg ? msg.className : null,
      tables: document.querySelectorAll('main table').length,
      rows,
      buttons: Array.from(document.querySelectorAll('main button')).map((b) => Object.assign(
        { text: text(b), small: b.classList.contains('small') }, rect(b))),
      viewportWidth: vw,
      scrollWidth: document.documentElement.scrollWidth,
      horizontalOverflow: document.documentElement.scrollWidth > vw,
      wide,
      fontSizePx: parseFloat(getComputedStyle(document.body).fontSize),
    };
  });
}

async function main(opts, result) {
  await withPhoneBrowser(opts, result, {
    // "Logging in": the browser answers the web server's 401 with these,
    // and only for the page's own origin.
    httpCredentials: { username: opts.user, password: opts.password, origin: opts.origin },
  }, async (context) => {
    const page = context.pages()[0] || await context.newPage();
    const stepTimeout = Math.min(20000, opts.timeoutMs);
    page.setDefaultTimeout(stepTimeout);
    page.setDefaultNavigationTimeout(stepTimeout);
    let current = null;         // the step being recorded
    page.on('console', (m) => result.console.push({ type: m.type(), text: m.text(), step: current && current.name }));
    page.on('pageerror', (e) => result.pageErrors.push(String(e)));
    page.on('request', (r) => {
      const rec = { method: r.method(), url: r.url() };
      result.requests.push(rec);
      if (current)
        current.requests.push(rec);
    });
    page.on('requestfailed', (r) => result.failedRequests.push({ url: r.url(), error: r.failure() && r.failure().errorText }));
    // The main frame's documents, in order: the last one is the page shown.
    const documents = [];
    page.on('response', (r) => {
      result.responses.push({ method: r.request().method(), url: r.url(), status: r.status() });
      if (r.request().isNavigationRequest() && r.frame() === page.mainFrame())
        documents.push(r);
    });

    const begin = (name) => {
      current = { name, requests: [] };
      result.steps.push(current);
      return current;
    };
    // AXE: run axe-core too (the answer pages; the tour has seen the others).
    const finish = async (step, shot, axe) => {
      const doc = documents[documents.length - 1];
      step.status = doc ? doc.status() : null;
      Object.assign(step, await describe(page));
      if (axe)
        step.axe = await axeViolations(page);
      step.screenshot = path.join(opts['out-dir'], opts.name + '-' + shot + '.png');
      await page.screenshot({ path: step.screenshot, fullPage: true });
      result.screenshots.push(step.screenshot);
    };
    const open = async (name, query, shot) => {
      const step = begin(name);
      const resp = await page.goto(opts.url + query, { waitUntil: 'load' });
      await finish(step, shot);
      step.gotoStatus = resp ? resp.status() : null;
      return step;
    };
    // Taps BUTTON, whose form POSTs; the answer is a new document: wait for
    // the main frame to commit it, then for its load event, before reading it.
    const submit = async (name, button, shot) => {
      const step = begin(name);
      const n = await button.count();
      if (n !== 1)
        throw new Error(name + ': expected one button, found ' + n);
      const [post] = await Promise.all([
        page.waitForRequest((r) => r.method() === 'POST'),
        page.waitForEvent('framenavigated', { predicate: (f) => f === page.mainFrame() }),
        button.tap(),
      ]);
      await page.waitForLoadState('load');
      step.post = { url: post.url(), body: post.postData() };
      await finish(step, shot, true);
      return step;
    };

    await page.addInitScript({ path: require.resolve('axe-core/axe.min.js') });
    // The tour, at each width; back to the phone for the journey.
    for (const [name, query] of TOUR) {
      current = { name, requests: [] };
      result.tour.push(current);
      const resp = await page.goto(opts.url + query + (name === 'search' ? encodeURIComponent(opts.search) : ''),
                                   { waitUntil: 'load' });
      current.status = resp ? resp.status() : null;
      current.heading = await page.locator('h1').first().innerText();
      current.widths = await lookAtWidths(page, opts.viewports, opts['out-dir'], opts.name + '-tour-' + name, MIN_TAP);
    }
    current = null;
    await page.setViewportSize({ width: opts.width, height: opts.height });

    // a. The list of protected recipients.
    await open('protected', '?p=protected', '1-protected');

    // b. Protect an address, with a guardian.
    const protectForm = page.locator('form.add').filter({ has: page.locator('input[name="do"][value="protect"]') });
    if (await protectForm.count() !== 1)
      throw new Error('expected one "Protect address" form, found ' + await protectForm.count());
    await protectForm.locator('input[name="key"]').fill(opts.protect);
    await protectForm.locator('input[name="email"]').fill(opts.guardian);
    await submit('protected-done', protectForm.getByRole('button', { name: 'Protect', exact: true }),
                 '2-protected-done');

    // c. The pending queue; allow one sender.
    await open('pending', '?p=pending', '3-pending');
    const rowButton = (sender, label) => page.locator('main table tbody tr').filter({ hasText: sender })
      .getByRole('button', { name: label, exact: true });
    await submit('approved', rowButton(opts.approve, 'Allow sender'), '4-approved');

    // d. Block another, from the page the answer rendered if it is the queue.
    const last = result.steps[result.steps.length - 1];
    result.reopenedPending = !(last.heading === 'Pending senders' &&
                               (last.rows || []).some((r) => r.text.includes(opts.block)));
    if (result.reopenedPending) {
      current = null;
      await page.goto(opts.url + '?p=pending', { waitUntil: 'load' });
    }
    await submit('blocked', rowButton(opts.block, 'Block sender'), '5-blocked');
    current = null;
  });
}

const opts = parseArgs(process.argv.slice(2));
const result = { ok: false, tour: [], steps: [], screenshots: [], console: [], pageErrors: [], requests: [],
                 responses: [], failedRequests: [] };
runBounded('admin.js', opts, result, main);
