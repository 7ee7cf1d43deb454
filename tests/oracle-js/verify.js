// TEST-ONLY oracle: sigstore-js verifies a key-signed Sigstore bundle (no log,
// no certificate) with the public key given, as docs/development.md §6 describes.
// usage: node verify.js BUNDLE.json KEY.pem [ARTIFACT] [--subject sha256:HEX]
// Prints OK and exits 0, or prints the error and exits 1.
'use strict';
const crypto = require('crypto');
const fs = require('fs');
const { TrustedRoot } = require('@sigstore/protobuf-specs');
const { bundleFromJSON } = require('@sigstore/bundle');
const { toTrustMaterial, toSignedEntity, Verifier } = require('@sigstore/verify');

const args = process.argv.slice(2);
const subjectAt = args.indexOf('--subject');
const subject = subjectAt >= 0 ? args.splice(subjectAt, 2)[1] : null;
const [bundlePath, keyPath, artifactPath] = args;
try {
  const pem = fs.readFileSync(keyPath, 'utf8');
  const root = TrustedRoot.fromJSON({
    mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1',
    tlogs: [], certificateAuthorities: [], ctlogs: [], timestampAuthorities: [],
  });
  const material = toTrustMaterial(root, () => ({ publicKey: crypto.createPublicKey(pem), validFor: () => true }));
  const bundle = bundleFromJSON(JSON.parse(fs.readFileSync(bundlePath, 'utf8')));
  const artifact = artifactPath ? fs.readFileSync(artifactPath) : undefined;
  new Verifier(material, { tlogThreshold: 0, ctlogThreshold: 0, tsaThreshold: 0 })
    .verify(toSignedEntity(bundle, artifact), {});
  if (subject) {
    const statement = JSON.parse(Buffer.from(bundle.content.dsseEnvelope.payload).toString('utf8'));
    const digests = statement.subject.map((s) => 'sha256:' + s.digest.sha256);
    if (!digests.includes(subject)) throw new Error(`statement is about ${digests}, not ${subject}`);
  }
  console.log('OK');
} catch (err) {
  console.log(`${err.code || err.name}: ${err.message}`);
  process.exit(1);
}
