// gen.mjs - turn what the simulators captured (SIM_CAPTURE_DIR, one JSON
// line per distinct message shape, tests/sim/lib/capture.h) into TypeScript
// that assigns each message, as an object literal, to the parameter type of
// the provider's official client library.  tsc --strict then checks it
// (excess-property checks included); TwiML documents are rebuilt with the
// twilio library's VoiceResponse and compared at run time.
//
// Usage: node gen.mjs CAPTURE_DIR OUT_DIR
// Writes OUT_DIR/pos/*.mts (must compile), OUT_DIR/neg/*.mts (one wrong
// message each, derived from a real capture: must not compile) with the
// property tsc must name on its first line, and OUT_DIR/kinds.txt (every
// api/kind captured).
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const [capDir, outDir] = process.argv.slice(2);
if (!capDir || !outDir) {
	console.error('usage: node gen.mjs CAPTURE_DIR OUT_DIR');
	process.exit(2);
}

const IMPORTS = {
	'openai-realtime': [
		"import type { RealtimeClientEvent } from 'openai/resources/realtime/realtime';",
		'RealtimeClientEvent',
	],
	'anthropic-messages': [
		"import type { MessageCreateParamsNonStreaming } from '@anthropic-ai/sdk/resources/messages/messages';",
		'MessageCreateParamsNonStreaming',
	],
	'calls.create': [
		"import type { CallListInstanceCreateOptions } from 'twilio/lib/rest/api/v2010/account/call.js';",
		'CallListInstanceCreateOptions',
	],
	'calls.update': [
		"import type { CallContextUpdateOptions } from 'twilio/lib/rest/api/v2010/account/call.js';",
		'CallContextUpdateOptions',
	],
};

