//! [`Secret`]: a key, a webhook secret or a token, which never prints.
//!
//! Every secret paywire holds is one of these from the moment it is read, so
//! a log line, an error or a run record that formats one shows only its kind
//! (`sk_test_****`).

use std::fmt;

/// A secret value: a key, a webhook secret, a token. Printing it shows only
/// its kind.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The secret itself, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The key's prefix (`sk_test_`), which says what it is without
    /// revealing it.
    pub fn kind(&self) -> &str {
        let end = self
            .0
            .match_indices('_')
            .nth(1)
            .map(|(at, _)| at + 1)
            .or_else(|| self.0.find('_').map(|at| at + 1))
            .unwrap_or(0);
        &self.0[..end]
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret({}****)", self.kind())
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}****", self.kind())
    }
}
