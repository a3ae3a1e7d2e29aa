// dashboard.mjs - drive the live dashboard in a real headless Chromium
// through its DevTools protocol, for tests/integration/e2e_dashboard_test.c.
//
// Usage: node --experimental-websocket tests/browser/dashboard.mjs
//            <edge base URL> <screenshot.png>
// Environment: DASH_TOKEN (a dashboard:read token), DASH_BAD_TOKEN (one
// the sign-in must refuse), DASH_PHONE (a number that must never be on
// the page), CHROMIUM (default: chromium).
//
// Steps, each bounded: the page loads with its sign-in form; a bad token
// is refused on the page; the good one signs in (the cookie is invisible
// to scripts: HttpOnly) and /events goes live -> "live".  The test then
// places a call; here: the call appears in progress -> "call_seen", at
// least two transcript lines arrive while it is still in progress ->
// screenshot <screenshot>-live.png -> "turns_live", it ends in "Recent
// calls" with outcome and summary, rate-limit refusals (outbound, then
// inbound) are listed ->
// screenshot -> "done".  Any Content-
// Security-Policy violation or page error fails.  Progress lines are
// JSON on stdout ({"msg":...}); exit 0 only after "done".
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const [base, shot] = process.argv.slice(2);
const TOKEN = process.env.DASH_TOKEN || '';
const BAD = process.env.DASH_BAD_TOKEN || 'not-a-token';
const PHONE = (process.env.DASH_PHONE || '').replace(/^\+/, '');
const LIMIT_MS = 120000;

const say = (o) => process.stdout.write(JSON.stringify(o) + '\n');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

let chrome = null;
let cdp = null;
let profile = null;
let failed = false;
// Browser.close lets Chromium end and reap its own helper processes (a
// SIGKILL would leave them to init); SIGKILL only if it does not.
async function cleanup() {
  if (chrome && chrome.exitCode === null && chrome.signalCode === null) {
    const gone = new Promise((r) => chrome.once('exit', r));
    if (cdp) cdp.send('Browser.close').catch(() => {});
    else chrome.kill('SIGTERM');
    const t = setTimeout(() => chrome.kill('SIGKILL'), 5000);
    await gone;
    clearTimeout(t);
  }
  if (profile) rmSync(profile, { recursive: true, force: true, maxRetries: 5 });
}
async function fail(why) {
  if (failed) return;
  failed = true;
  say({ msg: 'fail', why: String(why) });
  await cleanup().catch(() => {});
  process.exit(1);
}
process.on('SIGTERM', () => fail('terminated'));
setTimeout(() => fail('overall time limit'), LIMIT_MS).unref();

// ---- Chromium and its DevTools socket ----

function launch() {
  profile = mkdtempSync(join(tmpdir(), 'dash-chromium-'));
  chrome = spawn(process.env.CHROMIUM || 'chromium', [
    '--headless=new', '--no-sandbox', '--no-zygote', '--disable-gpu', '--no-first-run',
    '--disable-extensions', '--disable-background-networking',
    '--remote-debugging-address=127.0.0.1', '--remote-debugging-port=0',
    '--user-data-dir=' + profile, '--window-size=1360,1000', 'about:blank',
  ], { stdio: ['ignore', 'ignore', 'pipe'] });
  return new Promise((resolve, reject) => {
    let err = '';
    chrome.stderr.on('data', (d) => {
      err += d;
      const m = /DevTools listening on (ws:\/\/\S+)/.exec(err);
      if (m) resolve(m[1]);
    });
    chrome.on('exit', (c) => reject(new Error('chromium exited ' + c + ': ' + err.slice(-400))));
    setTimeout(() => reject(new Error('chromium did not start')), 30000);
  });
}

class Cdp {
  constructor(url) {
    this.ws = new WebSocket(url);
    this.id = 0;
    this.wait = new Map();
    this.handlers = [];
    this.ws.onmessage = (ev) => {
      const m = JSON.parse(ev.data);
      if (m.id && this.wait.has(m.id)) {
        const { resolve, reject } = this.wait.get(m.id);
        this.wait.delete(m.id);
        if (m.error) reject(new Error(JSON.stringify(m.error)));
        else resolve(m.result);
      } else if (m.method) {
        for (const h of this.handlers) h(m);
      }
    };
  }
  open() {
    return new Promise((resolve, reject) => {
      this.ws.onopen = resolve;
      this.ws.onerror = () => reject(new Error('DevTools socket failed'));
    });
  }
  send(method, params = {}, sessionId) {
    const id = ++this.id;
    const msg = { id, method, params };
    if (sessionId) msg.sessionId = sessionId;
    this.ws.send(JSON.stringify(msg));
    return new Promise((resolve, reject) => this.wait.set(id, { resolve, reject }));
  }
}

