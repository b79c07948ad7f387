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

module.exports = { parseOptions, findChromium, withPhoneBrowser, runBounded };
