//! AWS Signature Version 4 (header signing).
//!
//! [`sign`] adds `x-amz-date` (and `x-amz-security-token` for temporary
//! credentials) to a request's headers and returns the `Authorization` value.
//! The canonicalisation follows AWS's published rules and is tested against
//! AWS's published test vectors.

use crate::encoding::{percent_encode, percent_encode_path};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// AWS credentials. `Debug` never prints the secret.
#[derive(Clone)]
pub struct Credentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    /// Set for temporary (STS) credentials.
    pub session_token: Option<String>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

/// Where and when a request is signed.
#[derive(Debug, Clone)]
pub struct Scope<'a> {
    pub region: &'a str,
    pub service: &'a str,
    /// `YYYYMMDDTHHMMSSZ`.
    pub amz_date: &'a str,
}

/// The parts of an HTTP request that SigV4 covers.
#[derive(Debug, Clone)]
pub struct SignableRequest<'a> {
    pub method: &'a str,
    /// The path, not yet percent-encoded.
    pub path: &'a str,
    /// Query parameters, not yet percent-encoded.
    pub query: &'a [(String, String)],
    /// Every header to sign, including `host`.
    pub headers: &'a [(String, String)],
    pub body: &'a [u8],
}

/// Signs `request`: pushes `x-amz-date` (and the session token) onto `headers`
/// and returns the `Authorization` header value.
pub fn sign(
    method: &str,
    path: &str,
    query: &[(String, String)],
    headers: &mut Vec<(String, String)>,
    body: &[u8],
    credentials: &Credentials,
    scope: &Scope<'_>,
) -> String {
    headers.push(("x-amz-date".into(), scope.amz_date.into()));
    if let Some(token) = &credentials.session_token {
        headers.push(("x-amz-security-token".into(), token.clone()));
    }
    authorization(
        &SignableRequest {
            method,
            path,
            query,
            headers,
            body,
        },
        credentials,
        scope,
    )
}

/// The `Authorization` header value for a request whose headers already
/// include `host` and `x-amz-date`.
pub fn authorization(
    request: &SignableRequest<'_>,
    credentials: &Credentials,
    scope: &Scope<'_>,
) -> String {
    let (canonical, signed_headers) = canonical_request(request);
    let date = &scope.amz_date[..8];
    let credential_scope = format!("{date}/{}/{}/aws4_request", scope.region, scope.service);
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{}\n{credential_scope}\n{}",
        scope.amz_date,
        hex::encode(Sha256::digest(canonical.as_bytes()))
    );
    let mut key = hmac(
        format!("AWS4{}", credentials.secret_access_key).as_bytes(),
        date.as_bytes(),
    );
    for part in [scope.region, scope.service, "aws4_request"] {
        key = hmac(&key, part.as_bytes());
    }
    let signature = hex::encode(hmac(&key, string_to_sign.as_bytes()));
    format!(
        "AWS4-HMAC-SHA256 Credential={}/{credential_scope}, SignedHeaders={signed_headers}, Signature={signature}",
        credentials.access_key_id
    )
}

