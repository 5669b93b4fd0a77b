// An independent check of a Sigstore bundle written by quayside, with
// sigstore-js (@sigstore/verify, @sigstore/bundle from npm; scripts/test
// installs them and sets NODE_PATH). Usage:
//   node verify-bundle.cjs BUNDLE.json PUBLIC_KEY.pem SHA256_HEX [PREDICATE_TYPE [COMMIT TAG]]
// Checks: the bundle parses and validates as a Sigstore bundle
// (bundleFromJSON); the DSSE signature verifies over the DSSE
// pre-authentication encoding with the given key (Verifier, key looked up by
// the bundle's `publicKey.hint`); no tlog entry, SCT or timestamp is
// required (thresholds 0: quayside cannot reach a log); the in-toto v1
// statement has PREDICATE_TYPE (default cosign's sign predicate
// https://sigstore.dev/cosign/sign/v1) and is about exactly SHA256_HEX.
// With COMMIT and TAG (a quayside promotion attestation): the predicate's
// releasesFile.commit is COMMIT, target.tag is TAG and source.digest is
// sha256:SHA256_HEX.
// Prints `verified` and exits 0, or prints why and exits 1.
'use strict';
const fs = require('node:fs');
const crypto = require('node:crypto');
const { bundleFromJSON } = require('@sigstore/bundle');
const { Verifier, toSignedEntity, toTrustMaterial } = require('@sigstore/verify');

function fail(message) {
  console.log(`rejected: ${message}`);
  process.exit(1);
}

const [bundlePath, keyPath, digestHex, predicateArg, commit, tag] = process.argv.slice(2);
if (!digestHex) fail('usage: verify-bundle.cjs BUNDLE PUBLIC_KEY_PEM SHA256_HEX [PREDICATE_TYPE [COMMIT TAG]]');
const predicateType = predicateArg || 'https://sigstore.dev/cosign/sign/v1';
try {
  const bundle = bundleFromJSON(JSON.parse(fs.readFileSync(bundlePath, 'utf8')));
  const publicKey = crypto.createPublicKey(fs.readFileSync(keyPath, 'utf8'));
  const expectedHint = bundle.verificationMaterial.content.publicKey.hint;
  const trustedRoot = {
    mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1',
    tlogs: [], certificateAuthorities: [], ctlogs: [], timestampAuthorities: [],
  };
  const keyFinder = (hint) => {
    if (hint !== expectedHint) throw new Error(`unknown key hint ${hint}`);
    return { publicKey, validFor: () => true };
  };
  const verifier = new Verifier(toTrustMaterial(trustedRoot, keyFinder), {
    tlogThreshold: 0, ctlogThreshold: 0, timestampThreshold: 0,
  });
  verifier.verify(toSignedEntity(bundle));
  const envelope = bundle.content.dsseEnvelope;
  if (!envelope) fail('not a DSSE bundle');
  if (envelope.payloadType !== 'application/vnd.in-toto+json') fail(`payload type ${envelope.payloadType}`);
  const statement = JSON.parse(Buffer.from(envelope.payload).toString('utf8'));
  if (statement._type !== 'https://in-toto.io/Statement/v1') fail(`statement type ${statement._type}`);
  if (statement.predicateType !== predicateType) fail(`predicate ${statement.predicateType}`);
  if (!statement.subject.some((s) => s.digest && s.digest.sha256 === digestHex)) fail(`statement is not about sha256:${digestHex}`);
  if (commit !== undefined) {
    const p = statement.predicate || {};
    const file = p.releasesFile || {};
    if (file.commit !== commit) fail(`predicate commit ${file.commit}, expected ${commit}`);
    if (!p.target || p.target.tag !== tag) fail(`predicate target tag ${p.target && p.target.tag}, expected ${tag}`);
    if (!p.source || p.source.digest !== `sha256:${digestHex}`) fail(`predicate source digest ${p.source && p.source.digest}`);
  }
  console.log('verified');
} catch (error) {
  fail(error && error.message ? error.message : String(error));
}
