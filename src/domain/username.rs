//! Map a WorkSpaces user to a Code42 username.
//!
//! Identity Center and Entra directories already give a UPN (`jane@corp.com`):
//! used as is. AD users are bare `sAMAccountName`s, so by default the username
//! becomes `{user}@{directory_name}`; because the UPN suffix often differs from
//! the directory's DNS name, both a template and a fixed domain are configurable.

/// Placeholders a template may use.
pub const PLACEHOLDERS: [&str; 4] = ["{user}", "{directory_name}", "{directory_id}", "{domain}"];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsernameMapping {
    template: String,
    domain: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MappingError {
    #[error(
        "the username template uses {{directory_name}} but directory {0} has no DNS name in WorkSpaces (IAM Identity Center and Entra ID directories often have none): set CODE42_USERNAME_DOMAIN or CODE42_USERNAME_TEMPLATE"
    )]
    NoDirectoryName(String),
    #[error("the WorkSpace has no user name")]
    NoUser,
}

impl UsernameMapping {
    pub const DEFAULT_TEMPLATE: &'static str = "{user}@{directory_name}";

    /// `template` defaults to `{user}@{domain}` when only a domain is given,
    /// else to `{user}@{directory_name}`.
    pub fn new(template: Option<String>, domain: Option<String>) -> Result<Self, String> {
        let template = match (template, &domain) {
            (Some(t), _) => t,
            (None, Some(_)) => "{user}@{domain}".to_string(),
            (None, None) => Self::DEFAULT_TEMPLATE.to_string(),
        };
        if !template.contains("{user}") {
            return Err("must contain {user}".to_string());
        }
        let mut rest = template.clone();
        for p in PLACEHOLDERS {
            rest = rest.replace(p, "");
        }
        if rest.contains('{') || rest.contains('}') {
            return Err(format!(
                "unknown placeholder; allowed: {}",
                PLACEHOLDERS.join(", ")
            ));
        }
        if template.contains("{domain}") && domain.is_none() {
            return Err("uses {domain} but CODE42_USERNAME_DOMAIN is not set".to_string());
        }
        Ok(Self { template, domain })
    }

    /// Whether mapping `user` needs the directory's DNS name (a UPN is used as is).
    pub fn needs_directory_name(&self, user: &str) -> bool {
        self.template.contains("{directory_name}") && !user.contains('@')
    }

    pub fn map(
        &self,
        user: &str,
        directory_id: &str,
        directory_name: Option<&str>,
    ) -> Result<String, MappingError> {
        let user = user.trim();
        if user.is_empty() {
            return Err(MappingError::NoUser);
        }
        if user.contains('@') {
            return Ok(user.to_string());
        }
        let mut out = self.template.replace("{user}", user);
        out = out.replace("{directory_id}", directory_id);
        if let Some(domain) = &self.domain {
            out = out.replace("{domain}", domain);
        }
        if out.contains("{directory_name}") {
            let name = directory_name
                .filter(|n| !n.is_empty())
                .ok_or_else(|| MappingError::NoDirectoryName(directory_id.to_string()))?;
            out = out.replace("{directory_name}", name);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_user_at_directory_dns_name() {
        let m = UsernameMapping::new(None, None).unwrap();
        assert_eq!(
            m.map("asmith", "d-12345678", Some("corp.example.com"))
                .unwrap(),
            "asmith@corp.example.com"
        );
        assert!(m.needs_directory_name("asmith"));
        assert!(!m.needs_directory_name("asmith@corp.example.com"));
    }

    #[test]
    fn upn_user_names_are_used_as_is() {
        let m = UsernameMapping::new(None, Some("example.com".into())).unwrap();
        assert_eq!(
            m.map("Jane@Corp.com", "d-12345678", None).unwrap(),
            "Jane@Corp.com"
        );
    }

    #[test]
    fn fixed_domain_replaces_directory_name() {
        let m = UsernameMapping::new(None, Some("example.com".into())).unwrap();
        assert_eq!(
            m.map("asmith", "d-12345678", None).unwrap(),
            "asmith@example.com"
        );
        assert!(!m.needs_directory_name("asmith"));
    }

    #[test]
    fn custom_template() {
        let m =
            UsernameMapping::new(Some("ws.{user}@{domain}".into()), Some("x.io".into())).unwrap();
        assert_eq!(m.map("bob", "d-12345678", None).unwrap(), "ws.bob@x.io");
    }

    #[test]
    fn rejects_bad_templates() {
        assert!(UsernameMapping::new(Some("{name}@x".into()), None).is_err());
        assert!(UsernameMapping::new(Some("fixed@x".into()), None).is_err());
        assert!(UsernameMapping::new(Some("{user}@{domain}".into()), None).is_err());
    }

    #[test]
    fn missing_directory_name_or_user_is_an_error() {
        let m = UsernameMapping::new(None, None).unwrap();
        assert_eq!(
            m.map("asmith", "d-12345678", None),
            Err(MappingError::NoDirectoryName("d-12345678".into()))
        );
        assert_eq!(
            m.map("  ", "d-12345678", Some("x")),
            Err(MappingError::NoUser)
        );
    }
}
