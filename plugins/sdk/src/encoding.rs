//! Percent-encoding as RFC 3986 (and AWS SigV4) defines it, form bodies,
//! Base64 (RFC 4648) for Basic authentication, and fingerprints that name a
//! secret without showing it.

/// Percent-encodes everything except the unreserved characters `A-Z a-z 0-9 - _ . ~`.
pub fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(byte as char)
            }
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

/// Percent-encodes a path, keeping its `/` separators.
pub fn percent_encode_path(path: &str) -> String {
    path.split('/')
        .map(percent_encode)
        .collect::<Vec<_>>()
        .join("/")
}

/// An `application/x-www-form-urlencoded` body from pairs, in the given order.
pub fn form<K: AsRef<str>, V: AsRef<str>>(pairs: &[(K, V)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| {
            format!(
                "{}={}",
                percent_encode(k.as_ref()),
                percent_encode(v.as_ref())
            )
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// Standard Base64 with padding (RFC 4648 section 4), e.g. for
/// `Authorization: Basic` ([`crate::rest::Api::basic`]).
pub fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// A short, stable name for a secret that does not reveal it:
/// `sha256:` and the first 16 hex digits of its SHA-256. Use it in details
/// and evidence where a plugin must say which token it revoked.
pub fn fingerprint(secret: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = hex::encode(Sha256::digest(secret.as_bytes()));
    format!("sha256:{}", &digest[..16])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_reserved_and_utf8() {
        assert_eq!(percent_encode("a b/c~"), "a%20b%2Fc~");
        assert_eq!(percent_encode("ሴ"), "%E1%88%B4");
        assert_eq!(percent_encode_path("/a b/ሴ"), "/a%20b/%E1%88%B4");
        assert_eq!(
            form(&[("Action", "PutUserPolicy"), ("Doc", "{\"a\":1}")]),
            "Action=PutUserPolicy&Doc=%7B%22a%22%3A1%7D"
        );
    }

    #[test]
    fn base64_matches_rfc_4648_vectors() {
        for (text, encoded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(text.as_bytes()), encoded, "{text}");
        }
    }

    #[test]
    fn fingerprints_name_a_secret_without_showing_it() {
        let token = "ghp_16C7e42F292c6912E7710c838347Ae178B4a";
        let print = fingerprint(token);
        assert_eq!(print.len(), "sha256:".len() + 16);
        assert_eq!(print, fingerprint(token));
        assert!(!print.contains("16C7e42F"));
        assert_ne!(print, fingerprint("ghp_other"));
    }
}
