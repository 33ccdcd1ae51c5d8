//! JSON request bodies: content type, size limit, syntax errors with their position, and
//! unknown or mistyped fields reported by name.

use super::error::ApiError;
use crate::domain::{ConnectionInput, EndpointInput, FieldError, ValidationErrors};
use crate::policy::PolicyInput;
use http::{header, HeaderMap};
use lambda_http::{Body, Request};
use serde::de::{DeserializeOwned, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};
use std::fmt;

/// The largest request body accepted, in bytes after base64 decoding. The biggest valid
/// endpoint is about 4 KiB of JSON (a 960-byte prefix, a 2,048-byte role ARN, a 100-character
/// name and a description), so 16 KiB leaves room for whitespace and escapes.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// The maximum number of unknown, repeated or mistyped fields that one response lists, so that a
/// body of thousands of stray keys gets an error of bounded size.
pub const MAX_BODY_FIELD_ERRORS: usize = 20;

/// The maximum length of a field name that an error echoes. Longer names are cut.
const MAX_ECHOED_NAME_CHARS: usize = 64;

/// A JSON object body whose field names are known, so that every unknown field and every
/// value of the wrong type can be reported at once rather than only the first one serde meets.
pub trait JsonBody: DeserializeOwned {
    /// The accepted fields. Each takes a JSON string or null.
    const FIELDS: &'static [&'static str];
}

impl JsonBody for EndpointInput {
    const FIELDS: &'static [&'static str] = &[
        "name",
        "description",
        "mode",
        "role_arn",
        "bucket",
        "prefix",
        "region",
        "kms_key_arn",
    ];
}

impl JsonBody for ConnectionInput {
    const FIELDS: &'static [&'static str] = &[
        "mode",
        "role_arn",
        "bucket",
        "prefix",
        "region",
        "kms_key_arn",
    ];
}

impl JsonBody for PolicyInput {
    const FIELDS: &'static [&'static str] = &["mode", "bucket", "prefix", "region", "kms_key_arn"];
}

/// Parses the request body as a JSON object of type `T`.
///
/// A missing `Content-Type` is read as JSON, because some clients and the API Gateway console
/// send none. API Gateway has already decoded base64 bodies by the time they arrive here.
pub fn parse_json_body<T: JsonBody>(request: &Request) -> Result<T, ApiError> {
    parse_and_validate(request, |_: &T| Ok(())).map(|(input, ())| input)
}

/// Parses the request body as `T` and validates it with `validate`, reporting unknown,
/// repeated and mistyped fields together with the errors that `validate` finds in the other
/// fields, so that the client sees every mistake in one response.
pub fn parse_and_validate<T: JsonBody, S>(
    request: &Request,
    validate: impl FnOnce(&T) -> Result<S, ValidationErrors>,
) -> Result<(T, S), ApiError> {
    check_content_type(request.headers())?;
    let bytes = body_bytes(request.body())?;
    let (mut object, mut errors) = parse_object(bytes)?;

    // Invalid entries are reported here and left out of `T`, so that `validate` checks only
    // the fields that the body spelled right. A field already reported as repeated is not
    // reported again.
    for error in take_invalid_fields(&mut object, T::FIELDS) {
        if !errors.iter().any(|reported| reported.field == error.field) {
            errors.push(error);
        }
    }
    errors.truncate(MAX_BODY_FIELD_ERRORS);
    let input: T = deserialize_fields(object)?;

    match validate(&input) {
        Ok(valid) if errors.is_empty() => Ok((input, valid)),
        Ok(_) => Err(ApiError::Validation(ValidationErrors(errors))),
        Err(ValidationErrors(more)) => {
            let reported: Vec<String> = errors.iter().map(|error| error.field.clone()).collect();
            errors.extend(
                more.into_iter()
                    .filter(|error| !reported.contains(&error.field)),
            );
            Err(ApiError::Validation(ValidationErrors(errors)))
        }
    }
}

/// Rejects a body on a route that reads none, so that a client never believes that fields it
/// sent took effect (a `mode` sent to the test of a saved endpoint, say).
pub fn reject_body(request: &Request) -> Result<(), ApiError> {
    if raw_bytes(request.body())
        .iter()
        .all(u8::is_ascii_whitespace)
    {
        return Ok(());
    }
    Err(ApiError::BadRequest {
        detail: format!(
            "a {} request to this route takes no body; send the request without one",
            request.method()
        ),
        errors: Vec::new(),
    })
}

