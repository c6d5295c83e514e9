//! `cordon serve`.
#![warn(missing_docs)]
