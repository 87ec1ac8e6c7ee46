// AWS SDK for JavaScript v3 with its default checksums (requestChecksumCalculation
// WHEN_SUPPORTED) against S3_ENDPOINT, for the "checksums" suite:
//
//   put_buffer  PutObject with a Buffer body: hex payload hash + x-amz-checksum-crc32 header
//   put_stream  PutObject with a stream body: STREAMING-UNSIGNED-PAYLOAD-TRAILER with an
//               x-amz-checksum-crc32 trailer
//   multipart   a 12 MiB lib-storage Upload (5 MiB parts, each with a CRC32 checksum)
//   get_*       GetObject of each with ChecksumMode ENABLED (x-amz-checksum-mode), bytes compared
//
// Prints one JSON line per step ({"step", "ok", "status", "code", "message"}) and, last,
// {"sent": [...]}: for every request the command and the checksum headers it carried, so the
// suite can show the SDK really sent them. Judging is the suite's (lib/checksums_suite.py).
// Env: S3_ENDPOINT, S3_ACCESS_KEY, S3_SECRET_KEY, S3_BUCKET, IT_DATA, KEY_PREFIX; STEPS
// (comma-separated, default all).
import fs from 'node:fs';
import path from 'node:path';
import { S3Client, PutObjectCommand, GetObjectCommand } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';

const MIB = 1024 * 1024;
// Below the 12 MiB test file, so Upload really splits it into parts.
const PART_SIZE = 5 * MIB;
// Waiting this long for an answer is a fault, not slowness.
const TIMEOUT_MS = 20000;

const env = (name) => {
  const value = process.env[name] ?? '';
  if (!value) throw new Error(`missing environment variable ${name}`);
  return value;
};
const bucket = env('S3_BUCKET');
const small = path.join(env('IT_DATA'), 'small.bin');
const big = path.join(env('IT_DATA'), 'big.bin');
const prefix = env('KEY_PREFIX');
const steps = (process.env.STEPS || 'put_buffer,put_stream,multipart,get').split(',');

const s3 = new S3Client({
  endpoint: env('S3_ENDPOINT'),
  region: 'us-east-1',
  forcePathStyle: true,
  credentials: { accessKeyId: env('S3_ACCESS_KEY'), secretAccessKey: env('S3_SECRET_KEY') },
  maxAttempts: 1, // a retry would hide a failed first attempt
  requestHandler: { requestTimeout: TIMEOUT_MS, connectionTimeout: TIMEOUT_MS },
});

const CHECKSUM_HEADER = /^(x-amz-checksum-.*|x-amz-sdk-checksum-algorithm|x-amz-trailer)$/i;
const sent = [];
s3.middlewareStack.add((next, context) => async (args) => {
  const h = args.request.headers || {};
  sent.push({
    command: context.commandName,
    payload: h['x-amz-content-sha256'] ?? '',
    checksum_headers: Object.keys(h).filter((n) => CHECKSUM_HEADER.test(n)).map((n) => n.toLowerCase()).sort(),
  });
  return next(args);
}, { step: 'deserialize', name: 'recordChecksumHeaders' });

async function step(name, fn) {
  try {
    await fn();
    console.log(JSON.stringify({ step: name, ok: true }));
  } catch (err) {
    console.log(JSON.stringify({
      step: name, ok: false, status: err?.$metadata?.httpStatusCode ?? null,
      code: err?.Code ?? err?.name ?? null, message: String(err?.message ?? err).split('\n')[0],
    }));
  }
}

const keys = { put_buffer: `${prefix}buffer.bin`, put_stream: `${prefix}stream.bin`, multipart: `${prefix}multipart.bin` };
const files = { put_buffer: small, put_stream: small, multipart: big };

if (steps.includes('put_buffer')) {
  await step('put_buffer', () => s3.send(new PutObjectCommand({
    Bucket: bucket, Key: keys.put_buffer, Body: fs.readFileSync(small), ContentType: 'image/png',
  })));
}
if (steps.includes('put_stream')) {
  await step('put_stream', () => s3.send(new PutObjectCommand({
    Bucket: bucket, Key: keys.put_stream, Body: fs.createReadStream(small), ContentLength: fs.statSync(small).size,
  })));
}
if (steps.includes('multipart')) {
  await step('multipart', () => new Upload({
    client: s3, partSize: PART_SIZE, queueSize: 1, leavePartsOnError: false,
    params: { Bucket: bucket, Key: keys.multipart, Body: fs.createReadStream(big) },
  }).done());
}
if (steps.includes('get')) {
  for (const which of ['put_buffer', 'put_stream', 'multipart']) {
    if (!steps.includes(which)) continue;
    await step(`get_${which}`, async () => {
      const resp = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: keys[which], ChecksumMode: 'ENABLED' }));
      const got = Buffer.from(await resp.Body.transformToByteArray());
      if (!fs.readFileSync(files[which]).equals(got)) throw new Error(`${keys[which]}: ${got.length} bytes, content differs`);
    });
  }
}
console.log(JSON.stringify({ sent }));