/// The canonical request and the signed-headers list.
pub fn canonical_request(request: &SignableRequest<'_>) -> (String, String) {
    let mut query: Vec<(String, String)> = request
        .query
        .iter()
        .map(|(k, v)| (percent_encode(k), percent_encode(v)))
        .collect();
    query.sort();
    let query = query
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");

    // Lower-case names, merge repeated headers with ',', trim and fold spaces.
    let mut headers: Vec<(String, String)> = Vec::new();
    for (name, value) in request.headers {
        let name = name.to_ascii_lowercase();
        let value = value.split_whitespace().collect::<Vec<_>>().join(" ");
        match headers.iter_mut().find(|(n, _)| *n == name) {
            Some((_, existing)) => {
                existing.push(',');
                existing.push_str(&value);
            }
            None => headers.push((name, value)),
        }
    }
    headers.sort();
    let canonical_headers: String = headers.iter().map(|(n, v)| format!("{n}:{v}\n")).collect();
    let signed_headers = headers
        .iter()
        .map(|(n, _)| n.as_str())
        .collect::<Vec<_>>()
        .join(";");

    let path = if request.path.is_empty() {
        "/"
    } else {
        request.path
    };
    let canonical = format!(
        "{}\n{}\n{query}\n{canonical_headers}\n{signed_headers}\n{}",
        request.method,
        percent_encode_path(path),
        hex::encode(Sha256::digest(request.body))
    );
    (canonical, signed_headers)
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC accepts any key length");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

#[cfg(test)]
mod tests {
    //! AWS's published SigV4 test vectors (the `aws-sig-v4-test-suite`):
    //! key `AKIDEXAMPLE`, region `us-east-1`, service `service`, time
    //! `20150830T123600Z`, host `example.amazonaws.com`.
    use super::*;

    fn vector(
        method: &str,
        path: &str,
        query: &[(&str, &str)],
        extra: &[(&str, &str)],
        body: &str,
    ) -> String {
        let credentials = Credentials {
            access_key_id: "AKIDEXAMPLE".into(),
            secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into(),
            session_token: None,
        };
        let mut headers: Vec<(String, String)> = vec![
            ("Host".into(), "example.amazonaws.com".into()),
            ("X-Amz-Date".into(), "20150830T123600Z".into()),
        ];
        headers.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let query: Vec<(String, String)> = query
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let scope = Scope {
            region: "us-east-1",
            service: "service",
            amz_date: "20150830T123600Z",
        };
        let auth = authorization(
            &SignableRequest {
                method,
                path,
                query: &query,
                headers: &headers,
                body: body.as_bytes(),
            },
            &credentials,
            &scope,
        );
        auth.rsplit("Signature=").next().unwrap().to_string()
    }

    #[test]
    fn get_vanilla() {
        assert_eq!(
            vector("GET", "/", &[], &[], ""),
            "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
        );
    }

    #[test]
    fn get_vanilla_query_order_key_case() {
        assert_eq!(
            vector(
                "GET",
                "/",
                &[("Param2", "value2"), ("Param1", "value1")],
                &[],
                ""
            ),
            "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"
        );
    }

    #[test]
    fn get_vanilla_query_unreserved() {
        let unreserved = "-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
        assert_eq!(
            vector("GET", "/", &[(unreserved, unreserved)], &[], ""),
            "9c3e54bfcdf0b19771a7f523ee5669cdf59bc7cc0884027167c21bb143a40197"
        );
    }

    #[test]
    fn get_utf8_and_unreserved_paths() {
        assert_eq!(
            vector("GET", "/ሴ", &[], &[], ""),
            "8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85"
        );
        assert_eq!(
            vector(
                "GET",
                "/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
                &[],
                &[],
                ""
            ),
            "07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f"
        );
    }

    #[test]
    fn get_vanilla_utf8_query() {
        assert_eq!(
            vector("GET", "/", &[("ሴ", "bar")], &[], ""),
            "2cdec8eed098649ff3a119c94853b13c643bcf08f8b0a1d91e12c9027818dd04"
        );
    }

    #[test]
    fn get_header_value_trim() {
        assert_eq!(
            vector(
                "GET",
                "/",
                &[],
                &[("My-Header1", " value1"), ("My-Header2", " \"a   b   c\"")],
                ""
            ),
            "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736"
        );
    }

    #[test]
    fn post_vanilla_and_query() {
        assert_eq!(
            vector("POST", "/", &[], &[], ""),
            "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"
        );
        assert_eq!(
            vector("POST", "/", &[("Param1", "value1")], &[], ""),
            "28038455d6de14eafc1f9222cf5aa6f1a96197d7deb8263271d420d138af7f11"
        );
    }

    #[test]
    fn post_header_key_sort() {
        assert_eq!(
            vector("POST", "/", &[], &[("My-Header1", "value1")], ""),
            "c5410059b04c1ee005303aed430f6e6645f61f4dc9e1461ec8f8916fdf18852c"
        );
    }

    #[test]
    fn post_x_www_form_urlencoded() {
        assert_eq!(
            vector(
                "POST",
                "/",
                &[],
                &[("Content-Type", "application/x-www-form-urlencoded")],
                "Param1=value1"
            ),
            "ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a"
        );
    }

    #[test]
    fn sign_adds_date_and_session_token() {
        let credentials = Credentials {
            access_key_id: "ASIAEXAMPLE".into(),
            secret_access_key: "secret".into(),
            session_token: Some("token".into()),
        };
        let mut headers = vec![("host".to_string(), "iam.amazonaws.com".to_string())];
        let auth = sign(
            "POST",
            "/",
            &[],
            &mut headers,
            b"Action=GetUser",
            &credentials,
            &Scope {
                region: "us-east-1",
                service: "iam",
                amz_date: "20261129T000000Z",
            },
        );
        assert!(auth.contains("Credential=ASIAEXAMPLE/20261129/us-east-1/iam/aws4_request"));
        assert!(auth.contains("SignedHeaders=host;x-amz-date;x-amz-security-token"));
        assert!(!format!("{credentials:?}").contains("secret"));
    }
}