// Form parameter -> option name and declared type, read from the twilio
// library itself (its create()/update() serialisers and .d.ts), so a
// parameter the library does not know stays PascalCase and fails tsc.
function twilioForms() {
	const dir = path.dirname(require.resolve('twilio/lib/rest/api/v2010/account/call.js'));
	const js = fs.readFileSync(path.join(dir, 'call.js'), 'utf8');
	const dts = fs.readFileSync(path.join(dir, 'call.d.ts'), 'utf8');
	const names = {};
	for (const m of js.matchAll(/data\["(\w+)"\]\s*=\s*(?:[\w.]+\()?params\["(\w+)"\]/g))
		names[m[1]] = m[2];
	const types = {};
	for (const iface of ['CallListInstanceCreateOptions', 'CallContextUpdateOptions']) {
		const body = dts.split(`export interface ${iface} {`)[1].split('\n}')[0];
		types[iface] = {};
		for (const m of body.matchAll(/^\s+(\w+)\??: ([^;]+);/gm))
			types[iface][m[1]] = m[2];
	}
	return { names, types };
}

function formOptions(form, iface, tw) {
	const o = {};
	for (const [k, v] of Object.entries(form)) {
		const name = tw.names[k] ?? k;
		const t = tw.types[iface][name] ?? 'string';
		const one = (s) => (t.startsWith('number') ? Number(s)
		    : t.startsWith('boolean') ? s === 'true' : s);
		if (t.startsWith('Array<'))
			o[name] = Array.isArray(v) ? v : String(v).split(' ');
		else
			o[name] = Array.isArray(v) ? v.map(one) : one(v);
	}
	return o;
}

// A minimal XML reader for TwiML (elements, attributes, text).
function parseXml(xml) {
	const unesc = (s) => s.replace(/&(lt|gt|quot|apos|amp);/g,
	    (_, e) => ({ lt: '<', gt: '>', quot: '"', apos: "'", amp: '&' })[e]);
	const root = { name: '#doc', attrs: {}, children: [], text: '' };
	const stack = [root];
	const re = /<\?[^>]*\?>|<\/(\w+)\s*>|<(\w+)((?:\s+[\w:-]+="[^"]*")*)\s*(\/?)>|([^<]+)/g;
	let m;
	while ((m = re.exec(xml)) !== null) {
		const top = stack[stack.length - 1];
		if (m[1]) {
			if (top.name !== m[1])
				throw new Error(`TwiML: </${m[1]}> closes <${top.name}>`);
			stack.pop();
		} else if (m[2]) {
			const el = { name: m[2], attrs: {}, children: [], text: '' };
			for (const a of m[3].matchAll(/([\w:-]+)="([^"]*)"/g))
				el.attrs[a[1]] = unesc(a[2]);
			top.children.push(el);
			if (!m[4])
				stack.push(el);
		} else if (m[5] && m[5].trim() !== '')
			top.text += unesc(m[5]);
	}
	if (stack.length !== 1 || root.children.length !== 1)
		throw new Error('TwiML: not one closed root element');
	return root.children[0];
}

const lowerFirst = (s) => s[0].toLowerCase() + s.slice(1);

// TypeScript that rebuilds the document with VoiceResponse.
function twimlProgram(doc, xml) {
	if (doc.name !== 'Response')
		throw new Error(`TwiML root is <${doc.name}>, not <Response>`);
	const lines = ["import VoiceResponse from 'twilio/lib/twiml/VoiceResponse.js';",
	    'const n0 = new VoiceResponse();'];
	let n = 0;
	const walk = (el, parent) => {
		const attrs = JSON.stringify(el.attrs);
		const call = el.text !== ''
		    ? `${parent}.${lowerFirst(el.name)}(${attrs}, ${JSON.stringify(el.text)})`
		    : `${parent}.${lowerFirst(el.name)}(${attrs})`;
		if (el.children.length === 0) {
			lines.push(`${call};`);
			return;
		}
		const v = `n${++n}`;
		lines.push(`const ${v} = ${call};`);
		for (const c of el.children)
			walk(c, v);
	};
	for (const c of doc.children)
		walk(c, 'n0');
	lines.push(`const want = ${JSON.stringify(xml.trim())};`);
	lines.push('const got = n0.toString();');
	lines.push('if (got !== want)');
	lines.push('\tthrow new Error(`VoiceResponse builds\\n${got}\\nwe sent\\n${want}`);');
	return lines.join('\n') + '\n';
}

function typed(api, kind, body, tw) {
	if (api === 'twilio-rest') {
		const [imp, type] = IMPORTS[kind];
		return `${imp}\nexport const m: ${type} = ${JSON.stringify(formOptions(body, type, tw), null, 1)};\n`;
	}
	const [imp, type] = IMPORTS[api];
	return `${imp}\nexport const m: ${type} = ${JSON.stringify(body, null, 1)};\n`;
}

// One deliberately wrong copy per api: a field the library does not have.
function mutant(api, kind, body) {
	const b = structuredClone(body);
	switch (api) {
	case 'openai-realtime':
		if (kind !== 'session.update')
			return null;
		b.session.voice = 'alloy'; /* the beta shape: audio.output.voice in GA */
		return ['voice', b];
	case 'anthropic-messages':
		b.temperature = 0.2; /* refused by current models, gone from the type */
		return ['temperature', b];
	case 'twilio-rest':
		if (kind !== 'calls.create')
			return null;
		b.StatusCallbackEvents = b.StatusCallbackEvent; /* misspelt */
		delete b.StatusCallbackEvent;
		return ['StatusCallbackEvents', b];
	case 'twiml':
		if (!body.twiml.includes('<Stream url='))
			return null; /* another document will do */
		return ['urll', { twiml: body.twiml.replace('<Stream url=', '<Stream urll=') }];
	default:
		return null;
	}
}

const tw = twilioForms();
const seen = new Set();
const kinds = new Set();
const negDone = new Set();
fs.mkdirSync(path.join(outDir, 'pos'), { recursive: true });
fs.mkdirSync(path.join(outDir, 'neg'), { recursive: true });
let np = 0, nn = 0;
for (const f of fs.readdirSync(capDir).filter((f) => f.endsWith('.jsonl')).sort()) {
	for (const line of fs.readFileSync(path.join(capDir, f), 'utf8').split('\n')) {
		if (line.trim() === '' || seen.has(line))
			continue;
		seen.add(line);
		const { api, kind, body } = JSON.parse(line);
		kinds.add(`${api} ${kind}`);
		const src = api === 'twiml' ? twimlProgram(parseXml(body.twiml), body.twiml)
		    : typed(api, kind, body, tw);
		const name = `${api}.${kind}.${np++}`.replace(/[^\w.-]/g, '_');
		fs.writeFileSync(path.join(outDir, 'pos', `${name}.mts`),
		    `// captured from ${f}\n${src}`);
		const mut = negDone.has(api) ? null : mutant(api, kind, body);
		if (mut !== null) {
			const [prop, bad] = mut;
			const nsrc = api === 'twiml'
			    ? twimlProgram(parseXml(bad.twiml), bad.twiml)
			    : typed(api, kind, bad, tw);
			fs.writeFileSync(path.join(outDir, 'neg', `${name}.wrong.mts`),
			    `// expect: ${prop}\n${nsrc}`);
			negDone.add(api);
			nn++;
		}
	}
}
fs.writeFileSync(path.join(outDir, 'kinds.txt'), [...kinds].sort().join('\n') + '\n');
console.log(`gen: ${np} captured messages, ${nn} wrong ones, ${kinds.size} kinds`);
