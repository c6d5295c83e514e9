//! A small client for the IAM Query API: form-encoded POSTs signed with SigV4,
//! XML answers, both of AWS's error shapes.

use cordon_plugin_sdk::encoding::form;
use cordon_plugin_sdk::http::{Request, Response};
use cordon_plugin_sdk::prelude::*;
use cordon_plugin_sdk::sigv4::{self, Credentials, Scope};
use cordon_plugin_sdk::time::UtcTime;

/// The IAM API version this client speaks.
const VERSION: &str = "2010-05-08";

/// Where and as whom to call IAM.
pub struct Iam {
    endpoint: String,
    region: String,
    credentials: Credentials,
}

/// An IAM error: its HTTP status, AWS error code and message.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: u16,
    pub code: String,
    pub message: String,
}

/// Either IAM said no, or the call failed before IAM could say anything.
#[derive(Debug)]
pub enum CallError {
    Api(ApiError),
    Transport(ProviderError),
}

impl CallError {
    /// Whether IAM answered `NoSuchEntity`.
    pub fn is_no_such_entity(&self) -> bool {
        matches!(self, CallError::Api(e) if e.code == "NoSuchEntity")
    }
}

impl From<CallError> for ProviderError {
    fn from(err: CallError) -> Self {
        match err {
            CallError::Transport(err) => err,
            CallError::Api(e) => map_api_error(&e),
        }
    }
}

/// AWS error codes → provider errors (PROVIDERS.md, "Errors").
pub fn map_api_error(e: &ApiError) -> ProviderError {
    let message = format!("{} (HTTP {}): {}", e.code, e.status, e.message);
    match e.code.as_str() {
        "NoSuchEntity" => ProviderError::NotFound(message),
        // Throttling comes without Retry-After: the host backs off exponentially.
        "Throttling" | "ThrottlingException" | "RequestLimitExceeded" => {
            ProviderError::RateLimited(cordon_plugin_sdk::RateLimit {
                retry_after_ms: None,
                detail: message,
            })
        }
        "AccessDenied"
        | "InvalidClientTokenId"
        | "SignatureDoesNotMatch"
        | "ExpiredToken"
        | "IncompleteSignature"
        | "MissingAuthenticationToken" => ProviderError::Unauthorized(message),
        "RequestExpired" => ProviderError::Unauthorized(format!(
            "{message} (the signing clock is off by more than 5 minutes)"
        )),
        "ServiceFailure" | "ServiceUnavailable" | "InternalFailure" => {
            ProviderError::Transient(message)
        }
        _ if e.status >= 500 => ProviderError::Transient(message),
        _ => ProviderError::Invalid(message),
    }
}

impl Iam {
    /// A client from the plugin's config (`endpoint`, `region`) and secrets.
    pub fn from_settings() -> Result<Iam, ProviderError> {
        let session_token = secret("session_token").ok();
        Ok(Iam {
            endpoint: config_or("endpoint", "https://iam.amazonaws.com")
                .trim_end_matches('/')
                .to_string(),
            region: config_or("region", "us-east-1"),
            credentials: Credentials {
                access_key_id: secret("access_key_id")?,
                secret_access_key: secret("secret_access_key")?,
                session_token,
            },
        })
    }

    /// Calls `action` with `params`; returns the response XML on success.
    pub fn call(&self, action: &str, params: &[(&str, &str)]) -> Result<String, CallError> {
        let mut pairs: Vec<(&str, &str)> = vec![("Action", action), ("Version", VERSION)];
        pairs.extend_from_slice(params);
        let body = form(&pairs);

        let authority = self
            .endpoint
            .split_once("://")
            .map(|(_, rest)| rest.split('/').next().unwrap_or(rest))
            .unwrap_or(&self.endpoint)
            .to_string();
        let content_type = "application/x-www-form-urlencoded; charset=utf-8";
        let mut headers = vec![
            ("host".to_string(), authority),
            ("content-type".to_string(), content_type.to_string()),
        ];
        let amz_date = UtcTime::now().amz_date();
        let authorization = sigv4::sign(
            "POST",
            "/",
            &[],
            &mut headers,
            body.as_bytes(),
            &self.credentials,
            &Scope {
                region: &self.region,
                service: "iam",
                amz_date: &amz_date,
            },
        );
        let mut request = Request::post(format!("{}/", self.endpoint)).body(body);
        // The host sets `host` itself from the URL; everything else we signed is sent.
        for (name, value) in headers.into_iter().filter(|(n, _)| n != "host") {
            request = request.header(name, value);
        }
        let response = request
            .header("authorization", authorization)
            .send()
            .map_err(CallError::Transport)?;
        if response.is_success() {
            Ok(response.text())
        } else {
            Err(CallError::Api(parse_error(&response)))
        }
    }
}

/// Reads `<Error><Code/><Message/></Error>`, in AWS's shape
/// (`ErrorResponse/Error`) or moto's (`ErrorResponse/Errors/Error`).
pub fn parse_error(response: &Response) -> ApiError {
    let text = response.text();
    let fallback = || ApiError {
        status: response.status,
        code: match response.status {
            429 => "Throttling".into(),
            s if s >= 500 => "ServiceFailure".into(),
            _ => format!("HTTP{}", response.status),
        },
        message: text.chars().take(200).collect(),
    };
    let Ok(doc) = roxmltree::Document::parse(&text) else {
        return fallback();
    };
    let error = doc.descendants().find(|n| n.has_tag_name("Error"));
    let child = |name: &str| {
        error
            .and_then(|e| e.children().find(|c| c.has_tag_name(name)))
            .and_then(|c| c.text())
            .map(str::trim)
            .map(str::to_string)
    };
    match child("Code") {
        Some(code) => ApiError {
            status: response.status,
            code,
            message: child("Message").unwrap_or_default(),
        },
        None => fallback(),
    }
}

