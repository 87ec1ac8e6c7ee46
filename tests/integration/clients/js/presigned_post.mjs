// A browser-based upload as a web application builds it: createPresignedPost
// (@aws-sdk/s3-presigned-post) signs a POST policy, and the form goes out as
// multipart/form-data with Node's own fetch and FormData, the file last.
//
//   node presigned_post.mjs SPEC_JSON
//     SPEC_JSON: {"endpoint", "accessKeyId", "secretAccessKey", "bucket", "key", "file" (a path),
//                 "filename", "fields" {}, "conditions" [], "expires" (seconds)}
// Prints one JSON line: {"status", "body", "location"} of the answer (never the policy or
// its signature). Exit 0 whatever the status; 1 when the upload could not be attempted.
import fs from 'node:fs';
import { S3Client } from '@aws-sdk/client-s3';
import { createPresignedPost } from '@aws-sdk/s3-presigned-post';

// The RGW answers in well under a second: waiting longer is a fault.
const TIMEOUT_MS = 20000;

async function main() {
  const spec = JSON.parse(process.argv[2] ?? '{}');
  const client = new S3Client({
    endpoint: spec.endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: spec.accessKeyId, secretAccessKey: spec.secretAccessKey },
  });
  const { url, fields } = await createPresignedPost(client, {
    Bucket: spec.bucket,
    Key: spec.key,
    Fields: spec.fields ?? {},
    Conditions: spec.conditions ?? [],
    Expires: spec.expires ?? 600,
  });
  const form = new FormData();
  for (const [name, value] of Object.entries(fields)) form.append(name, value);
  form.append('file', new Blob([fs.readFileSync(spec.file)]), spec.filename ?? 'upload.bin');
  const res = await fetch(url, { method: 'POST', body: form, redirect: 'manual', signal: AbortSignal.timeout(TIMEOUT_MS) });
  const body = await res.text();
  console.log(JSON.stringify({ status: res.status, body, location: res.headers.get('location') }));
}

main().catch((err) => {
  console.log(`presigned post failed: ${err.name}: ${err.message}`);
  process.exit(1);
});
