//! WorkSpaces identifiers, validated before they reach any URL or API call.

use std::fmt;

/// Why an identifier was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {kind} {value:?}: expected {expected}")]
pub struct InvalidId {
    pub kind: &'static str,
    pub expected: &'static str,
    pub value: String,
}

/// `prefix` followed by `min..=max` characters accepted by `allowed`.
fn shaped(value: &str, prefix: &str, min: usize, max: usize, allowed: fn(u8) -> bool) -> bool {
    value
        .strip_prefix(prefix)
        .is_some_and(|rest| (min..=max).contains(&rest.len()) && rest.bytes().all(allowed))
}

fn refused(value: &str, kind: &'static str, expected: &'static str) -> InvalidId {
    InvalidId {
        kind,
        expected,
        // Bounded, so a hostile event cannot flood the logs.
        value: value.chars().take(80).collect(),
    }
}

fn lower_alnum(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit()
}

fn lower_hex(b: u8) -> bool {
    b.is_ascii_digit() || (b'a'..=b'f').contains(&b)
}

/// A WorkSpace id such as `ws-4xk2p9q7m`, or a WorkSpaces Pool's
/// (`wspool-…`), which is recognised so it can be skipped by name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WorkspaceId(String);

impl WorkspaceId {
    pub fn parse(value: &str) -> Result<Self, InvalidId> {
        if shaped(value, "ws-", 1, 64, lower_alnum) || shaped(value, "wspool-", 1, 64, lower_alnum)
        {
            Ok(Self(value.to_string()))
        } else {
            Err(refused(
                value,
                "WorkSpace id",
                "ws- (or wspool-) followed by lowercase letters and digits",
            ))
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// A WorkSpaces Pool: its sessions have no assigned user.
    pub fn is_pool(&self) -> bool {
        self.0.starts_with("wspool-")
    }
}

/// A directory id: `d-9c67a1b2c3` (AWS Directory Service) or `wsd-…`
/// (IAM Identity Center, Microsoft Entra ID), as AWS's pattern
/// `^(d-[0-9a-f]{8,63}$)|(wsd-[0-9a-z]{8,63}$)` says.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DirectoryId(String);

impl DirectoryId {
    pub fn parse(value: &str) -> Result<Self, InvalidId> {
        if shaped(value, "d-", 8, 63, lower_hex) || shaped(value, "wsd-", 8, 63, lower_alnum) {
            Ok(Self(value.to_string()))
        } else {
            Err(refused(
                value,
                "directory id",
                "d- and 8 to 63 hex digits, or wsd- and 8 to 63 lowercase letters and digits",
            ))
        }
    }

    /// An IAM Identity Center or Entra ID directory (not Active Directory).
    pub fn is_identity_center(&self) -> bool {
        self.0.starts_with("wsd-")
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
        let idc = DirectoryId::parse("wsd-abcz1234x").unwrap();
        assert!(idc.is_identity_center());
    }

    #[test]
    fn refuses_anything_that_could_change_a_url() {
        for bad in [
            "",
            "ws-",
            "ws-ABC",
            "ws-abc/../x",
            "ws-abc?x=1",
            "d-12345678",
            "ws-abc def",
        ] {
            assert!(WorkspaceId::parse(bad).is_err(), "{bad:?} accepted");
        }
        for bad in [
            "d-",
            "ws-abc",
            "d-9C67",
            "d-9c67%2f",
            "d-1234567",
            "d-123456789g",
            "wsd-abc",
            "wsd-ABCDEFGHI",
            "wsd-abcdefgh/",
            "wsx-abcdefgh",
        ] {
            assert!(DirectoryId::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn error_names_the_kind_and_shape() {
        let err = WorkspaceId::parse("wsX").unwrap_err().to_string();
        assert!(err.contains("WorkSpace id") && err.contains("ws-"), "{err}");
        let err = DirectoryId::parse("x").unwrap_err().to_string();
        assert!(err.contains("wsd-") && err.contains("d-"), "{err}");
    }

    #[test]
    fn pools_and_identity_center_directories_are_told_by_their_prefix() {
        assert!(WorkspaceId::parse("wspool-abc12345").unwrap().is_pool());
        assert!(!WorkspaceId::parse("ws-4xk2p9q7m").unwrap().is_pool());
        assert!(
            DirectoryId::parse("wsd-abcd1234")
                .unwrap()
                .is_identity_center()
        );
        assert!(
            !DirectoryId::parse("d-12345678")
                .unwrap()
                .is_identity_center()
        );
    }
}
