// Renders a headcount report in headless Chromium and checks it as a reader
// would see it: no console errors or failed loads, every figure (<svg>) laid
// out at a non-zero size; saves a full-page screenshot.
//
//   node tests/browser/render.js REPORT.html SCREENSHOT.png [WIDTH]
//
// Chromium is Debian's (CHROMIUM, default /usr/bin/chromium), driven by
// puppeteer-core, which brings no browser of its own. Prints one line
// "figures N" and exits 0 when the page passes; otherwise prints each
// problem and exits 1.
'use strict';
const path = require('path');
const puppeteer = require('puppeteer-core');

async function main() {
  const [report, screenshot, width = '1100'] = process.argv.slice(2);
  if (!report || !screenshot) {
    console.error('usage: node render.js REPORT.html SCREENSHOT.png [WIDTH]');
    process.exit(2);
  }
  const browser = await puppeteer.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    // As root (CI containers) Chromium refuses to start without --no-sandbox.
    args: ['--no-sandbox', '--disable-gpu'],
  });
  const problems = [];
  try {
    const page = await browser.newPage();
    await page.setViewport({width: Number(width), height: 800});
    page.on('console', (m) => { if (m.type() === 'error') problems.push('console error: ' + m.text()); });
    page.on('pageerror', (e) => problems.push('page error: ' + e.message));
    page.on('requestfailed', (r) => problems.push('failed load: ' + r.url()));
    // A report needs nothing from the network: any request other than the file itself is a problem.
    page.on('request', (r) => { if (!r.url().startsWith('file:')) problems.push('network request: ' + r.url()); });
    await page.goto('file://' + path.resolve(report), {waitUntil: 'load'});
    const sizes = await page.$$eval('svg', (svgs) => svgs.map((s) => {
      const box = s.getBoundingClientRect();
      return {width: box.width, height: box.height, title: (s.querySelector('text') || {}).textContent || ''};
    }));
    if (sizes.length === 0) problems.push('no figure (svg) in the page');
    sizes.forEach((s, i) => {
      if (!(s.width > 0 && s.height > 0)) problems.push(`figure ${i} ("${s.title}") is ${s.width}x${s.height}`);
    });
    await page.screenshot({path: screenshot, fullPage: true});
    console.log('figures ' + sizes.length);
  } finally {
    await browser.close();
  }
  problems.forEach((p) => console.log(p));
  process.exit(problems.length ? 1 : 0);
}

main().catch((e) => { console.error(e.stack || String(e)); process.exit(1); });
