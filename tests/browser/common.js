// common.js - what the browser scripts (approve.js, admin.js) share: option
// parsing, finding Debian's chromium, and running a bounded main() that
// prints one JSON object.
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');

// Parses --NAME VALUE pairs from ARGV into a copy of DEFAULTS; KNOWN lists the
// names.  Adds width and height (from --viewport WxH) and timeoutMs (from
// --timeout SECONDS).  USAGE(message) is called (and must exit) on an error.
function parseOptions(argv, defaults, known, usage) {
  const opts = Object.assign({}, defaults);
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--') || !known.includes(a.slice(2)) || i + 1 >= argv.length)
      usage('unexpected argument ' + JSON.stringify(a));
    opts[a.slice(2)] = argv[++i];
  }
  const m = /^(\d+)x(\d+)$/.exec(opts.viewport);
  if (!m)
    usage('--viewport must be WIDTHxHEIGHT');
  opts.width = Number(m[1]);
  opts.height = Number(m[2]);
  opts.timeoutMs = Math.round(Number(opts.timeout) * 1000);
  if (!(opts.timeoutMs > 0))
    usage('--timeout must be a positive number of seconds');
  return opts;
}

function findChromium(explicit) {
  const candidates = [explicit, process.env.CHROMIUM, '/usr/lib/chromium/chromium', '/usr/bin/chromium']
    .filter(Boolean);
  for (const c of candidates) {
    try {
      fs.accessSync(c, fs.constants.X_OK);
      return c;
    } catch (e) {
      // next
    }
  }
  throw new Error('no chromium found (tried ' + candidates.join(', ') + '); apt-get install chromium');
}

// Runs BODY(context) in Debian's chromium, headless, as a phone
// (opts.width x opts.height, touch, scale 2), in a fresh profile under
// opts['profile-dir'] (else the temp dir) that is removed afterwards.  EXTRA
// adds options to the browser context.  Notes the browser in RESULT.
async function withPhoneBrowser(opts, result, extra, body) {
  const { chromium } = require('playwright-core');
  const executablePath = findChromium(opts.chromium);
  result.chromium = executablePath;
  fs.mkdirSync(opts['out-dir'], { recursive: true });
  const profileParent = opts['profile-dir'] || os.tmpdir();
  fs.mkdirSync(profileParent, { recursive: true });
  const profile = fs.mkdtempSync(path.join(profileParent, 'chromium-profile-'));
  let context = null;
  try {
    context = await chromium.launchPersistentContext(profile, Object.assign({
      executablePath,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
             '--disable-sync', '--no-first-run', '--disable-dev-shm-usage'],
      viewport: { width: opts.width, height: opts.height },
      deviceScaleFactor: 2,
      isMobile: true,
      hasTouch: true,
      locale: 'en-US',
      timeout: opts.timeoutMs,
    }, extra));
    result.browserVersion = context.browser() ? context.browser().version() : null;
    await body(context);
  } finally {
    if (context)
      await context.close().catch(() => {});
    fs.rmSync(profile, { recursive: true, force: true });
  }
}

// Runs MAIN(opts, result) and prints RESULT as one JSON line: exit 0 when
// MAIN finished (result.ok), 3 when it threw (result.error) or ran past
// opts.timeoutMs plus 5 s.
function runBounded(name, opts, result, main) {
  const watchdog = setTimeout(() => {
    result.error = name + ' ran over its time bound of ' + opts.timeout + ' s';
    process.stdout.write(JSON.stringify(result) + '\n');
    process.exit(3);
  }, opts.timeoutMs + 5000);
  main(opts, result).then(() => {
    result.ok = true;
    clearTimeout(watchdog);
    process.stdout.write(JSON.stringify(result) + '\n');
    process.exit(0);
  }, (e) => {
    result.error = String(e && e.stack || e);
    clearTimeout(watchdog);
    process.stdout.write(JSON.stringify(result) + '\n');
    process.exit(3);
  });
}

// axe-core's source, read once when needed.
let axeSource = null;

// Runs axe-core (its default rules: WCAG 2.x A and AA and best practices) on
// PAGE as it is now.  Returns the violations: [{id, impact, help, nodes:
// [{target, html, summary}]}], [] when there are none.
//
// axe comes in through the DevTools protocol, which the page's
// Content-Security-Policy does not govern: the scripts call
// page.addInitScript({path: axe.min.js}) once (every document gets it as it
// starts, compiled once: ~0.1 s a page instead of ~0.3 s), else it is
// evaluated here.  A <script> tag would need the policy relaxed in the
// browser (bypassCSP), and then the tests could no longer see the CSP
// violations a page causes (the console check); the server never relaxes it.
async function axeViolations(page) {
  if (!await page.evaluate(() => typeof window.axe === 'object')) {
    if (axeSource === null)
      axeSource = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
    await page.evaluate(axeSource);
  }
  return page.evaluate(async () => {
    const r = await window.axe.run(document, { resultTypes: ['violations'] });
    return r.violations.map((v) => ({
      id: v.id, impact: v.impact, help: v.help,
      nodes: v.nodes.slice(0, 5).map((n) => ({ target: n.target, html: n.html.slice(0, 200),
                                               summary: (n.failureSummary || '').slice(0, 300) })),
    }));
  });
}

