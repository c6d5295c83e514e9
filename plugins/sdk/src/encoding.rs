//! Percent-encoding as RFC 3986 (and AWS SigV4) defines it, and form bodies.

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
}
