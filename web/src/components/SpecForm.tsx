/** A connector's configuration form, drawn by react-jsonschema-form (Mantine theme) from the
 * connector's own JSON Schema spec. Secrets are password inputs and come back masked. */
import Form from "@rjsf/mantine";
import type { IChangeEvent } from "@rjsf/core";
import validator from "@rjsf/validator-ajv8";
import { useMemo, type ReactNode } from "react";

import { formSchema, uiSchemaFor } from "./specForm";

type Config = Record<string, unknown>;

export default function SpecForm({
  spec,
  config,
  disabled,
  onChange,
  onSubmit,
  children,
}: {
  spec: Record<string, unknown>;
  config: Config;
  disabled: boolean;
  onChange: (config: Config) => void;
  onSubmit: (config: Config) => void;
  children: ReactNode;
}) {
  const schema = useMemo(() => formSchema(spec), [spec]);
  const uiSchema = useMemo(() => ({ ...uiSchemaFor(spec), "ui:submitButtonOptions": { norender: true } }), [spec]);
  return (
    <Form
      schema={schema}
      uiSchema={uiSchema}
      formData={config}
      validator={validator}
      disabled={disabled}
      showErrorList={false}
      noHtml5Validate
      onChange={(event: IChangeEvent<Config>) => onChange(event.formData ?? {})}
      onSubmit={(event: IChangeEvent<Config>) => onSubmit(event.formData ?? {})}
    >
      {children}
    </Form>
  );
}
