//! Cordon provider plugin for Okta (work in progress).
