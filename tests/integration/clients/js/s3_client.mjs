// AWS SDK for JavaScript v3 against S3_ENDPOINT.
//
//   node s3_client.mjs buffer   PutObject with a Buffer body (hex payload hash + CRC32 header),
//                               a 12 MiB multipart Upload (lib-storage), GetObject, HeadObject,
//                               DeleteObjects
//   node s3_client.mjs stream   PutObject with a stream body and ContentLength, which the SDK
//                               sends as STREAMING-UNSIGNED-PAYLOAD-TRAILER (aws-chunked with a
//                               CRC32 trailer, Transfer-Encoding: chunked) even over http.
//                               Ceph RGW 16 rejects that (400, or 411 MissingContentLength
//                               for the chunked framing), so with EXPECT_STREAM_UPLOAD=rejected
//                               (straight to the RGW) the test checks that rejection and exits
//                               78 (an expected failure); otherwise the objects must land.
//
// Every object written is checked byte for byte directly on the RGW (lib/rgw_check.py).
// Env: see tests/integration/README.md; S3_CA_BUNDLE (optional) for an https endpoint.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  S3Client, PutObjectCommand, GetObjectCommand, HeadObjectCommand, DeleteObjectsCommand,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';

const MIB = 1024 * 1024;
// Below the 12 MiB test file, so Upload really splits it into parts.
const PART_SIZE = 5 * MIB;
const CACHE_CONTROL = 'public, max-age=315576000, immutable';
// Waiting this long for an answer is a fault, not slowness: the RGW answers in well under a second.
const TIMEOUT_MS = 20000;
const EXIT_EXPECTED_FAILURE = 78;
const here = path.dirname(fileURLToPath(import.meta.url));
const RGW_CHECK = path.join(here, '..', '..', 'lib', 'rgw_check.py');

function env(name) {
  const value = process.env[name] ?? '';
  if (!value) {
    console.log(`missing environment variable ${name}`);
    process.exit(1);
  }
  return value;
}

const mode = process.argv[2];
if (mode !== 'buffer' && mode !== 'stream') {
  console.log('usage: node s3_client.mjs buffer|stream');
  process.exit(2);
}
const bucket = env('S3_BUCKET');
const data = env('IT_DATA');
const small = path.join(data, 'small.bin');
const big = path.join(data, 'big.bin');
const run = process.env.RUN_ID || String(process.pid);
const objectAcl = process.env.EXPECT_OBJECT_ACL || '';
const expectRejected = mode === 'stream' && process.env.EXPECT_STREAM_UPLOAD === 'rejected';

const config = {
  endpoint: env('S3_ENDPOINT'),
  region: 'us-east-1',
  forcePathStyle: true,
  credentials: { accessKeyId: env('S3_ACCESS_KEY'), secretAccessKey: env('S3_SECRET_KEY') },
  // One attempt: a retry would hide a failed first attempt.
  maxAttempts: 1,
  requestHandler: { requestTimeout: TIMEOUT_MS, connectionTimeout: TIMEOUT_MS },
};
if (process.env.S3_CA_BUNDLE) {
  config.requestHandler.httpsAgent = new https.Agent({ ca: fs.readFileSync(process.env.S3_CA_BUNDLE) });
}
const s3 = new S3Client(config);

// Records the payload mode of every request as signed and sent, so the test can show (and
// in stream mode insist) which wire format it really exercised.
const sent = [];
s3.middlewareStack.add((next, context) => async (args) => {
  const h = args.request.headers || {};
  sent.push(`${context.commandName} x-amz-content-sha256=${h['x-amz-content-sha256'] ?? '(none)'}`
    + `${h['transfer-encoding'] ? ` transfer-encoding=${h['transfer-encoding']}` : ''}`
    + `${h['x-amz-trailer'] ? ` x-amz-trailer=${h['x-amz-trailer']}` : ''}`);
  return next(args);
}, { step: 'deserialize', name: 'recordPayloadMode' });

const failures = [];
async function step(name, fn) {
  try {
    const result = await fn();
    if (result === false) throw new Error('step returned false');
    console.log(`ok - ${name}`);
  } catch (err) {
    const status = err?.$metadata?.httpStatusCode;
    const reason = `${err?.name ?? 'Error'}${status ? ` (HTTP ${status})` : ''}: ${String(err?.message ?? err).split('\n')[0]}`;
    failures.push(`${name}: ${reason}`);
    console.log(`not ok - ${name}: ${reason}`);
  }
}

function verifyOnRgw(name, specs) {
  return step(name, () => {
    const out = spawnSync('/usr/bin/python3', [RGW_CHECK, 'verify', '-'], { input: JSON.stringify(specs), encoding: 'utf8' });
    const text = `${out.stdout ?? ''}${out.stderr ?? ''}`;
    for (const line of text.split('\n').filter(Boolean)) console.log(`  ${line}`);
    if (out.status !== 0) throw new Error(text.split('\n').find(Boolean) ?? `rgw_check exited ${out.status}`);
  });
}

async function bodyBytes(resp) {
  return Buffer.from(await resp.Body.transformToByteArray());
}

function sameBytes(file, bytes, what) {
  if (!fs.readFileSync(file).equals(bytes)) throw new Error(`${what}: ${bytes.length} bytes, content differs`);
}

const acl = objectAcl ? { acl: objectAcl } : {};
const prefix = `js-${mode}/${run}/`;

