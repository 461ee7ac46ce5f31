//! Reading a paged Code42 listing to its end: one rule for every listing,
//! used by the bulk snapshot and by the adapter's own listings.

use std::future::Future;

use futures::{StreamExt, TryStreamExt};

use crate::domain::model::Page;
use crate::error::Code42Error;

/// No tenant this tool serves has more: a guard against a server that never ends a listing.
pub const MAX_PAGES: usize = 10_000;

/// Pages read at once after the first (which says how many there are).
const PAGES_AT_ONCE: usize = 8;

/// Every item of a paged listing (`listing` names it in errors), collected.
pub async fn read_all<T, F, Fut>(
    listing: &str,
    page_size: usize,
    fetch: F,
) -> Result<Vec<T>, Code42Error>
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = Result<Page<T>, Code42Error>>,
{
    let mut all = Vec::new();
    read_each(listing, page_size, fetch, |items| all.extend(items)).await?;
    Ok(all)
}

/// Every page of a paged listing, handed to `sink` in order as it arrives
/// (a 200,000-user tenant is then never held twice). The first page's
/// `totalCount` gives the number of pages, and the rest are read
/// `PAGES_AT_ONCE` at a time (the client's rate limit and adaptive bound
/// still apply); a short page never ends a listing whose total says more (a
/// server may cap the page size below ours: pages are then read on until the
/// total, or an empty page). A listing that ends short of its total is an
/// error, so the caller uses no incomplete snapshot. Without a total, pages
/// are read one after another until a short one.
pub async fn read_each<T, F, Fut>(
    listing: &str,
    page_size: usize,
    fetch: F,
    mut sink: impl FnMut(Vec<T>),
) -> Result<(), Code42Error>
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = Result<Page<T>, Code42Error>>,
{
    let first = fetch(1).await?;
    let short = first.items.len() < page_size;
    let mut count = first.items.len();
    sink(first.items);
    let Some(total) = first.total else {
        if !short {
            for page in 2..=MAX_PAGES {
                let next = fetch(page).await?;
                let short = next.items.len() < page_size;
                sink(next.items);
                if short {
                    break;
                }
            }
        }
        return Ok(());
    };
    let pages = total.div_ceil(page_size.max(1)).min(MAX_PAGES);
    if count < total && pages >= 2 {
        let mut rest = futures::stream::iter(2..=pages)
            .map(&fetch)
            .buffered(PAGES_AT_ONCE);
        while let Some(next) = rest.try_next().await? {
            count += next.items.len();
            sink(next.items);
        }
    }
    let mut page = pages.max(1) + 1;
    while count < total && page <= MAX_PAGES {
        let next = fetch(page).await?;
        if next.items.is_empty() {
            break;
        }
        count += next.items.len();
        sink(next.items);
        page += 1;
    }
    if count < total {
        return Err(Code42Error::Protocol {
            method: "GET".into(),
            path: listing.into(),
            detail: format!(
                "the listing ended after {count} of the {total} items its totalCount announced; not used"
            ),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    /// A listing of `n` numbers; records the pages asked for.
    async fn listing(n: usize, size: usize, with_total: bool) -> (Vec<usize>, Vec<usize>) {
        let (all, asked) = served(n, size, size, with_total.then_some(n)).await;
        (all.unwrap(), asked)
    }

    /// A listing of `n` numbers served `served_size` a page (a server capping
    /// the page size we ask for), announcing `total`; the pages asked for.
    async fn served(
        n: usize,
        size: usize,
        served_size: usize,
        total: Option<usize>,
    ) -> (Result<Vec<usize>, Code42Error>, Vec<usize>) {
        let asked = Mutex::new(Vec::new());
        let all = read_all("/v1/test", size, |page| {
            asked.lock().unwrap().push(page);
            let items: Vec<usize> = (0..n)
                .skip((page - 1) * served_size)
                .take(served_size)
                .collect();
            async move { Ok(Page { items, total }) }
        })
        .await;
        let mut asked = asked.into_inner().unwrap();
        asked.sort_unstable();
        (all, asked)
    }

    #[tokio::test]
    async fn a_short_page_never_ends_a_listing_whose_total_says_more() {
        // The server serves 40 a page though 100 were asked for.
        let (all, asked) = served(250, 100, 40, Some(250)).await;
        assert_eq!(all.unwrap(), (0..250).collect::<Vec<_>>());
        assert_eq!(asked, (1..=7).collect::<Vec<_>>());
        // The first page alone is short of the total.
        let (all, _) = served(90, 100, 40, Some(90)).await;
        assert_eq!(all.unwrap().len(), 90);
        // Pages run out before the total: an error, never a partial snapshot.
        let (all, asked) = served(120, 100, 100, Some(150)).await;
        let err = all.unwrap_err().to_string();
        assert!(err.contains("after 120 of the 150"), "{err}");
        assert_eq!(asked, [1, 2, 3], "read on to an empty page first");
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
