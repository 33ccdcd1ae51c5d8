//! Checks real handler responses against `openapi.yaml`: the status is documented for the
//! operation, the content type is one the operation declares, and the body validates against
//! the declared schema (OpenAPI 3.1 schemas are JSON Schema 2020-12).

use super::Answer;
use serde_json::Value;

pub struct Contract {
    document: Value,
}

impl Contract {
    pub fn load() -> Self {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.yaml");
        let text = std::fs::read_to_string(path).unwrap();
        let document: Value = serde_norway::from_str(&text).unwrap();
        Self { document }
    }

    pub fn document(&self) -> &Value {
        &self.document
    }

    /// Returns the path template of the document that `path` matches, preferring literal
    /// segments over parameters (`/endpoints/test` over `/endpoints/{id}`).
    pub fn template_for(&self, path: &str) -> Option<String> {
        let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        let paths = self.document["paths"].as_object()?;
        paths
            .keys()
            .filter_map(|template| {
                let parts: Vec<&str> = template.trim_matches('/').split('/').collect();
                if parts.len() != segments.len() {
                    return None;
                }
                let mut literals = 0;
                for (part, segment) in parts.iter().zip(&segments) {
                    if part.starts_with('{') {
                        continue;
                    }
                    if part != segment {
                        return None;
                    }
                    literals += 1;
                }
                Some((literals, template.clone()))
            })
            .max()
            .map(|(_, template)| template)
    }

    /// Panics unless `answer` is a documented response of `method` on `template`. A request
    /// that matched no route (`template` is `None`) must be a problem document.
    pub fn check(&self, method: &str, template: Option<&str>, answer: &Answer) {
        let Some(template) = template else {
            assert_eq!(answer.content_type(), "application/problem+json");
            self.validate_against(&self.schema_ref("Problem"), &answer.body, "unrouted");
            return;
        };
        let operation = &self.document["paths"][template][method.to_lowercase()];
        if operation.is_null() {
            // A known path with another method: the 405 problem.
            assert_eq!(answer.status, 405, "{method} {template} is not documented");
            self.validate_against(&self.schema_ref("Problem"), &answer.body, "405");
            return;
        }
        let context = format!("{method} {template} -> {}", answer.status);
        let response = self.resolve(&operation["responses"][answer.status.to_string()]);
        assert!(
            !response.is_null(),
            "{context}: status is not documented; body {}",
            answer.text
        );
        let Some(content) = response.get("content") else {
            assert!(
                answer.text.is_empty(),
                "{context}: documented without a body"
            );
            return;
        };
        let media_type = answer.content_type().split(';').next().unwrap_or("").trim();
        let schema = &content[media_type]["schema"];
        assert!(
            !schema.is_null(),
            "{context}: content type {media_type:?} is not documented"
        );
        self.validate_against(schema, &answer.body, &context);
    }

    fn schema_ref(&self, name: &str) -> Value {
        serde_json::json!({ "$ref": format!("#/components/schemas/{name}") })
    }

    fn resolve<'a>(&'a self, value: &'a Value) -> &'a Value {
        match value.get("$ref").and_then(Value::as_str) {
            Some(reference) => {
                let pointer = reference.trim_start_matches('#');
                self.document.pointer(pointer).unwrap_or(&Value::Null)
            }
            None => value,
        }
    }

    /// Validates `instance` against `schema` with the document's components in scope, so that
    /// `#/components/schemas/...` references resolve.
    pub fn validate_against(&self, schema: &Value, instance: &Value, context: &str) {
        let mut root = schema.clone();
        let object = root.as_object_mut().unwrap();
        object.insert(
            "$schema".to_owned(),
            Value::String("https://json-schema.org/draft/2020-12/schema".to_owned()),
        );
        object.insert("components".to_owned(), self.document["components"].clone());
        let validator = jsonschema::draft202012::new(&root).unwrap();
        let errors: Vec<String> = validator
            .iter_errors(instance)
            .map(|error| format!("{} at {}", error, error.instance_path()))
            .collect();
        assert!(
            errors.is_empty(),
            "{context}: body does not match the contract: {errors:?}\nbody: {instance}"
        );
    }
}
