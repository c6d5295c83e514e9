//! Okta.
