#!/usr/bin/env node
// Opens a kubectl ir report page in headless Chromium (Debian's /usr/bin/chromium, driven by
// playwright-core: no browser is downloaded) and prints what a test needs to judge it, as one
// JSON object on stdout. The Python e2e tests (tests/e2e/test_report.py) assert on it.
//
//   inspect_page.js PAGE.html [--screenshot DIR/NAME] [--search TEXT] [--file-filter TEXT] [--all-rows]
//
// Recorded: every request the page makes (only the page's own file:// URL is expected), CSP
// violations, page errors, whether any injected payload ran (window.__irPwned, a trap set before
// the page's scripts run), whether the page's own script ran (html[data-ir-ready]), the time until
// it was ready, the suspicious processes, connections, the timeline's and the files' rows, and how
// long a search took to answer.
'use strict';
const path = require('path');
const fs = require('fs');
const { chromium } = require('playwright-core');

function parseArgs(argv) {
  const a = { page: null, screenshot: null, search: null, fileFilter: null, allRows: false };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    if (k === '--screenshot') a.screenshot = argv[++i];
    else if (k === '--search') a.search = argv[++i];
    else if (k === '--file-filter') a.fileFilter = argv[++i];
    else if (k === '--all-rows') a.allRows = true;
    else a.page = k;
  }
  if (!a.page) throw new Error('usage: inspect_page.js PAGE.html [--screenshot PREFIX] [--search TEXT] [--file-filter TEXT] [--all-rows]');
  return a;
}

// The rows of a paged table: every page (following "next") or just the first.
async function tableRows(page, sectionId, all) {
  const rows = [];
  for (let n = 0; n < 1000; n++) {
    rows.push(...await page.$$eval(`#${sectionId} table.grid tbody tr`, trs => trs.map(tr => ({
      cls: tr.className, cells: [...tr.cells].map(td => td.textContent) }))));
    if (!all) break;
    const next = page.locator(`#${sectionId} .pager button`, { hasText: 'next' });
    if (await next.count() === 0 || await next.isDisabled()) break;
    await next.click();
  }
  return rows;
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const userData = fs.mkdtempSync(path.join(require('os').tmpdir(), 'ir-chromium-'));
  const browser = await chromium.launchPersistentContext(userData, {
    executablePath: process.env.IR_CHROMIUM || '/usr/bin/chromium',
    headless: true,
    viewport: { width: 1280, height: 900 },
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
           '--disable-component-update', '--disable-sync'],
  });
  const out = { requests: [], csp: [], errors: [], console: [] };
  try {
    const page = browser.pages()[0] || await browser.newPage();
    page.on('request', r => out.requests.push(r.url()));
    page.on('pageerror', e => out.errors.push(String(e.message)));
    page.on('console', m => { if (m.type() === 'error' || m.type() === 'warning') out.console.push(m.text()); });
    // Runs before any script of the page: a trap an injected payload would spring, and a record
    // of CSP violations (a payload that was parsed as markup and then blocked shows up here).
    await page.addInitScript(() => {
      window.__irCsp = [];
      document.addEventListener('securitypolicyviolation', e => window.__irCsp.push(e.violatedDirective + ' ' + e.blockedURI));
    });
    const url = 'file://' + path.resolve(args.page);
    const t0 = Date.now();
    await page.goto(url, { waitUntil: 'load', timeout: 60000 });
    out.loadMs = Date.now() - t0;
    out.ready = await page.waitForSelector('html[data-ir-ready="1"]', { timeout: 30000 }).then(() => true, () => false);
    out.interactiveMs = Date.now() - t0;
    Object.assign(out, await page.evaluate(() => ({
      pwned: window.__irPwned === undefined ? null : String(window.__irPwned),
      csp: window.__irCsp,
      verified: document.getElementById('verification').getAttribute('data-verified'),
      title: document.title,
      // Elements no part of the page creates: if any exists, markup from the bundle was parsed.
      injected: document.querySelectorAll('img, svg, iframe, link, object, embed, form, a[href^="javascript"], [onerror], [onload]').length,
      scripts: [...document.scripts].map(s => s.type || 'inline'),
      bodyText: document.body.innerText.length,
      suspicious: [...document.querySelectorAll('#processes li.suspicious')].map(li => ({
        text: li.querySelector('.node').textContent, badges: [...li.querySelectorAll(':scope > .node .badge')].map(b => b.textContent) })),
      processes: document.querySelectorAll('#processes li').length,
      summaryText: document.getElementById('summary').innerText,
      steps: (document.getElementById('steps-bad') || {}).innerText || '',
    })));
    out.connections = await tableRows(page, 'connections', true);
    out.timeline = await tableRows(page, 'timeline', args.allRows);
    out.files = await tableRows(page, 'files', false);
    out.filesCount = await page.locator('#files .tools .muted').textContent();
    out.custody = await tableRows(page, 'custody', args.allRows);
    if (args.screenshot) {
      fs.mkdirSync(path.dirname(args.screenshot), { recursive: true });
      await page.screenshot({ path: args.screenshot + '-top.png' });
      await page.locator('#processes').scrollIntoViewIfNeeded();
      await page.screenshot({ path: args.screenshot + '-processes.png' });
      await page.locator('#timeline').scrollIntoViewIfNeeded();
      await page.screenshot({ path: args.screenshot + '-timeline.png' });
      await page.evaluate(() => window.scrollTo(0, 0));
    }
    if (args.search !== null) {
      const t = Date.now();
      await page.fill('#proc-search', args.search);
      await page.waitForFunction(q => document.querySelector('#processes .tools .muted').textContent.indexOf('match') >= 0, args.search);
      out.search = { ms: Date.now() - t, count: await page.locator('#processes .tools .muted').textContent(),
                     visible: await page.$$eval('#processes li.match > .node', ns => ns.map(n => n.textContent)) };
    }
    if (args.fileFilter !== null) {
      const before = await page.locator('#files .tools .muted').textContent();
      const t = Date.now();
      await page.fill('#file-filter', args.fileFilter);
      await page.waitForFunction(b => document.querySelector('#files .tools .muted').textContent !== b, before, { timeout: 30000 });
      out.fileFilter = { ms: Date.now() - t, count: await page.locator('#files .tools .muted').textContent(),
                         rows: (await tableRows(page, 'files', false)).map(r => r.cells[0]) };
    }
    out.pwnedAfter = await page.evaluate(() => window.__irPwned === undefined ? null : String(window.__irPwned));
    out.cspAfter = await page.evaluate(() => window.__irCsp);
  } finally {
    await browser.close();
    fs.rmSync(userData, { recursive: true, force: true });
  }
  process.stdout.write(JSON.stringify(out) + '\n');
}

main().catch(e => { process.stderr.write(String(e && e.stack || e) + '\n'); process.exit(1); });
