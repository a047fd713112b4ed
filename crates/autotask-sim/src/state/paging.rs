//! Query paging: where a page starts, what a page holds, and the queries remembered for
//! `query/next` calls that come without a body (the last 10,000).
//!
//! What it does not do: no matching or visibility (that is `query`), no URLs (the REST
//! layer builds `nextPageUrl` / `prevPageUrl`).

use std::collections::{HashMap, VecDeque};

use autotask_types::Query;
use serde_json::Value as Json;

/// How many queries are remembered for body-less `query/next` calls.
const REMEMBERED: usize = 10_000;

/// Where a query page starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cursor {
    /// Rows with a larger id (the next page).
    After(i64),
    /// Rows with a smaller id (the previous page).
    Before(i64),
}

/// One page of a query.
#[derive(Debug)]
pub(crate) struct QueryPage {
    pub(crate) rows: Vec<Json>,
    /// The first id of this page, when rows come before it.
    pub(crate) prev: Option<i64>,
    /// The last id of this page, when rows come after it.
    pub(crate) next: Option<i64>,
}

/// Queries by paging token, oldest forgotten first.
#[derive(Debug)]
pub(crate) struct RememberedQueries {
    queries: HashMap<u64, Query>,
    order: VecDeque<u64>,
    next: u64,
}

impl Default for RememberedQueries {
    fn default() -> Self {
        Self {
            queries: HashMap::new(),
            order: VecDeque::new(),
            next: 1,
        }
    }
}

impl RememberedQueries {
    /// Remembers a query; returns its token.
    pub(crate) fn remember(&mut self, query: Query) -> u64 {
        let token = self.next;
        self.next += 1;
        self.queries.insert(token, query);
        self.order.push_back(token);
        while self.order.len() > REMEMBERED {
            if let Some(old) = self.order.pop_front() {
                self.queries.remove(&old);
            }
        }
        token
    }

    /// The query of `token`, unless forgotten.
    pub(crate) fn get(&self, token: u64) -> Option<&Query> {
        self.queries.get(&token)
    }
}
