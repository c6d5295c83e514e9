//! CyberArk.
