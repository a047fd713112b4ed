//! A webhook's child rows that subscribe it to something — standard fields (`fieldID`) and
//! user-defined fields (`udfFieldID`) — created, updated and deleted by one set of rules:
//! under their parent only, one row per value, values from the tenant's picklist.

use autotask_types::{WebhookField, WebhookId, WebhookUdfField};
use onboarding_steps::CallFailure;

/// What the model needs of a subscription row.
pub(crate) trait ChildRow: Clone {
    /// The picklist column, for errors (`fieldID`).
    const VALUE: &'static str;
    fn row_id(&self) -> Option<i64>;
    fn webhook(&self) -> Option<WebhookId>;
    fn value(&self) -> Option<i32>;
    fn place(&mut self, id: i64, webhook: WebhookId);
    /// Applies the flags `patch` sets.
    fn patch(&mut self, patch: &Self);
    fn subscribed(&self) -> bool;
}

impl ChildRow for WebhookField {
    const VALUE: &'static str = "fieldID";
    fn row_id(&self) -> Option<i64> {
        self.id.map(|i| i.get())
    }
    fn webhook(&self) -> Option<WebhookId> {
        self.webhook_id
    }
    fn value(&self) -> Option<i32> {
        self.field_id
    }
    fn place(&mut self, id: i64, webhook: WebhookId) {
        self.id = Some(id.into());
        self.webhook_id = Some(webhook);
    }
    fn patch(&mut self, patch: &Self) {
        self.is_subscribed_field = patch.is_subscribed_field.or(self.is_subscribed_field);
        self.is_display_always_field = patch
            .is_display_always_field
            .or(self.is_display_always_field);
    }
    fn subscribed(&self) -> bool {
        self.is_subscribed_field == Some(true)
    }
}

impl ChildRow for WebhookUdfField {
    const VALUE: &'static str = "udfFieldID";
    fn row_id(&self) -> Option<i64> {
        self.id.map(|i| i.get())
    }
    fn webhook(&self) -> Option<WebhookId> {
        self.webhook_id
    }
    fn value(&self) -> Option<i32> {
        self.udf_field_id
    }
    fn place(&mut self, id: i64, webhook: WebhookId) {
        self.id = Some(id.into());
        self.webhook_id = Some(webhook);
    }
    fn patch(&mut self, patch: &Self) {
        self.is_subscribed_field = patch.is_subscribed_field.or(self.is_subscribed_field);
        self.is_display_always_field = patch
            .is_display_always_field
            .or(self.is_display_always_field);
    }
    fn subscribed(&self) -> bool {
        self.is_subscribed_field == Some(true)
    }
}

/// Adds `row` under `parent` as row `id`, if its value is `known` and not taken there.
pub(crate) fn create<T: ChildRow>(
    rows: &mut Vec<T>,
    parent: WebhookId,
    row: &T,
    known: bool,
    id: i64,
) -> Result<Option<i64>, CallFailure> {
    let taken = rows
        .iter()
        .any(|r| r.webhook() == Some(parent) && r.value() == row.value());
    if !known || taken {
        return Err(CallFailure::Rejected {
            errors: vec![format!("invalid or duplicate {}", T::VALUE)],
        });
    }
    let mut new = row.clone();
    new.place(id, parent);
    rows.push(new);
    Ok(Some(id))
}

/// Applies `patch` to its row under `webhook`.
pub(crate) fn update<T: ChildRow>(
    rows: &mut [T],
    webhook: WebhookId,
    patch: &T,
) -> Result<Option<i64>, CallFailure> {
    let row = rows
        .iter_mut()
        .find(|r| r.row_id() == patch.row_id() && r.webhook() == Some(webhook))
        .ok_or(CallFailure::NotFound)?;
    row.patch(patch);
    Ok(row.row_id())
}

/// Removes row `id` under `webhook`.
pub(crate) fn delete<T: ChildRow>(
    rows: &mut Vec<T>,
    webhook: WebhookId,
    id: i64,
) -> Result<Option<i64>, CallFailure> {
    let before = rows.len();
    rows.retain(|r| !(r.row_id() == Some(id) && r.webhook() == Some(webhook)));
    if rows.len() == before {
        return Err(CallFailure::NotFound);
    }
    Ok(Some(id))
}

/// Whether any row under `webhook` subscribes it (what makes a webhook ready).
pub(crate) fn any_subscribed<T: ChildRow>(rows: &[T], webhook: Option<WebhookId>) -> bool {
    rows.iter()
        .any(|r| r.webhook() == webhook && r.subscribed())
}