let sid;
async function js(expr) {
  const r = await cdp.send('Runtime.evaluate',
    { expression: expr, returnByValue: true, awaitPromise: true }, sid);
  if (r.exceptionDetails) throw new Error('page: ' + JSON.stringify(r.exceptionDetails));
  return r.result.value;
}
async function until(what, expr, ms) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const v = await js(expr).catch(() => null);
    if (v) return v;
    await sleep(100);
  }
  fail('timed out waiting for ' + what);
}

async function snap(path) {
  const { data } = await cdp.send('Page.captureScreenshot', { format: 'png' }, sid);
  writeFileSync(path, Buffer.from(data, 'base64'));
}

// ---- the steps ----

async function main() {
  const browserUrl = await launch().catch(fail);
  cdp = new Cdp(browserUrl);
  await cdp.open();
  const { targetId } = await cdp.send('Target.createTarget', { url: 'about:blank' });
  ({ sessionId: sid } = await cdp.send('Target.attachToTarget', { targetId, flatten: true }));
  const problems = [];
  cdp.handlers.push((m) => {
    if (m.sessionId !== sid) return;
    if (m.method === 'Runtime.exceptionThrown')
      problems.push('exception: ' + JSON.stringify(m.params.exceptionDetails.text));
    // failed loads are expected (the 401s of a signed-out page, the
    // calls API's feature detection); anything else is not
    if (m.method === 'Log.entryAdded' && m.params.entry.level === 'error'
        && m.params.entry.source !== 'network')
      problems.push('console: ' + m.params.entry.text);
  });
  await cdp.send('Runtime.enable', {}, sid);
  await cdp.send('Log.enable', {}, sid);
  await cdp.send('Page.enable', {}, sid);
  await cdp.send('Page.navigate', { url: base + '/dashboard' }, sid);

  await until('the sign-in form', "!document.getElementById('signin-box').hidden", 15000);
  // a wrong token: refused, shown, still signed out
  await js(`document.getElementById('token').value = ${JSON.stringify(BAD)};
            document.getElementById('signin').requestSubmit(); true`);
  const refused = await until('the refusal', "document.getElementById('signin-error').textContent", 10000);
  if (!/refused/.test(refused)) fail('unexpected sign-in message: ' + refused);
  if (await js("document.getElementById('board').hidden") !== true) fail('board shown after a bad token');
  say({ msg: 'bad_token_refused', text: refused });

  await js(`document.getElementById('token').value = ${JSON.stringify(TOKEN)};
            document.getElementById('signin').requestSubmit(); true`);
  await until('/events live', "document.body.dataset.live === '1'", 15000);
  if ((await js('document.cookie')).includes('edge_dash')) fail('the cookie is readable by scripts');
  say({ msg: 'live' });

  const call = await until('a call in progress',
    "(document.querySelector('#active .card') || {}).dataset?.sid", 60000);
  say({ msg: 'call_seen', sid: call });
  const card = `document.querySelector('#active .card[data-sid="${call}"]')`;
  const n = await until('two transcript lines while the call is in progress',
    `(${card} && ${card}.querySelectorAll('.turn').length >= 2) ? ${card}.querySelectorAll('.turn').length : 0`,
    60000);
  await snap(shot.replace(/\.png$/, '-live.png'));
  say({ msg: 'turns_live', turns: n,
        status: await js(`${card}?.querySelector('.status')?.textContent`) });

  const row = `document.querySelector('#recent tr[data-sid="${call}"]')`;
  const done = await until('the call ended with its summary',
    `(${row} && ${row}.querySelector('.summary-text').textContent && ${row}.querySelector('.outcome').textContent)
       ? { outcome: ${row}.querySelector('.outcome').textContent,
           summary: ${row}.querySelector('.summary-text').textContent,
           next: ${row}.querySelector('.next').textContent,
           interest: ${row}.querySelector('.interest').textContent,
           turns: ${row}.querySelectorAll('.turn').length } : null`,
    60000);
  say({ msg: 'summary_seen', ...done });
  if (await js(`!!${card}`)) fail('the ended call is still in progress');
  const refusal = await until('rate-limit refusals both ways',
    `(() => { const t = [...document.querySelectorAll('#refusals tbody tr')].map((r) => r.textContent);
              return t.some((x) => x.includes('outbound')) && t.some((x) => x.includes('inbound')) ? t.join(' | ') : null; })()`,
    30000);
  say({ msg: 'refusal_seen', text: refusal });

  // a caller turned away is a refusal, not a call
  if (await js("document.querySelectorAll('#recent tbody tr').length") !== 1)
    fail('the refused inbound call is listed as a call');
  const text = await js('document.body.innerText');
  if (PHONE && text.replace(/\D/g, ' ').includes(PHONE.slice(-7))) fail('a phone number is on the page');
  if (problems.length) fail(problems.join('; '));

  // the expanded transcript makes the picture more telling
  await js(`${row}.querySelector('details')?.setAttribute('open', ''); true`);
  await snap(shot);
  say({ msg: 'done', screenshot: shot });
  await cleanup();
  process.exit(0);
}

say({ msg: 'ready' });
main().catch(fail);
