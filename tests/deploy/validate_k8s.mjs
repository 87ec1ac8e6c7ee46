// Validates Kubernetes objects against the API schemas shipped by the npm package
// kubernetes-models (generated from the Kubernetes OpenAPI spec; validated with ajv).
// Reads a JSON array of objects on stdin (tests/deploy/check_k8s.py converts the YAML).
// Prints "ok KIND NAME" or "invalid KIND NAME: why" per object; exits 1 if any is invalid.
import { readFileSync } from "node:fs";

const models = {
  "v1/ConfigMap": "kubernetes-models/v1/ConfigMap",
  "v1/Secret": "kubernetes-models/v1/Secret",
  "v1/Service": "kubernetes-models/v1/Service",
  "apps/v1/Deployment": "kubernetes-models/apps/v1/Deployment",
  "batch/v1/CronJob": "kubernetes-models/batch/v1/CronJob",
};

const objects = JSON.parse(readFileSync(0, "utf8"));
let bad = 0;
for (const obj of objects) {
  const kind = `${obj.apiVersion}/${obj.kind}`;
  const name = `${obj.kind} ${obj.metadata?.name}`;
  const path = models[kind];
  if (!path) {
    console.log(`invalid ${name}: no schema here for ${kind}`);
    bad++;
    continue;
  }
  const Model = (await import(path))[obj.kind];
  try {
    new Model(obj).validate();
    console.log(`ok ${name}`);
  } catch (e) {
    console.log(`invalid ${name}: ${e.message}`);
    bad++;
  }
}
process.exit(bad ? 1 : 0);
