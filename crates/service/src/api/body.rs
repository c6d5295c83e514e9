//! Request bodies: read within the size limit, parsed strictly, and every
//! failure a problem document naming the field.

use crate::problem::{FieldError, Problem};
use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use serde::de::DeserializeOwned;

/// The raw body, as UTF-8 text.
pub struct Text(pub String);

impl<S: Send + Sync> FromRequest<S> for Text {
    type Rejection = Problem;

    async fn from_request(request: Request, state: &S) -> Result<Text, Problem> {
        let bytes = Bytes::from_request(request, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                Problem::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "too-large",
                    "Request body too large",
                    "the request body is over the server's limit (`[server] max_body_kib`); nothing was changed",
                )
            } else {
                Problem::bad_request(format!("cannot read the request body: {rejection}"))
            }
        })?;
        String::from_utf8(bytes.to_vec())
            .map(Text)
            .map_err(|_| Problem::bad_request("the request body is not UTF-8"))
    }
}

/// A JSON body of type `T`; unknown and missing fields are 422s naming the field.
pub struct Json<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Json<T> {
    type Rejection = Problem;

    async fn from_request(request: Request, state: &S) -> Result<Json<T>, Problem> {
        let Text(text) = Text::from_request(request, state).await?;
        parse(&text).map(Json)
    }
}

/// Parses `text` as `T`, naming the field at fault.
pub fn parse<T: DeserializeOwned>(text: &str) -> Result<T, Problem> {
    let mut deserializer = serde_json::Deserializer::from_str(text);
    match serde_path_to_error::deserialize(&mut deserializer) {
        Ok(value) => Ok(value),
        Err(error) => {
            let path = error.path().to_string();
            let inner = error.into_inner();
            let field = match path.as_str() {
                "." | "" => "body".to_string(),
                path => path.to_string(),
            };
            Err(Problem::invalid(
                "the request body is invalid; nothing was changed",
                vec![FieldError {
                    field,
                    message: without_values(&inner.to_string()),
                    line: Some(inner.line()),
                    column: Some(inner.column()),
                }],
            ))
        }
    }
}

/// `message` with every double-quoted value cut out: serde quotes the value
/// it could not take, and a submitted value may be a secret.
fn without_values(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut quoted = false;
    for c in message.chars() {
        if c == '"' {
            if !quoted {
                out.push_str("\"…\"");
            }
            quoted = !quoted;
        } else if !quoted {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Request {
        name: String,
        count: u32,
    }

    #[test]
    fn a_bad_field_is_named_located_and_its_value_not_echoed() {
        let problem =
            parse::<Request>("{\"name\": \"x\",\n \"count\": \"hunter2-secret\"}").unwrap_err();
        assert_eq!(problem.status, 422);
        let error = &problem.errors[0];
        assert_eq!((error.field.as_str(), error.line), ("count", Some(2)));
        assert!(!error.message.contains("hunter2"), "{}", error.message);

        let unknown =
            parse::<Request>("{\"name\": \"x\", \"count\": 1, \"extra\": 2}").unwrap_err();
        assert!(
            unknown.errors[0].message.contains("unknown field `extra`"),
            "{:?}",
            unknown.errors
        );
        let missing = parse::<Request>("{\"name\": \"x\"}").unwrap_err();
        assert!(missing.errors[0].message.contains("missing field `count`"));
        assert_eq!(
            parse::<Request>("not json").unwrap_err().errors[0].field,
            "body"
        );
    }
}
