//! The org's device defaults: the console's whole org object, read with
//! its settings and inheritance and written back whole (reference §5b; its
//! shape is handled by `domain::backup::OrgObject`).

use reqwest::Method;

use crate::domain::backup::OrgObject;
use crate::error::Code42Error;

use super::Code42Session;

impl Code42Session<'_> {
    pub(super) async fn org_object(&self, legacy_org_id: i64) -> Result<OrgObject, Code42Error> {
        // py42's query for the org's settings and device defaults.
        let value = self
            .get_json(
                true,
                &["api", "v1", "Org", &legacy_org_id.to_string()],
                &[
                    ("incSettings", "true".to_string()),
                    ("incDeviceDefaults", "true".to_string()),
                    ("incInheritedOrgInfo", "true".to_string()),
                ],
            )
            .await?;
        Ok(OrgObject::from_wire(value))
    }

    pub(super) async fn put_org(
        &self,
        legacy_org_id: i64,
        org: &OrgObject,
    ) -> Result<(), Code42Error> {
        self.call(
            Method::PUT,
            true,
            &["api", "v1", "Org", &legacy_org_id.to_string()],
            &[],
            Some(&org.to_wire()),
        )
        .await
        .map(|_| ())
    }
}