// Layout facts of PAGE as it is now, at its current viewport:
//   brokenWords   words in a table (cells, headers) that the browser breaks
//                 over two lines: a word is a run of non-space text, also
//                 across elements (<wbr>), outside buttons and form fields
//   cutPlaceholders  inputs whose placeholder is wider than the box shows
//   columns       each table's header cells: text and width in CSS px
//   viewportWidth, scrollWidth, horizontalOverflow, fontSizePx,
//   smallButtons  buttons under MIN_TAP CSS px tall: [{text, height}]
async function layoutFacts(page, minTap) {
  return page.evaluate((minTapPx) => {
    const skip = (n) => n.parentElement && n.parentElement.closest('button, select, option, textarea, .vh');
    const brokenWords = [];
    for (const cell of document.querySelectorAll('main table th, main table td')) {
      const walker = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
      const chars = [];             // [node, offset] of every character, in order
      for (let n = walker.nextNode(); n; n = walker.nextNode()) {
        if (skip(n))
          chars.push(null);         // a button's text ends the word before it
        else
          for (let i = 0; i < n.data.length; i++)
            chars.push([n, i]);
      }
      let start = -1;
      const check = (from, to) => {           // chars[from..to) is one word
        const r = document.createRange();
        r.setStart(chars[from][0], chars[from][1]);
        r.setEnd(chars[to - 1][0], chars[to - 1][1] + 1);
        const lines = new Set(Array.from(r.getClientRects()).filter((x) => x.width > 0)
                                .map((x) => Math.round(x.top + x.height / 2)));
        if (lines.size > 1 && brokenWords.length < 20)
          brokenWords.push({ word: r.toString(), lines: lines.size, cell: cell.tagName.toLowerCase(),
                             label: cell.dataset.label || '' });
      };
      for (let i = 0; i <= chars.length; i++) {
        const space = i === chars.length || !chars[i] || /\s/.test(chars[i][0].data[chars[i][1]]);
        if (space && start >= 0) {
          check(start, i);
          start = -1;
        } else if (!space && start < 0) {
          start = i;
        }
      }
    }
    const canvas = document.createElement('canvas').getContext('2d');
    const cutPlaceholders = [];
    for (const input of document.querySelectorAll('input[placeholder]')) {
      const cs = getComputedStyle(input);
      canvas.font = cs.font;
      const need = canvas.measureText(input.placeholder).width;
      const room = input.clientWidth - parseFloat(cs.paddingLeft) - parseFloat(cs.paddingRight);
      if (input.getClientRects().length && need > room + 0.5)
        cutPlaceholders.push({ name: input.name, placeholder: input.placeholder, need: Math.round(need),
                               room: Math.round(room) });
    }
    const vw = document.documentElement.clientWidth;
    return {
      brokenWords,
      cutPlaceholders,
      columns: Array.from(document.querySelectorAll('main table')).map((t) =>
        Array.from(t.querySelectorAll('thead th')).map((th) => ({ text: th.textContent.trim(),
                                                               width: Math.round(th.getBoundingClientRect().width) }))),
      viewportWidth: vw,
      scrollWidth: document.documentElement.scrollWidth,
      horizontalOverflow: document.documentElement.scrollWidth > vw,
      fontSizePx: parseFloat(getComputedStyle(document.body).fontSize),
      smallButtons: Array.from(document.querySelectorAll('button')).filter((b) => b.getClientRects().length)
        .map((b) => ({ text: b.innerText.trim(), height: Math.round(b.getBoundingClientRect().height) }))
        .filter((b) => b.height < minTapPx),
    };
  }, minTap);
}

// Looks at PAGE at each of VIEWPORTS ([{width, height, name}]) in turn: a
// full-page screenshot DIR/PREFIX-NAME.png (one pixel a CSS pixel), axe's
// violations and the layout facts at that width.  Leaves the page at the
// last viewport.  Returns {NAME: {screenshot, axe, ...layoutFacts, ms: the
// time each part took}}.
async function lookAtWidths(page, viewports, dir, prefix, minTap) {
  const seen = {};
  for (const v of viewports) {
    const t0 = Date.now();
    await page.setViewportSize({ width: v.width, height: v.height });
    const shot = path.join(dir, prefix + '-' + v.name + '.png');
    await page.screenshot({ path: shot, fullPage: true, scale: 'css' });     // 1 px a CSS px: quicker to encode
    const t1 = Date.now();
    const axe = await axeViolations(page);
    const t2 = Date.now();
    seen[v.name] = Object.assign({ screenshot: shot, axe }, await layoutFacts(page, minTap),
                                 { ms: { screenshot: t1 - t0, axe: t2 - t1, layout: Date.now() - t2 } });
  }
  return seen;
}

// Parses a list of viewports "390x844,1280x800" into [{width, height, name}].
function parseViewports(text, usage) {
  return String(text).split(',').map((v) => {
    const m = /^(\d+)x(\d+)$/.exec(v);
    if (!m)
      usage('--widths must be WIDTHxHEIGHT[,WIDTHxHEIGHT...]');
    return { width: Number(m[1]), height: Number(m[2]), name: v };
  });
}

module.exports = { parseOptions, findChromium, withPhoneBrowser, runBounded, axeViolations, layoutFacts,
                   lookAtWidths, parseViewports };
