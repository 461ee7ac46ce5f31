//! Where WorkSpaces live: an AWS account and a region, and the accounts and
//! regions one deployment serves (its own, or members of an organization
//! reached through a role in each).

use serde::{Deserialize, Serialize};

/// An AWS account and region.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Location {
    pub account: String,
    pub region: String,
}

impl Location {
    pub fn new(account: impl Into<String>, region: impl Into<String>) -> Self {
        Self {
            account: account.into(),
            region: region.into(),
        }
    }
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.account, self.region)
    }
}

/// The accounts and regions a deployment serves. Empty lists mean the home
/// account or region: the function's own (the CLI's credentials' own).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scope {
    pub accounts: Vec<String>,
    pub regions: Vec<String>,
}

impl Scope {
    /// Every served account × region, in a stable order (accounts as
    /// configured, then regions as configured).
    pub fn locations(&self, home: &Location) -> Vec<Location> {
        let accounts = self.accounts_or_home(home);
        let regions = self.regions_or_home(home);
        accounts
            .iter()
            .flat_map(|a| regions.iter().map(move |r| Location::new(a, r)))
            .collect()
    }

    pub fn serves(&self, home: &Location, at: &Location) -> bool {
        self.accounts_or_home(home).contains(&at.account)
            && self.regions_or_home(home).contains(&at.region)
    }

    fn accounts_or_home(&self, home: &Location) -> Vec<String> {
        if self.accounts.is_empty() {
            vec![home.account.clone()]
        } else {
            self.accounts.clone()
        }
    }

    fn regions_or_home(&self, home: &Location) -> Vec<String> {
        if self.regions.is_empty() {
            vec![home.region.clone()]
        } else {
            self.regions.clone()
        }
    }
}

/// What a deployment serves, for refusing events from anywhere else.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Served {
    pub home: Location,
    pub scope: Scope,
}

impl Served {
    /// Whether `at` (None: the home location) is served.
    pub fn serves(&self, at: Option<&Location>) -> bool {
        self.scope.serves(&self.home, at.unwrap_or(&self.home))
    }

    /// The served locations in words, for an error.
    pub fn describe(&self) -> String {
        let accounts = self.scope.accounts_or_home(&self.home).join(", ");
        let regions = self.scope.regions_or_home(&self.home).join(", ");
        format!("account(s) {accounts} in region(s) {regions}")
    }
}

/// A 12-digit AWS account id.
pub fn is_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

/// A region name as AWS spells them (`us-east-1`, `us-gov-west-1`,
/// `eu-central-2`): lower-case words and a number, joined by dashes.
pub fn is_region(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() >= 3
        && parts[..parts.len() - 1]
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase()))
        && parts[parts.len() - 1]
            .parse::<u8>()
            .is_ok_and(|n| n.to_string() == parts[parts.len() - 1])
}

/// The role a member account's WorkSpaces are read through.
pub fn member_role_arn(partition: &str, account: &str, role_name: &str) -> String {
    format!("arn:{partition}:iam::{account}:role/{role_name}")
}

/// The partition a region belongs to.
pub fn partition(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else {
        "aws"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn home() -> Location {
        Location::new("123456789012", "us-east-1")
    }

    #[test]
    fn an_empty_scope_is_the_home_location_alone() {
        let scope = Scope::default();
        assert_eq!(scope.locations(&home()), [home()]);
        assert!(scope.serves(&home(), &home()));
        assert!(!scope.serves(&home(), &Location::new("123456789012", "eu-west-1")));
        assert!(!scope.serves(&home(), &Location::new("210987654321", "us-east-1")));
    }

    #[test]
    fn a_scope_serves_every_listed_account_in_every_listed_region() {
        let scope = Scope {
            accounts: vec!["111111111111".into(), "222222222222".into()],
            regions: vec!["us-east-1".into(), "eu-west-1".into()],
        };
        let locations: Vec<String> = scope
            .locations(&home())
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            locations,
            [
                "111111111111 us-east-1",
                "111111111111 eu-west-1",
                "222222222222 us-east-1",
                "222222222222 eu-west-1"
            ]
        );
        assert!(scope.serves(&home(), &Location::new("222222222222", "eu-west-1")));
        // The home account is served only when listed.
        assert!(!scope.serves(&home(), &home()));
        assert!(!scope.serves(&home(), &Location::new("111111111111", "ap-south-1")));
        // Regions alone: the home account in each.
        let regions = Scope {
            accounts: Vec::new(),
            regions: vec!["us-east-1".into(), "us-west-2".into()],
        };
        assert_eq!(regions.locations(&home()).len(), 2);
    }

    #[test]
    fn served_checks_a_location_or_the_home_location() {
        let served = Served {
            home: home(),
            scope: Scope {
                accounts: vec!["111111111111".into()],
                regions: Vec::new(),
            },
        };
        assert!(served.serves(Some(&Location::new("111111111111", "us-east-1"))));
        assert!(!served.serves(Some(&Location::new("111111111111", "eu-west-1"))));
        assert!(!served.serves(None), "home's account is not listed");
        assert_eq!(
            served.describe(),
            "account(s) 111111111111 in region(s) us-east-1"
        );
        let own = Served {
            home: home(),
            scope: Scope::default(),
        };
        assert!(own.serves(None));
        assert!(own.serves(Some(&home())));
    }

    #[test]
    fn account_ids_and_regions_are_recognised() {
        for ok in ["123456789012", "000000000001"] {
            assert!(is_account_id(ok), "{ok}");
        }
        for bad in [
            "",
            "12345678901",
            "1234567890123",
            "12345678901a",
            " 23456789012",
        ] {
            assert!(!is_account_id(bad), "{bad}");
        }
        for ok in [
            "us-east-1",
            "us-gov-west-1",
            "eu-central-2",
            "ap-southeast-10",
        ] {
            assert!(is_region(ok), "{ok}");
        }
        for bad in [
            "",
            "us-east",
            "US-EAST-1",
            "us-east-01",
            "us--1",
            "useast1",
            "us-east-1a",
        ] {
            assert!(!is_region(bad), "{bad}");
        }
    }

    #[test]
    fn member_roles_are_named_in_the_region_s_partition() {
        assert_eq!(
            member_role_arn(partition("us-gov-west-1"), "111111111111", "Member"),
            "arn:aws-us-gov:iam::111111111111:role/Member"
        );
        assert_eq!(partition("cn-north-1"), "aws-cn");
        assert_eq!(partition("eu-west-1"), "aws");
    }
}
