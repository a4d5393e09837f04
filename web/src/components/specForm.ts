/** Turns a connector's JSON Schema spec into what react-jsonschema-form draws: secrets
 * (`airbyte_secret`) as password inputs, fields in the spec's `order`, no free-form extra keys. */

type Schema = Record<string, unknown>;
type UiSchema = Record<string, unknown>;

function isSchema(value: unknown): value is Schema {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** A copy of the spec without `additionalProperties` (which would offer an "add a key" button). */
export function formSchema(spec: Schema): Schema {
  const walk = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(walk);
    if (!isSchema(value)) return value;
    const copy: Schema = {};
    for (const [key, inner] of Object.entries(value)) {
      if (key === "additionalProperties" || key === "$schema") continue;
      copy[key] = walk(inner);
    }
    return copy;
  };
  return walk(spec) as Schema;
}

/** The uiSchema of an object schema: password widgets for secrets, the spec's order, recursively
 * (the branches of a `oneOf` share their parent's uiSchema). */
export function uiSchemaFor(schema: Schema): UiSchema {
  const ui: UiSchema = {};
  const branches = [schema, ...((schema.oneOf as unknown[]) ?? []), ...((schema.anyOf as unknown[]) ?? [])].filter(isSchema);
  const ordered: { name: string; order: number }[] = [];
  for (const branch of branches) {
    const properties = isSchema(branch.properties) ? branch.properties : {};
    for (const [name, property] of Object.entries(properties)) {
      if (!isSchema(property)) continue;
      const inner: UiSchema = { ...((ui[name] as UiSchema | undefined) ?? {}) };
      if (property.airbyte_secret === true) inner["ui:widget"] = "password";
      if (property.airbyte_hidden === true) inner["ui:widget"] = "hidden";
      if (isSchema(property.properties) || Array.isArray(property.oneOf) || Array.isArray(property.anyOf)) {
        Object.assign(inner, uiSchemaFor(property));
      }
      if (Object.keys(inner).length > 0) ui[name] = inner;
      if (branch === schema && typeof property.order === "number") ordered.push({ name, order: property.order });
    }
  }
  if (ordered.length > 0) {
    ui["ui:order"] = [...ordered.sort((a, b) => a.order - b.order).map((item) => item.name), "*"];
  }
  return ui;
}
