#!/usr/bin/env node
// overview.js - opens guardlist's admin overview (guardlist-web ?p=overview)
// in Debian's chromium (headless, driven by playwright-core) as an
// administrator on a phone, and reports what the page and its bar chart
// look like at each of --widths.  Used by
// tests/integration/153_web_overview_browser.t.
//
//   GUARDLIST_WEB_PASSWORD=... node overview.js --url URL --out-dir DIR --user NAME
//       [--name NAME] [--viewport 390x844] [--widths 390x844,1280x800]
//       [--chromium PATH] [--profile-dir DIR] [--timeout SECONDS]
//
// The page is opened once by following the "Overview" link of the
// navigation on URL?p=protected; then at each width: a screenshot
// NAME-overview-WxH.png, axe-core's violations, layout facts (common.js)
// and the chart: its rendered size, every bar (class, data-day, data-n,
// height attribute, height on screen in CSS px) and the smallest label
// on screen.  Prints one JSON object; exit 0 when the script ran to the end
// (the test judges), 2 usage, 3 failure or past --timeout.
'use strict';

const { parseOptions, withPhoneBrowser, runBounded, lookAtWidths, parseViewports } = require('./common');

const PASSWORD_ENV = 'GUARDLIST_WEB_PASSWORD';
const MIN_TAP = 44;

function usage(msg) {
  process.stderr.write('overview.js: ' + msg + '\n' +
    'usage: ' + PASSWORD_ENV + '=... node overview.js --url URL --out-dir DIR --user NAME\n' +
    '           [--name NAME] [--viewport WxH] [--widths WxH,WxH] [--chromium PATH]\n' +
    '           [--profile-dir DIR] [--timeout SECONDS]\n');
  process.exit(2);
}

function parseArgs(argv) {
  const opts = parseOptions(argv, { name: 'admin', viewport: '390x844', widths: '390x844,1280x800', timeout: '60' },
                            ['url', 'out-dir', 'user', 'name', 'viewport', 'widths', 'chromium', 'profile-dir',
                             'timeout'], usage);
  opts.viewports = parseViewports(opts.widths, usage);
  for (const k of ['url', 'out-dir', 'user'])
    if (!opts[k])
      usage('--' + k + ' is required');
  opts.password = process.env[PASSWORD_ENV];
  if (!opts.password)
    usage(PASSWORD_ENV + ' must hold the password of --user');
  try {
    opts.origin = new URL(opts.url).origin;
  } catch (e) {
    usage('--url is not a URL: ' + JSON.stringify(opts.url));
  }
  return opts;
}

// The chart as it is drawn now.
async function chartFacts(page) {
  return page.evaluate(() => {
    const svg = document.querySelector('main svg.chart');
    if (!svg)
      return null;
    const r = svg.getBoundingClientRect();
    const labels = Array.from(svg.querySelectorAll('text')).map((t) => t.getBoundingClientRect().height);
    return {
      viewBox: svg.getAttribute('viewBox'),
      left: r.left, right: r.right, width: r.width, height: r.height,
      smallestLabelPx: labels.length ? Math.min(...labels) : 0,
      external: Array.from(svg.querySelectorAll('[href], image, use, foreignObject, script')).length,
      bars: Array.from(svg.querySelectorAll('rect.bar')).map((b) => ({
        kind: b.classList.contains('approved') ? 'approved' : b.classList.contains('created') ? 'created' : '?',
        day: b.dataset.day, n: Number(b.dataset.n), height: Number(b.getAttribute('height')),
        screenHeight: b.getBoundingClientRect().height,
      })),
    };
  });
}

async function main(opts, result) {
  result.console = [];
  result.pageErrors = [];
  result.requests = [];
  result.failedRequests = [];
  await withPhoneBrowser(opts, result, {
    httpCredentials: { username: opts.user, password: opts.password, origin: opts.origin },
  }, async (context) => {
    const page = context.pages()[0] || await context.newPage();
    page.setDefaultTimeout(Math.min(20000, opts.timeoutMs));
    page.on('console', (m) => result.console.push({ type: m.type(), text: m.text() }));
    page.on('pageerror', (e) => result.pageErrors.push(String(e)));
    page.on('request', (r) => result.requests.push({ method: r.method(), url: r.url() }));
    page.on('requestfailed', (r) => result.failedRequests.push({ url: r.url(), error: r.failure() && r.failure().errorText }));
    await page.goto(opts.url + '?p=protected');
    const link = page.getByRole('link', { name: 'Overview', exact: true });
    const [response] = await Promise.all([page.waitForNavigation(), link.click()]);
    result.status = response ? response.status() : null;
    result.url = page.url();
    result.title = await page.title();
    result.heading = (await page.locator('h1').innerText()).trim();
    result.widths = await lookAtWidths(page, opts.viewports, opts['out-dir'], opts.name + '-overview', MIN_TAP);
    result.chart = {};
    for (const v of opts.viewports) {
      await page.setViewportSize({ width: v.width, height: v.height });
      result.chart[v.name] = await chartFacts(page);
    }
  });
}

runBounded('overview.js', parseArgs(process.argv.slice(2)), {}, main);