fn check_content_type(headers: &HeaderMap) -> Result<(), ApiError> {
    if let Some(encoding) = headers.get(header::CONTENT_ENCODING) {
        let encoding = encoding.to_str().unwrap_or("");
        if !encoding.trim().eq_ignore_ascii_case("identity") {
            return Err(ApiError::UnsupportedMediaType(format!(
                "Content-Encoding {encoding:?} is not supported; send the JSON body uncompressed"
            )));
        }
    }
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return Ok(());
    };
    let text = value.to_str().unwrap_or("");
    if is_json_media_type(text) {
        Ok(())
    } else {
        Err(ApiError::UnsupportedMediaType(format!(
            "content type {text:?} is not supported; send application/json in UTF-8"
        )))
    }
}

/// Accepts `application/json` and `application/*+json`, with no charset or a UTF-8 one.
fn is_json_media_type(content_type: &str) -> bool {
    let mut parts = content_type.split(';');
    let essence = parts.next().unwrap_or("").trim().to_ascii_lowercase();
    let json = essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"));
    let utf8 = parts.all(|parameter| {
        let Some((name, value)) = parameter.split_once('=') else {
            return parameter.trim().is_empty();
        };
        if !name.trim().eq_ignore_ascii_case("charset") {
            return true;
        }
        let charset = value.trim().trim_matches('"').to_ascii_lowercase();
        charset == "utf-8" || charset == "utf8"
    });
    json && utf8
}

fn raw_bytes(body: &Body) -> &[u8] {
    match body {
        Body::Text(text) => text.as_bytes(),
        Body::Binary(bytes) => bytes.as_slice(),
        _ => &[][..],
    }
}

fn body_bytes(body: &Body) -> Result<&[u8], ApiError> {
    let bytes = raw_bytes(body);
    if bytes.len() > MAX_BODY_BYTES {
        return Err(ApiError::PayloadTooLarge {
            received: bytes.len(),
            limit: MAX_BODY_BYTES,
        });
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::BadRequest {
            detail: "request body is missing; send a JSON object".to_owned(),
            errors: Vec::new(),
        });
    }
    Ok(bytes)
}

/// Parses the body into its top-level object and an error for each key given more than once.
fn parse_object(bytes: &[u8]) -> Result<(Map<String, Value>, Vec<FieldError>), ApiError> {
    // JSON forbids a byte order mark (RFC 8259, section 8.1), and the parser's own message
    // for it ("expected value" at column 1) does not say what is wrong.
    let start = bytes.trim_ascii_start();
    if start.starts_with(b"\xEF\xBB\xBF") {
        return Err(ApiError::BadRequest {
            detail: "request body starts with a UTF-8 byte order mark; send the JSON without it"
                .to_owned(),
            errors: Vec::new(),
        });
    }
    if start.starts_with(b"\xFE\xFF") || start.starts_with(b"\xFF\xFE") {
        return Err(ApiError::BadRequest {
            detail: "request body is UTF-16; send the JSON in UTF-8".to_owned(),
            errors: Vec::new(),
        });
    }
    let top: TopLevel = serde_json::from_slice(bytes).map_err(|error| ApiError::MalformedJson {
        message: syntax_message(&error),
        line: error.line(),
        column: error.column(),
    })?;
    match top {
        TopLevel::Object { object, repeated } => {
            let errors = repeated_field_errors(&object, &repeated);
            Ok((object, errors))
        }
        TopLevel::Other(type_name) => Err(ApiError::BadRequest {
            detail: format!("request body must be a JSON object, not {type_name}"),
            errors: Vec::new(),
        }),
    }
}

/// Builds the errors for keys given more than once. Such a body is rejected because the client
/// meant one of the values, and keeping either silently (serde_json's `Map` keeps the last)
/// may keep the wrong one.
fn repeated_field_errors(object: &Map<String, Value>, repeated: &[String]) -> Vec<FieldError> {
    repeated
        .iter()
        .map(|name| {
            let last = object.get(name).map(value_text).unwrap_or_default();
            FieldError::new(
                &echoed_name(name),
                &last,
                "field is given more than once; send each field once",
            )
        })
        .collect()
}

