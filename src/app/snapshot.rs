//! Bulk reads for large fleet runs: every Code42 user and active agent, read
//! in pages once and indexed in memory, so a plan of N WorkSpaces costs about
//! N/100 + N/500 calls instead of 2N. Used by read-only planning passes only;
//! the apply pass always reads each user afresh.

use std::collections::HashMap;

use std::future::Future;

use futures::{StreamExt, TryStreamExt};

use crate::domain::model::{Code42Agent, Code42User, Page};
use crate::error::Code42Error;
use crate::ports::Code42;

/// No tenant this tool serves has more: a guard against a server that never ends a listing.
const MAX_PAGES: usize = 10_000;

#[derive(Debug, Default)]
pub struct Code42Snapshot {
    /// Lower-cased username -> user.
    users: HashMap<String, Code42User>,
    /// User id -> active agents.
    agents: HashMap<String, Vec<Code42Agent>>,
}

/// Pages read at once after the first (which says how many there are).
const PAGES_AT_ONCE: usize = 8;

/// Every item of a paged listing. The first page's `totalCount` gives the
/// number of pages, and the rest are read `PAGES_AT_ONCE` at a time (the
/// client's rate limit and adaptive bound still apply); without a total,
/// pages are read one after another until a short one.
pub async fn read_all<T, F, Fut>(page_size: usize, fetch: F) -> Result<Vec<T>, Code42Error>
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = Result<Page<T>, Code42Error>>,
{
    let first = fetch(1).await?;
    let short = first.items.len() < page_size;
    let mut all = first.items;
    if short {
        return Ok(all);
    }
    match first.total {
        Some(total) => {
            let pages = total.div_ceil(page_size.max(1)).min(MAX_PAGES);
            let rest: Vec<Page<T>> = futures::stream::iter(2..=pages)
                .map(&fetch)
                .buffered(PAGES_AT_ONCE)
                .try_collect()
                .await?;
            all.extend(rest.into_iter().flat_map(|p| p.items));
        }
        None => {
            for page in 2..=MAX_PAGES {
                let next = fetch(page).await?;
                let short = next.items.len() < page_size;
                all.extend(next.items);
                if short {
                    break;
                }
            }
        }
    }
    Ok(all)
}

/// Every Code42 user.
pub async fn read_users(
    code42: &impl Code42,
    page_size: usize,
) -> Result<Vec<Code42User>, Code42Error> {
    read_all(page_size, |page| code42.list_users_page(page, page_size)).await
}

impl Code42Snapshot {
    pub async fn read(
        code42: &impl Code42,
        users_page_size: usize,
        agents_page_size: usize,
    ) -> Result<Self, Code42Error> {
        let mut snapshot = Self::default();
        for user in read_users(code42, users_page_size).await? {
            snapshot.users.insert(user.username.to_lowercase(), user);
        }
        let agents = read_all(agents_page_size, |page| {
            code42.list_agents_page(page, agents_page_size)
        })
        .await?;
        for (user_id, agent) in agents.into_iter().filter(|(_, a)| a.active) {
            snapshot.agents.entry(user_id).or_default().push(agent);
        }
        tracing::info!(
            users = snapshot.users.len(),
            users_with_agents = snapshot.agents.len(),
            "read Code42 users and agents in bulk"
        );
        Ok(snapshot)
    }

    /// Exact, case-insensitive; None when the user was not in the snapshot.
    pub fn user(&self, username: &str) -> Option<&Code42User> {
        self.users.get(&username.to_lowercase())
    }

    /// The user's active agents as of the snapshot.
    pub fn agents(&self, user_id: &str) -> Vec<Code42Agent> {
        self.agents.get(user_id).cloned().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    /// A listing of `n` numbers; records the pages asked for.
    async fn listing(n: usize, size: usize, with_total: bool) -> (Vec<usize>, Vec<usize>) {
        let asked = Mutex::new(Vec::new());
        let all = read_all(size, |page| {
            asked.lock().unwrap().push(page);
            let items: Vec<usize> = (0..n).skip((page - 1) * size).take(size).collect();
            async move {
                Ok(Page {
                    items,
                    total: with_total.then_some(n),
                })
            }
        })
        .await
        .unwrap();
        let mut asked = asked.into_inner().unwrap();
        asked.sort_unstable();
        (all, asked)
    }

    #[tokio::test]
    async fn with_a_total_exactly_the_pages_it_implies_are_read_in_order() {
        let (all, asked) = listing(2_001, 100, true).await;
        assert_eq!(all, (0..2_001).collect::<Vec<_>>());
        assert_eq!(asked, (1..=21).collect::<Vec<_>>());
        let (all, asked) = listing(2_000, 100, true).await;
        assert_eq!(all.len(), 2_000);
        assert_eq!(asked.len(), 20, "no empty page after a full last page");
    }

    #[tokio::test]
    async fn without_a_total_pages_are_read_until_a_short_one() {
        let (all, asked) = listing(250, 100, false).await;
        assert_eq!(all, (0..250).collect::<Vec<_>>());
        assert_eq!(asked, [1, 2, 3]);
        let (all, asked) = listing(30, 100, true).await;
        assert_eq!((all.len(), asked), (30, vec![1]));
    }
}
