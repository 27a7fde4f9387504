// Validates Kubernetes objects against the API's schemas: kubernetes-models (the OpenAPI schemas
// of the Kubernetes API, compiled to validators) and @kubernetes-models/prometheus-operator (the
// ServiceMonitor CRD's). Reads a JSON array of objects on stdin (tools/check_manifests.py sends
// what `kubectl kustomize` built); prints one line per invalid object, exits 1 if there is one.
//
//   echo '[{"apiVersion": "v1", "kind": "Service", ...}]' | node tools/npm/check-k8s.cjs
"use strict";
const path = require("path");

// apiVersion and kind to the module whose class validates them.
function modelOf(apiVersion, kind) {
  const [group, version] = apiVersion.includes("/") ? apiVersion.split("/") : ["", apiVersion];
  if (!/^[a-z0-9.]*$/.test(group) || !/^v[0-9a-z]+$/.test(version) || !/^[A-Za-z]+$/.test(kind))
    return null;
  const candidates =
    group === "monitoring.coreos.com"
      ? [`@kubernetes-models/prometheus-operator/${group}/${version}/${kind}`]
      : [`kubernetes-models/${group ? group + "/" : ""}${version}/${kind}`];
  for (const name of candidates) {
    try {
      const exported = require(name);
      if (exported[kind]) return exported[kind];
    } catch (e) {
      if (e.code !== "MODULE_NOT_FOUND" && e.code !== "ERR_PACKAGE_PATH_NOT_EXPORTED") throw e;
    }
  }
  return null;
}

function main(objects) {
  let bad = 0;
  for (const object of objects) {
    const what = `${object.kind || "?"} ${object.metadata && object.metadata.name}`;
    const Model = modelOf(String(object.apiVersion || ""), String(object.kind || ""));
    if (!Model) {
      console.log(`${what}: no schema for ${object.apiVersion} ${object.kind}`);
      bad++;
      continue;
    }
    try {
      new Model(object).validate();
    } catch (e) {
      console.log(`${what} (${object.apiVersion}): ${e.message}`);
      bad++;
    }
  }
  console.log(`check-k8s: ${objects.length - bad} of ${objects.length} objects valid`);
  process.exit(bad ? 1 : 0);
}

let input = "";
process.stdin.on("data", (chunk) => (input += chunk));
process.stdin.on("end", () => main(JSON.parse(input)));
