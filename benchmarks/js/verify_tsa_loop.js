// Benchmark peer: sigstore-js (@sigstore/verify, pinned in tests/oracle-js) verifies one
// bundle N times in process against one trusted root, with the thresholds gh sets for a
// root without logs (one RFC 3161 timestamp, no log, no SCT); prints ms per bundle.
// usage: NODE_PATH=tests/oracle-js/node_modules node verify_tsa_loop.js BUNDLE ROOT SAN ISSUER N
'use strict';
const fs = require('fs');
const { TrustedRoot } = require('@sigstore/protobuf-specs');
const { bundleFromJSON } = require('@sigstore/bundle');
const { toTrustMaterial, toSignedEntity, Verifier } = require('@sigstore/verify');

const [bundlePath, rootPath, san, issuer, n] = process.argv.slice(2);
const material = toTrustMaterial(TrustedRoot.fromJSON(JSON.parse(fs.readFileSync(rootPath, 'utf8'))));
const verifier = new Verifier(material, { tlogThreshold: 0, ctlogThreshold: 0, timestampThreshold: 1 });
const text = fs.readFileSync(bundlePath, 'utf8');
const once = () => verifier.verify(toSignedEntity(bundleFromJSON(JSON.parse(text))),
  { subjectAlternativeName: san, extensions: { issuer } });
for (let i = 0; i < 20; i++) once(); // warm up, as ours is
const start = process.hrtime.bigint();
for (let i = 0; i < Number(n); i++) once();
console.log(Number(process.hrtime.bigint() - start) / 1e6 / Number(n));
