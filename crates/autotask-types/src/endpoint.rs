//! Where each entity lives in the REST API, as data, so one generic client serves them all.
//!
//! An [`Endpoint<E>`] names the collection path (`Resources`, `TicketWebhooks`, or a child
//! path through its parent such as `TicketWebhooks/17/Fields`), the root entity used for
//! queries of children (`TicketWebhookFields/query`), and the entity name for spans.

use std::marker::PhantomData;

use serde::Serialize;
use serde::de::DeserializeOwned;

/// A model type that Autotask serves. `ENTITY` is its singular name (for spans and errors).
pub trait Entity:
    Serialize + DeserializeOwned + Clone + std::fmt::Debug + Send + Sync + 'static
{
    /// Singular entity name for spans and errors, e.g. `Resource`.
    const ENTITY: &'static str;
}

/// Where one entity type lives: its collection path and its query root.
#[derive(Debug)]
pub struct Endpoint<E> {
    collection: String,
    query_root: String,
    name: String,
    entity: PhantomData<fn() -> E>,
}

impl<E> Clone for Endpoint<E> {
    fn clone(&self) -> Self {
        Self {
            collection: self.collection.clone(),
            query_root: self.query_root.clone(),
            name: self.name.clone(),
            entity: PhantomData,
        }
    }
}

impl<E: Entity> Endpoint<E> {
    /// A root entity collection such as `Resources`: written and queried at the same path.
    pub fn root(collection: impl Into<String>) -> Self {
        let collection = collection.into();
        Self {
            query_root: collection.clone(),
            collection,
            name: E::ENTITY.to_owned(),
            entity: PhantomData,
        }
    }

    /// A child collection written through its parent (`{parent}/{parent_id}/{child}`) and
    /// queried through its own root entity (`query_root`).
    pub fn child(parent: &str, parent_id: i64, child: &str, query_root: impl Into<String>) -> Self {
        Self {
            collection: format!("{parent}/{parent_id}/{child}"),
            query_root: query_root.into(),
            name: E::ENTITY.to_owned(),
            entity: PhantomData,
        }
    }

    /// The same endpoint under another entity name (e.g. `TicketWebhook` for a
    /// [`crate::Webhook`] of the Ticket family).
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Path of the collection, relative to `V1.0/` (create, update, get and delete go here).
    pub fn collection(&self) -> &str {
        &self.collection
    }

    /// Path of the entity for `query` and `query/count`.
    pub fn query_root(&self) -> &str {
        &self.query_root
    }

    /// Singular entity name, for spans.
    pub fn name(&self) -> &str {
        &self.name
    }
}
