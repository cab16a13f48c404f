//! Consensus rules: context-free transaction and block checks, contextual header and
//! block checks, and script verification.

pub mod checks;
pub mod script;

use std::fmt;

/// Why a block or transaction is invalid, with Core's reject reason (`bad-txns-...`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationError {
    /// Core's short reject reason, as returned by `submitblock` and logged.
    pub reason: String,
    /// Extra detail for the log.
    pub debug: String,
}

impl ValidationError {
    /// An error with a reject reason and no detail.
    pub fn new(reason: impl Into<String>) -> Self {
        ValidationError {
            reason: reason.into(),
            debug: String::new(),
        }
    }

    /// An error with a reject reason and detail.
    pub fn with_debug(reason: impl Into<String>, debug: impl Into<String>) -> Self {
        ValidationError {
            reason: reason.into(),
            debug: debug.into(),
        }
    }
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.debug.is_empty() {
            f.write_str(&self.reason)
        } else {
            write!(f, "{}, {}", self.reason, self.debug)
        }
    }
}

impl std::error::Error for ValidationError {}
