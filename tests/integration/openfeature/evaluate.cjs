// Evaluates flags through the OpenFeature JavaScript server SDK and its OFREP provider, as a
// Node service of a Raptorflow team would: node evaluate.cjs BASE_URL TOKEN < cases.json
// Each case: {type: boolean|string|number|object, key, default, context}. Prints one JSON array
// of the SDK's evaluation details, in order.
const path = require('path');
const modules = path.join(__dirname, '..', '..', '..', 'tools', 'npm', 'node_modules');
const { OpenFeature } = require(path.join(modules, '@openfeature', 'server-sdk'));
const { OFREPProvider } = require(path.join(modules, '@openfeature', 'ofrep-provider'));

async function main() {
  const [baseUrl, token] = process.argv.slice(2);
  const cases = JSON.parse(require('fs').readFileSync(0, 'utf8'));
  await OpenFeature.setProviderAndWait(new OFREPProvider({
    baseUrl,
    headers: token ? [['Authorization', `Bearer ${token}`]] : [],
  }));
  const client = OpenFeature.getClient();
  const getters = {
    boolean: client.getBooleanDetails.bind(client),
    string: client.getStringDetails.bind(client),
    number: client.getNumberDetails.bind(client),
    object: client.getObjectDetails.bind(client),
  };
  const out = [];
  for (const c of cases) {
    const d = await getters[c.type](c.key, c.default, c.context || {});
    out.push({ key: d.flagKey, value: d.value, variant: d.variant ?? null, reason: d.reason,
               errorCode: d.errorCode ?? null, metadata: d.flagMetadata });
  }
  process.stdout.write(JSON.stringify(out));
  await OpenFeature.close();
}

main().catch((e) => { console.error(e); process.exit(1); });