/// The top level of a request body: an object with the keys that occur more than once, or the
/// type name of any other JSON value.
enum TopLevel {
    Object {
        object: Map<String, Value>,
        repeated: Vec<String>,
    },
    Other(&'static str),
}

impl<'de> Deserialize<'de> for TopLevel {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(TopLevelVisitor)
    }
}

struct TopLevelVisitor;

impl<'de> Visitor<'de> for TopLevelVisitor {
    type Value = TopLevel;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<TopLevel, A::Error> {
        let mut object = Map::new();
        let mut repeated = Vec::new();
        while let Some((key, value)) = access.next_entry::<String, Value>()? {
            if object.insert(key.clone(), value).is_some() && !repeated.contains(&key) {
                repeated.push(key);
            }
        }
        Ok(TopLevel::Object { object, repeated })
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut access: A) -> Result<TopLevel, A::Error> {
        while access.next_element::<IgnoredAny>()?.is_some() {}
        Ok(TopLevel::Other("an array"))
    }

    fn visit_str<E>(self, _: &str) -> Result<TopLevel, E> {
        Ok(TopLevel::Other("a string"))
    }

    fn visit_bool<E>(self, _: bool) -> Result<TopLevel, E> {
        Ok(TopLevel::Other("a boolean"))
    }

    fn visit_i64<E>(self, _: i64) -> Result<TopLevel, E> {
        Ok(TopLevel::Other("a number"))
    }

    fn visit_u64<E>(self, _: u64) -> Result<TopLevel, E> {
        Ok(TopLevel::Other("a number"))
    }

    fn visit_f64<E>(self, _: f64) -> Result<TopLevel, E> {
        Ok(TopLevel::Other("a number"))
    }

    fn visit_unit<E>(self) -> Result<TopLevel, E> {
        Ok(TopLevel::Other("null"))
    }
}

/// Returns serde_json's message without its trailing " at line L column C", which the
/// problem carries as separate members.
fn syntax_message(error: &serde_json::Error) -> String {
    let text = error.to_string();
    match text.rfind(" at line ") {
        Some(position) => text[..position].to_owned(),
        None => text,
    }
}

/// Removes unknown fields and known fields whose value is neither a string nor null from
/// `object`, and returns an error for each.
fn take_invalid_fields(object: &mut Map<String, Value>, known: &[&str]) -> Vec<FieldError> {
    let invalid: Vec<(String, FieldError)> = object
        .iter()
        .filter_map(|(name, value)| Some((name.clone(), field_error(name, value, known)?)))
        .collect();
    invalid
        .into_iter()
        .map(|(name, error)| {
            object.remove(&name);
            error
        })
        .collect()
}

/// Cuts a field name from the body to [`MAX_ECHOED_NAME_CHARS`], because the name, like a
/// value, comes from the client and reaches the response and the logs.
fn echoed_name(name: &str) -> String {
    match name.char_indices().nth(MAX_ECHOED_NAME_CHARS) {
        Some((end, _)) => format!("{}…", &name[..end]),
        None => name.to_owned(),
    }
}

fn field_error(name: &str, value: &Value, known: &[&str]) -> Option<FieldError> {
    if !known.contains(&name) {
        let message = format!(
            "unknown field; the accepted fields are {}",
            known.join(", ")
        );
        return Some(FieldError::new(
            &echoed_name(name),
            &value_text(value),
            message,
        ));
    }
    if value.is_string() || value.is_null() {
        return None;
    }
    let message = format!(
        "{name} must be a JSON string, not {}; write the value in double quotes",
        json_type_name(value)
    );
    Some(FieldError::new(
        &echoed_name(name),
        &value_text(value),
        message,
    ))
}

fn deserialize_fields<T: DeserializeOwned>(object: Map<String, Value>) -> Result<T, ApiError> {
    let value = Value::Object(object);
    serde_path_to_error::deserialize(&value).map_err(|error| {
        let field = error.path().to_string();
        let rejected = value_at(&value, &field).map(value_text).unwrap_or_default();
        let message = error.into_inner().to_string();
        ApiError::Validation(FieldError::new(&field, &rejected, message).into())
    })
}

/// Looks up a dotted path of object keys such as `name` or `a.b`.
fn value_at<'a>(root: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.')
        .try_fold(root, |value, key| value.as_object()?.get(key))
}

