//! WorkSpaces identifiers, validated before they reach any URL or API call.

use std::fmt;

/// Why an identifier was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {kind} {value:?}: expected {prefix} followed by lowercase letters and digits")]
pub struct InvalidId {
    pub kind: &'static str,
    pub prefix: &'static str,
    pub value: String,
}

fn validate(value: &str, prefix: &'static str, kind: &'static str) -> Result<String, InvalidId> {
    let rest = value.strip_prefix(prefix).unwrap_or("");
    let ok = !rest.is_empty()
        && rest.len() <= 64
        && rest
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    if ok {
        Ok(value.to_string())
    } else {
        Err(InvalidId {
            kind,
            prefix,
            // Bounded, so a hostile event cannot flood the logs.
            value: value.chars().take(80).collect(),
        })
    }
}

/// A WorkSpace id such as `ws-4xk2p9q7m`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WorkspaceId(String);

impl WorkspaceId {
    pub fn parse(value: &str) -> Result<Self, InvalidId> {
        validate(value, "ws-", "WorkSpace id").map(Self)
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A directory id such as `d-9c67a1b2c3`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DirectoryId(String);

impl DirectoryId {
    pub fn parse(value: &str) -> Result<Self, InvalidId> {
        validate(value, "d-", "directory id").map(Self)
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for WorkspaceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Display for DirectoryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_real_looking_ids() {
        assert_eq!(
            WorkspaceId::parse("ws-4xk2p9q7m").unwrap().as_str(),
            "ws-4xk2p9q7m"
        );
        assert_eq!(
            DirectoryId::parse("d-9c67a1b2c3").unwrap().as_str(),
            "d-9c67a1b2c3"
        );
    }

    #[test]
    fn refuses_anything_that_could_change_a_url() {
        for bad in [
            "",
            "ws-",
            "ws-ABC",
            "ws-abc/../x",
            "ws-abc?x=1",
            "d-123",
            "ws-abc def",
        ] {
            assert!(WorkspaceId::parse(bad).is_err(), "{bad:?} accepted");
        }
        for bad in ["d-", "ws-abc", "d-9C67", "d-9c67%2f"] {
            assert!(DirectoryId::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn error_names_the_kind_and_shape() {
        let err = WorkspaceId::parse("wsX").unwrap_err().to_string();
        assert!(err.contains("WorkSpace id") && err.contains("ws-"), "{err}");
    }
}
