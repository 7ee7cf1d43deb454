// TEST-ONLY oracle: sigstore-js verifies a certificate-signed DSSE bundle against
// trusted roots, each by its own rule, as `gh attestation verify` configures
// sigstore-go: a root with transparency logs demands one log entry (and one SCT
// if it lists CT logs); a root with none demands one RFC 3161 timestamp.
// usage: node verify-root.js BUNDLE.json ROOTS (trusted_root.json or JSON lines)
//          --subject sha256:HEX (--san SAN | --san-re RE) --issuer ISSUER [--oid N=VALUE ...]
// --oid demands Fulcio extension 1.3.6.1.4.1.57264.1.N to hold VALUE (as a DER UTF8String).
// Prints OK (and the root's line) and exits 0, or prints each root's error and exits 1.
'use strict';
const fs = require('fs');
const { TrustedRoot } = require('@sigstore/protobuf-specs');
const { bundleFromJSON } = require('@sigstore/bundle');
const { toTrustMaterial, toSignedEntity, Verifier } = require('@sigstore/verify');

function take(args, flag) {
  const found = [];
  for (let i = args.indexOf(flag); i >= 0; i = args.indexOf(flag)) found.push(args.splice(i, 2)[1]);
  return found;
}

function utf8String(text) {
  const body = Buffer.from(text, 'utf8');
  const len = body.length < 128 ? Buffer.from([body.length])
    : body.length < 256 ? Buffer.from([0x81, body.length])
    : Buffer.from([0x82, body.length >> 8, body.length & 0xff]);
  return Buffer.concat([Buffer.from([0x0c]), len, body]);
}

const args = process.argv.slice(2);
const subject = take(args, '--subject')[0];
const san = take(args, '--san')[0];
const sanRe = take(args, '--san-re')[0];
const issuer = take(args, '--issuer')[0];
const oids = take(args, '--oid').map((item) => {
  const [n, ...rest] = item.split('=');
  return { oid: { id: [1, 3, 6, 1, 4, 1, 57264, 1, Number(n)] }, value: utf8String(rest.join('=')) };
});
const [bundlePath, rootsPath] = args;
const text = fs.readFileSync(rootsPath, 'utf8').trim();
let docs;
try { docs = [JSON.parse(text)]; } catch (_) { docs = text.split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l)); }
const problems = [];
for (const [i, doc] of docs.entries()) {
  try {
    const root = TrustedRoot.fromJSON(doc);
    const logs = (doc.tlogs || []).length > 0;
    const options = {
      tlogThreshold: logs ? 1 : 0,
      ctlogThreshold: logs && (doc.ctlogs || []).length > 0 ? 1 : 0,
      timestampThreshold: logs ? 0 : 1,
    };
    const bundle = bundleFromJSON(JSON.parse(fs.readFileSync(bundlePath, 'utf8')));
    new Verifier(toTrustMaterial(root), options).verify(toSignedEntity(bundle), {
      subjectAlternativeName: sanRe ? new RegExp(sanRe) : san,
      extensions: { issuer },
      oids,
    });
    const statement = JSON.parse(Buffer.from(bundle.content.dsseEnvelope.payload).toString('utf8'));
    const digests = statement.subject.map((s) => 'sha256:' + s.digest.sha256);
    if (!digests.includes(subject)) throw new Error(`statement is about ${digests}, not ${subject}`);
    console.log(`OK root ${i + 1}`);
    process.exit(0);
  } catch (err) {
    problems.push(`root ${i + 1}: ${err.code || err.name}: ${err.message}`);
  }
}
console.log(problems.join('\n'));
process.exit(1);