/// Shows a string as itself and other JSON values in JSON syntax.
fn value_text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

fn json_type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(content_type: Option<&str>, body: &str) -> Request {
        let mut builder = http::Request::builder()
            .method("POST")
            .uri("/endpoints/test");
        if let Some(content_type) = content_type {
            builder = builder.header(header::CONTENT_TYPE, content_type);
        }
        builder.body(Body::from(body)).unwrap()
    }

    fn parse(content_type: Option<&str>, body: &str) -> Result<ConnectionInput, ApiError> {
        parse_json_body(&request(content_type, body))
    }

    #[test]
    fn body_accepts_json_with_or_without_charset() {
        for content_type in [
            None,
            Some("application/json"),
            Some("application/json; charset=utf-8"),
            Some("Application/JSON;charset=\"UTF-8\""),
            Some("application/merge-patch+json"),
        ] {
            let input = parse(content_type, r#"{"mode":"read_only"}"#).unwrap();
            assert_eq!(input.mode.as_deref(), Some("read_only"), "{content_type:?}");
        }
    }

    #[test]
    fn body_rejects_other_media_types() {
        for content_type in [
            "text/plain",
            "application/x-www-form-urlencoded",
            "application/json; charset=utf-16",
        ] {
            let error = parse(Some(content_type), "{}").unwrap_err();
            assert_eq!(error.status(), 415, "{content_type}");
        }
    }

    #[test]
    fn body_reports_syntax_error_position() {
        let error = parse(None, "{\n  \"mode\": \"read_only\",\n}").unwrap_err();
        let ApiError::MalformedJson { line, column, .. } = error else {
            panic!("expected MalformedJson, got {error:?}");
        };
        assert_eq!(line, 3);
        assert_eq!(column, 1);
    }

    #[test]
    fn body_rejects_oversize_and_empty() {
        let large = format!(r#"{{"mode":"{}"}}"#, "x".repeat(MAX_BODY_BYTES));
        assert_eq!(parse(None, &large).unwrap_err().status(), 413);
        assert_eq!(parse(None, "").unwrap_err().status(), 400);
        assert_eq!(parse(None, "[1]").unwrap_err().status(), 400);
    }

    #[test]
    fn body_names_every_unknown_field() {
        let error = parse(None, r#"{"mode":"read_only","tenant":"b","extra":1}"#).unwrap_err();
        let ApiError::Validation(errors) = error else {
            panic!("expected Validation, got {error:?}");
        };
        let mut fields: Vec<(&str, &str)> = errors
            .errors()
            .iter()
            .map(|e| (e.field.as_str(), e.value.as_str()))
            .collect();
        fields.sort_unstable();
        assert_eq!(fields, [("extra", "1"), ("tenant", "b")]);
    }

    #[test]
    fn body_is_rejected_where_the_route_reads_none() {
        assert!(reject_body(&request(None, "")).is_ok());
        assert!(reject_body(&request(None, " \n")).is_ok());

        let error = reject_body(&request(None, r#"{"mode":"read_write"}"#)).unwrap_err();
        assert_eq!(error.status(), 400);
    }

    #[test]
    fn body_names_a_byte_order_mark() {
        let error = parse(None, "\u{feff}{\"mode\":\"read_only\"}").unwrap_err();
        let ApiError::BadRequest { detail, .. } = error else {
            panic!("expected BadRequest, got {error:?}");
        };
        assert!(detail.contains("byte order mark"), "{detail}");
    }

    #[test]
    fn body_rejects_a_field_given_twice() {
        let body = r#"{"mode":"read_only","bucket":"a","mode":"read_write","bucket":"b"}"#;
        let error = parse(None, body).unwrap_err();
        let ApiError::Validation(errors) = error else {
            panic!("expected Validation, got {error:?}");
        };
        let fields: Vec<(&str, &str)> = errors
            .errors()
            .iter()
            .map(|e| (e.field.as_str(), e.value.as_str()))
            .collect();
        assert_eq!(fields, [("mode", "read_write"), ("bucket", "b")]);
    }

    #[test]
    fn body_names_type_of_non_object() {
        for (body, type_name) in [
            ("[1, {}]", "an array"),
            ("\"x\"", "a string"),
            ("true", "a boolean"),
            ("-1.5", "a number"),
            ("null", "null"),
        ] {
            let error = parse(None, body).unwrap_err();
            let ApiError::BadRequest { detail, .. } = error else {
                panic!("expected BadRequest for {body}, got {error:?}");
            };
            assert!(
                detail.ends_with(&format!("not {type_name}")),
                "{body}: {detail}"
            );
        }
    }

    fn fields_of(error: ApiError) -> Vec<String> {
        let ApiError::Validation(errors) = error else {
            panic!("expected Validation, got {error:?}");
        };
        let mut fields: Vec<String> = errors.errors().iter().map(|e| e.field.clone()).collect();
        fields.sort_unstable();
        fields
    }

    #[test]
    fn body_reports_unknown_and_invalid_fields_together() {
        use crate::domain::ConnectionSpec;
        let body = r#"{"foo":1,"mode":"rw","bucket":"B","region":"eu-west-1"}"#;

        let error = parse_and_validate(&request(None, body), ConnectionSpec::parse).unwrap_err();

        assert_eq!(fields_of(error), ["bucket", "foo", "mode", "role_arn"]);
    }

    #[test]
    fn body_reports_a_mistyped_field_once() {
        use crate::domain::ConnectionSpec;
        let body = r#"{"mode":5,"mode":"x","bucket":"b-1","region":"eu-west-1"}"#;

        let error = parse_and_validate(&request(None, body), ConnectionSpec::parse).unwrap_err();

        assert_eq!(fields_of(error), ["mode", "role_arn"]);
    }

    #[test]
    fn body_reports_a_repeated_mistyped_field_once() {
        let body = r#"{"name":"x","name":5,"foo":1,"foo":2}"#;

        let error =
            parse_and_validate(&request(None, body), |_: &EndpointInput| Ok(())).unwrap_err();

        assert_eq!(fields_of(error), ["foo", "name"]);
    }

    #[test]
    fn body_caps_listed_field_errors() {
        let mut object: Map<String, Value> = (0..30)
            .map(|n| (format!("stray{n}"), Value::from(n)))
            .collect();
        object.insert("k".repeat(1000), Value::from(1));
        let body = Value::Object(object).to_string();

        let ApiError::Validation(errors) = parse(None, &body).unwrap_err() else {
            panic!("expected Validation");
        };

        assert_eq!(errors.errors().len(), MAX_BODY_FIELD_ERRORS);
        let longest = errors
            .errors()
            .iter()
            .map(|e| e.field.chars().count())
            .max();
        assert!(longest <= Some(MAX_ECHOED_NAME_CHARS + 1), "{longest:?}");
    }

    #[test]
    fn body_names_a_mistyped_field() {
        let error = parse(None, r#"{"mode":5}"#).unwrap_err();
        let ApiError::Validation(errors) = error else {
            panic!("expected Validation, got {error:?}");
        };
        assert_eq!(errors.errors()[0].field, "mode");
        assert_eq!(errors.errors()[0].value, "5");
    }

    #[test]
    fn body_names_every_mistyped_and_unknown_field() {
        let body = r#"{"mode":5,"bucket":["x"],"region":null,"prefix":"a/","extra":true}"#;
        let error = parse(None, body).unwrap_err();
        let ApiError::Validation(errors) = error else {
            panic!("expected Validation, got {error:?}");
        };
        let mut fields: Vec<&str> = errors.errors().iter().map(|e| e.field.as_str()).collect();
        fields.sort_unstable();

        assert_eq!(fields, ["bucket", "extra", "mode"]);
        let mode = errors.errors().iter().find(|e| e.field == "mode").unwrap();
        assert!(mode.message.contains("double quotes"), "{}", mode.message);
    }

    #[test]
    fn body_field_lists_match_the_input_types() {
        let all_null = |fields: &[&str]| {
            let object: Map<String, Value> = fields
                .iter()
                .map(|name| ((*name).to_owned(), Value::Null))
                .collect();
            Value::Object(object)
        };
        serde_json::from_value::<EndpointInput>(all_null(EndpointInput::FIELDS)).unwrap();
        serde_json::from_value::<ConnectionInput>(all_null(ConnectionInput::FIELDS)).unwrap();
        serde_json::from_value::<PolicyInput>(all_null(PolicyInput::FIELDS)).unwrap();
    }
}
