// Validates OpenAPI documents against the specification's own JSON Schemas (3.0, 3.1, 3.2):
//   node tools/npm/validate-openapi.mjs FILE...
// Prints "valid <version> FILE" for each; exits 1 with the errors for the first invalid one.
import { Validator } from "@seriousme/openapi-schema-validator";

for (const file of process.argv.slice(2)) {
  const validator = new Validator();
  const result = await validator.validate(file);
  if (!result.valid) {
    console.error(`invalid ${file}:\n${JSON.stringify(result.errors, null, 2)}`);
    process.exit(1);
  }
  // References must resolve too: a dangling $ref is not caught by the schema.
  validator.resolveRefs();
  console.log(`valid ${validator.version} ${file}`);
}