/// Text of the first element called `name` in an XML document.
pub fn first_text(xml: &str, name: &str) -> Option<String> {
    let doc = roxmltree::Document::parse(xml).ok()?;
    doc.descendants()
        .find(|n| n.has_tag_name(name))
        .and_then(|n| n.text())
        .map(|t| t.trim().to_string())
}

/// `(Key, Value)` pairs of every `<Tags><member><Key/><Value/></member></Tags>`.
pub fn tags(xml: &str) -> Vec<(String, String)> {
    let Ok(doc) = roxmltree::Document::parse(xml) else {
        return Vec::new();
    };
    let Some(tags) = doc.descendants().find(|n| n.has_tag_name("Tags")) else {
        return Vec::new();
    };
    tags.children()
        .filter(|m| m.has_tag_name("member"))
        .filter_map(|m| {
            Some((
                child_text(m, "Key")?,
                child_text(m, "Value").unwrap_or_default(),
            ))
        })
        .collect()
}

/// The text of `node`'s first child element called `name`.
fn child_text(node: roxmltree::Node<'_, '_>, name: &str) -> Option<String> {
    node.children()
        .find(|c| c.has_tag_name(name))
        .and_then(|c| c.text())
        .map(str::to_string)
}

/// `(AccessKeyId, Status)` of each key in a `ListAccessKeys` answer.
pub fn access_keys(xml: &str) -> Vec<(String, String)> {
    let Ok(doc) = roxmltree::Document::parse(xml) else {
        return Vec::new();
    };
    doc.descendants()
        .filter(|n| n.has_tag_name("member"))
        .filter_map(|m| Some((child_text(m, "AccessKeyId")?, child_text(m, "Status")?)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(status: u16, body: &str) -> Response {
        Response {
            status,
            headers: Vec::new(),
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn parses_aws_and_moto_error_shapes() {
        let aws = r#"<ErrorResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><Error><Type>Sender</Type><Code>NoSuchEntity</Code><Message>The user with name ghost cannot be found.</Message></Error><RequestId>1</RequestId></ErrorResponse>"#;
        let e = parse_error(&response(404, aws));
        assert_eq!((e.code.as_str(), e.status), ("NoSuchEntity", 404));
        assert!(matches!(map_api_error(&e), ProviderError::NotFound(_)));

        let moto = r#"<?xml version="1.0" encoding="UTF-8"?><ErrorResponse><Errors><Error><Code>InvalidClientTokenId</Code><Message>The security token included in the request is invalid.</Message></Error></Errors><RequestId>x</RequestId></ErrorResponse>"#;
        let e = parse_error(&response(403, moto));
        assert_eq!(e.code, "InvalidClientTokenId");
        assert!(matches!(map_api_error(&e), ProviderError::Unauthorized(_)));
    }

    #[test]
    fn maps_throttling_and_server_errors() {
        let throttled = ApiError {
            status: 400,
            code: "Throttling".into(),
            message: "Rate exceeded".into(),
        };
        assert!(
            matches!(map_api_error(&throttled), ProviderError::RateLimited(r) if r.retry_after_ms.is_none())
        );
        let failure = ApiError {
            status: 500,
            code: "ServiceFailure".into(),
            message: "x".into(),
        };
        assert!(matches!(
            map_api_error(&failure),
            ProviderError::Transient(_)
        ));
        let limit = ApiError {
            status: 409,
            code: "LimitExceeded".into(),
            message: "x".into(),
        };
        assert!(matches!(map_api_error(&limit), ProviderError::Invalid(_)));
        let garbage = parse_error(&response(503, "<html>bad gateway</html>"));
        assert!(matches!(
            map_api_error(&garbage),
            ProviderError::Transient(_)
        ));
    }

    #[test]
    fn reads_tags_and_keys() {
        let user = r#"<GetUserResponse><GetUserResult><User><UserName>ci-bot</UserName><Arn>arn:aws:iam::123456789012:user/ci-bot</Arn><Tags><member><Key>owner</Key><Value>platform-team</Value></member><member><Key>workload</Key><Value>ci</Value></member></Tags></User></GetUserResult></GetUserResponse>"#;
        assert_eq!(
            tags(user),
            [
                ("owner".to_string(), "platform-team".to_string()),
                ("workload".to_string(), "ci".to_string())
            ]
        );
        assert_eq!(
            first_text(user, "Arn").unwrap(),
            "arn:aws:iam::123456789012:user/ci-bot"
        );
        let keys = r#"<ListAccessKeysResponse><ListAccessKeysResult><AccessKeyMetadata><member><UserName>u</UserName><AccessKeyId>AKIA1</AccessKeyId><Status>Active</Status></member><member><UserName>u</UserName><AccessKeyId>AKIA2</AccessKeyId><Status>Inactive</Status></member></AccessKeyMetadata></ListAccessKeysResult></ListAccessKeysResponse>"#;
        assert_eq!(
            access_keys(keys),
            [
                ("AKIA1".to_string(), "Active".to_string()),
                ("AKIA2".to_string(), "Inactive".to_string())
            ]
        );
    }
}