async function bufferMode() {
  const kSmall = `${prefix}small.png`;
  const kBig = `${prefix}big.bin`;
  await step('PutObject with a Buffer body and ACL public-read', () => s3.send(new PutObjectCommand({
    Bucket: bucket, Key: kSmall, Body: fs.readFileSync(small), ACL: 'public-read',
    ContentType: 'image/png', CacheControl: CACHE_CONTROL,
  })));
  await step('Upload (lib-storage) 12 MiB multipart with ACL public-read', () => new Upload({
    client: s3, partSize: PART_SIZE, queueSize: 2, leavePartsOnError: false,
    params: { Bucket: bucket, Key: kBig, Body: fs.createReadStream(big), ACL: 'public-read' },
  }).done());
  await verifyOnRgw('objects landed on rgw byte for byte', [
    { bucket, key: kSmall, file: small, content_type: 'image/png', cache_control: CACHE_CONTROL, ...acl },
    { bucket, key: kBig, file: big, multipart: true, ...acl },
  ]);
  await step('GetObject back through the endpoint', async () => {
    sameBytes(small, await bodyBytes(await s3.send(new GetObjectCommand({ Bucket: bucket, Key: kSmall }))), 'small');
    sameBytes(big, await bodyBytes(await s3.send(new GetObjectCommand({ Bucket: bucket, Key: kBig }))), 'big');
  });
  await step('HeadObject', async () => {
    const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: kBig }));
    if (head.ContentLength !== fs.statSync(big).size) throw new Error(`ContentLength ${head.ContentLength}`);
  });
  await deleteAndCheck([kSmall, kBig]);
}

async function deleteAndCheck(keys) {
  await step('DeleteObjects', async () => {
    const resp = await s3.send(new DeleteObjectsCommand({
      Bucket: bucket, Delete: { Objects: keys.map((Key) => ({ Key })) },
    }));
    if (resp.Errors?.length) throw new Error(`errors: ${JSON.stringify(resp.Errors.slice(0, 3))}`);
  });
  await verifyOnRgw('deleted objects are gone from rgw', keys.map((key) => ({ bucket, key, absent: true })));
}

function putStream(key, file) {
  return s3.send(new PutObjectCommand({
    Bucket: bucket, Key: key, Body: fs.createReadStream(file), ContentLength: fs.statSync(file).size,
    ACL: 'public-read', ContentType: 'application/octet-stream',
  }));
}

function assertTrailerMode() {
  const puts = sent.filter((s) => s.startsWith('PutObjectCommand'));
  if (!puts.length || !puts.every((s) => s.includes('STREAMING-UNSIGNED-PAYLOAD-TRAILER'))) {
    throw new Error(`the SDK did not use STREAMING-UNSIGNED-PAYLOAD-TRAILER: ${puts.join('; ')}`);
  }
}

async function streamMode() {
  const kSmall = `${prefix}small.bin`;
  const kBig = `${prefix}big.bin`;
  if (expectRejected) {
    let status = 0;
    let code = '';
    try {
      await putStream(kSmall, small);
    } catch (err) {
      status = err?.$metadata?.httpStatusCode ?? -1;
      code = err?.Code ?? err?.name ?? '';
    }
    for (const line of sent) console.log(`  sent: ${line}`);
    await step('the SDK used STREAMING-UNSIGNED-PAYLOAD-TRAILER', assertTrailerMode);
    await step(`RGW rejected it (HTTP ${status} ${code})`, () => {
      if (status !== 400 && status !== 411) throw new Error(status === 0 ? 'RGW accepted it' : `HTTP ${status} ${code}`);
    });
    await verifyOnRgw('nothing landed on rgw', [{ bucket, key: kSmall, absent: true }]);
    if (failures.length) return;
    console.log(`expected failure: RGW 16 rejects STREAMING-UNSIGNED-PAYLOAD-TRAILER (HTTP ${status} ${code}); `
      + 'only a proxy that translates the payload mode makes it land');
    process.exit(EXIT_EXPECTED_FAILURE);
  }
  await step('PutObject with a stream body (trailer mode) and ACL public-read', () => putStream(kSmall, small));
  await step('PutObject 12 MiB with a stream body (trailer mode)', () => putStream(kBig, big));
  for (const line of sent) console.log(`  sent: ${line}`);
  await step('the SDK used STREAMING-UNSIGNED-PAYLOAD-TRAILER', assertTrailerMode);
  await verifyOnRgw('objects landed on rgw byte for byte', [
    { bucket, key: kSmall, file: small, ...acl },
    { bucket, key: kBig, file: big, ...acl },
  ]);
  await step('GetObject back through the endpoint', async () => {
    sameBytes(big, await bodyBytes(await s3.send(new GetObjectCommand({ Bucket: bucket, Key: kBig }))), 'big');
  });
  await deleteAndCheck([kSmall, kBig]);
}

console.log(`node ${process.version}, @aws-sdk/client-s3 ${JSON.parse(fs.readFileSync(
  path.join(here, 'node_modules', '@aws-sdk', 'client-s3', 'package.json'), 'utf8')).version}, endpoint ${config.endpoint}`);
await (mode === 'buffer' ? bufferMode() : streamMode());
if (failures.length) {
  console.log(`${failures.length} step(s) failed; first: ${failures[0]}`);
  process.exit(1);
}
console.log('all steps passed');
