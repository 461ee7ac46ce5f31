//! Users: the exact lookup by username, reads, the move, the bulk listing.

use reqwest::Method;
use serde_json::json;

use crate::domain::model::{Code42User, Page};
use crate::error::Code42Error;
use crate::ports::Code42Users;
use crate::ports::paging::read_all;

use super::Code42Session;
use super::transport::from_value;
use super::wire::{UserDto, UsersPage};

impl Code42Session<'_> {
    /// One page of `/v1/users`, filtered by `username` when given.
    async fn users_page(
        &self,
        username: Option<&str>,
        page: usize,
        page_size: usize,
    ) -> Result<Page<Code42User>, Code42Error> {
        let mut query = vec![
            ("page", page.to_string()),
            ("pageSize", page_size.to_string()),
        ];
        if let Some(name) = username {
            query.insert(0, ("username", name.to_string()));
        }
        let value = self.get_json(false, &["v1", "users"], &query).await?;
        let users: UsersPage = from_value(&Method::GET, "/v1/users", value)?;
        Ok(Page {
            items: users.users.into_iter().map(Into::into).collect(),
            total: users.total_count,
        })
    }
}

impl Code42Users for Code42Session<'_> {
    async fn find_user(&self, username: &str) -> Result<Option<Code42User>, Code42Error> {
        // The server-side filter is not an exact match: read it all and compare ourselves.
        let size = self.client.users_page_size;
        let found = read_all("/v1/users", size, |page| {
            self.users_page(Some(username), page, size)
        })
        .await?;
        Ok(found
            .into_iter()
            .find(|u| u.username.eq_ignore_ascii_case(username)))
    }

    async fn get_user(&self, user_id: &str) -> Result<Code42User, Code42Error> {
        let value = self.get_json(false, &["v1", "users", user_id], &[]).await?;
        let user: UserDto = from_value(&Method::GET, "/v1/users/{userId}", value)?;
        Ok(user.into())
    }

    async fn move_user(&self, user_id: &str, org_guid: &str) -> Result<(), Code42Error> {
        self.call(
            Method::POST,
            false,
            &["v1", "users", user_id, "move"],
            &[],
            Some(&json!({ "orgGuid": org_guid })),
        )
        .await
        .map(|_| ())
    }

    async fn list_users_page(
        &self,
        page: usize,
        page_size: usize,
    ) -> Result<Page<Code42User>, Code42Error> {
        self.users_page(None, page, page_size).await
    }
}
