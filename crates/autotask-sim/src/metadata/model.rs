//! The shape of entity metadata: entity kinds, field types, picklist sources, field and
//! entity definitions, and the `entityInformation` documents they produce.
//!
//! What it does not do: it names no concrete entity (that is `entities`) and holds no
//! picklist values (that is `picklists`).

use autotask_types::WebhookFamily;
use serde_json::{Value as Json, json};

use super::picklists::{webhook_field_catalog, webhook_udf_catalog};
use crate::behaviour::{AccessLevels, Behaviour, CapabilityFlags, UnsetProperties};

/// The caller's own rights on an entity (what `userAccessFor*` describe).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Rights {
    pub(crate) create: bool,
    pub(crate) update: bool,
    pub(crate) delete: bool,
}

/// An unset list property: `[]` or `null`.
fn unset_list(unset: UnsetProperties) -> Json {
    match unset {
        UnsetProperties::Empty => json!([]),
        UnsetProperties::Null => Json::Null,
    }
}

/// An unset string property: `""` or `null`.
fn unset_str(unset: UnsetProperties) -> Json {
    match unset {
        UnsetProperties::Empty => json!(""),
        UnsetProperties::Null => Json::Null,
    }
}

/// The kind of entity a table holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Kind {
    Resources,
    Tickets,
    OrgLevel1,
    OrgLevel2,
    OrgAssociation,
    OrgResources,
    Webhooks(WebhookFamily),
    WebhookFields(WebhookFamily),
    WebhookUdfFields(WebhookFamily),
    WebhookExcluded(WebhookFamily),
    WebhookErrorLogs,
}

impl Kind {
    /// The family of a webhook or webhook child.
    pub(crate) fn family(self) -> Option<WebhookFamily> {
        match self {
            Self::Webhooks(f)
            | Self::WebhookFields(f)
            | Self::WebhookUdfFields(f)
            | Self::WebhookExcluded(f) => Some(f),
            _ => None,
        }
    }
}

/// A field's data type as `entityInformation/fields` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ty {
    Integer,
    Long,
    Boolean,
    Str(u32),
    DateTime,
    Double,
}

impl Ty {
    fn name(self) -> &'static str {
        match self {
            Self::Integer => "integer",
            Self::Long => "long",
            Self::Boolean => "boolean",
            Self::Str(_) => "string",
            Self::DateTime => "datetime",
            Self::Double => "double",
        }
    }
}

/// Where a picklist's values come from.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Picklist {
    Static(&'static [(i64, &'static str)]),
    WebhookFields(WebhookFamily),
    WebhookUdfFields(WebhookFamily),
}

impl Picklist {
    pub(crate) fn values(self) -> &'static [(i64, &'static str)] {
        match self {
            Self::Static(v) => v,
            Self::WebhookFields(f) => webhook_field_catalog(f),
            Self::WebhookUdfFields(f) => webhook_udf_catalog(f),
        }
    }
}

/// One field of an entity.
#[derive(Debug, Clone)]
pub(crate) struct FieldDef {
    pub(crate) name: &'static str,
    pub(crate) ty: Ty,
    pub(crate) required: bool,
    pub(crate) read_only: bool,
    pub(crate) queryable: bool,
    pub(crate) reference: Option<&'static str>,
    pub(crate) picklist: Option<Picklist>,
    pub(crate) webhook_field: bool,
}

pub(super) const fn f(name: &'static str, ty: Ty) -> FieldDef {
    FieldDef {
        name,
        ty,
        required: false,
        read_only: false,
        queryable: true,
        reference: None,
        picklist: None,
        webhook_field: false,
    }
}

impl FieldDef {
    pub(super) const fn req(mut self) -> Self {
        self.required = true;
        self
    }
    pub(super) const fn ro(mut self) -> Self {
        self.read_only = true;
        self
    }
    pub(super) const fn noquery(mut self) -> Self {
        self.queryable = false;
        self
    }
    pub(super) const fn refs(mut self, entity: &'static str) -> Self {
        self.reference = Some(entity);
        self
    }
    pub(super) const fn pick(mut self, p: Picklist) -> Self {
        self.picklist = Some(p);
        self
    }
    pub(super) const fn hook(mut self) -> Self {
        self.webhook_field = true;
        self
    }
}

/// Which operations an entity supports (anything else is a 405).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Ops {
    pub(crate) query: bool,
    pub(crate) get: bool,
    pub(crate) create: bool,
    pub(crate) update: bool,
    pub(crate) delete: bool,
}

pub(super) const READ_ONLY: Ops = Ops {
    query: true,
    get: true,
    create: false,
    update: false,
    delete: false,
};

/// An entity: its collection path, singular name, operations and fields.
#[derive(Debug)]
pub(crate) struct EntityDef {
    pub(crate) kind: Kind,
    /// Root collection path, e.g. `TicketWebhookFields`.
    pub(crate) path: String,
    /// Singular name, e.g. `TicketWebhookField`.
    pub(crate) name: String,
    pub(crate) ops: Ops,
    pub(crate) fields: Vec<FieldDef>,
    pub(crate) has_udfs: bool,
    pub(crate) webhook_callouts: bool,
    /// For children: the field naming the parent, e.g. `webhookID`.
    pub(crate) parent_field: Option<&'static str>,
}

impl EntityDef {
    /// The field named `name`, case-insensitively.
    pub(crate) fn field(&self, name: &str) -> Option<&FieldDef> {
        self.fields
            .iter()
            .find(|f| f.name.eq_ignore_ascii_case(name))
    }

    /// The `entityInformation` answer for a caller with `rights`, shaped by the behaviour
    /// knobs `capability_flags` and `access_levels`.
    pub(crate) fn info(&self, rights: Rights, behaviour: Behaviour) -> Json {
        let by_caller = behaviour.capability_flags == CapabilityFlags::Caller;
        let access = |supported: bool, right: bool| match behaviour.access_levels {
            AccessLevels::Object => json!({}),
            AccessLevels::String if supported && right => json!("All"),
            AccessLevels::String => json!("None"),
        };
        json!({ "info": {
            "name": self.name,
            "canCreate": self.ops.create && (rights.create || !by_caller),
            "canDelete": self.ops.delete && (rights.delete || !by_caller),
            "canQuery": self.ops.query,
            "canUpdate": self.ops.update && (rights.update || !by_caller),
            "userAccessForCreate": access(self.ops.create, rights.create),
            "userAccessForDelete": access(self.ops.delete, rights.delete),
            "userAccessForQuery": access(self.ops.query, true),
            "userAccessForUpdate": access(self.ops.update, rights.update),
            "hasUserDefinedFields": self.has_udfs,
            "supportsWebhookCallouts": self.webhook_callouts,
        }})
    }

    /// The `entityInformation/fields` answer; unset properties as `unset` says.
    pub(crate) fn fields_info(&self, unset: UnsetProperties) -> Json {
        let fields: Vec<Json> = self
            .fields
            .iter()
            .map(|fd| {
                let picklist: Json = fd
                    .picklist
                    .map(|p| {
                        p.values()
                            .iter()
                            .enumerate()
                            .map(|(i, (v, label))| {
                                json!({
                                    "value": v.to_string(),
                                    "label": label,
                                    "isDefaultValue": false,
                                    "sortOrder": i,
                                    "parentValue": unset_str(unset),
                                    "isActive": true,
                                    "isSystem": true,
                                })
                            })
                            .collect()
                    })
                    .unwrap_or_else(|| unset_list(unset));
                json!({
                    "name": fd.name,
                    "dataType": fd.ty.name(),
                    "length": match fd.ty { Ty::Str(n) => n, _ => 0 },
                    "isRequired": fd.required,
                    "isReadOnly": fd.read_only,
                    "isQueryable": fd.queryable,
                    "isReference": fd.reference.is_some(),
                    "referenceEntityType": fd.reference.map_or_else(|| unset_str(unset), |r| json!(r)),
                    "isPickList": fd.picklist.is_some(),
                    "picklistValues": picklist,
                    "picklistParentValueField": unset_str(unset),
                    "isSupportedWebhookField": fd.webhook_field,
                })
            })
            .collect();
        json!({ "fields": fields })
    }

    /// The `entityInformation/userDefinedFields` answer; unset properties as `unset` says.
    pub(crate) fn udf_info(&self, unset: UnsetProperties) -> Json {
        let fields: Vec<Json> = if self.has_udfs {
            self.kind
                .family()
                .or(match self.kind {
                    Kind::Tickets => Some(WebhookFamily::Ticket),
                    _ => None,
                })
                .map(webhook_udf_catalog)
                .unwrap_or_default()
                .iter()
                .map(|(_, name)| {
                    json!({
                        "name": name, "label": name, "type": "string", "length": 100,
                        "description": unset_str(unset), "isRequired": false,
                        "isReadOnly": false, "isQueryable": true, "isReference": false,
                        "referenceEntityType": unset_str(unset), "isPickList": false,
                        "picklistValues": unset_list(unset),
                        "picklistParentValueField": unset_str(unset),
                        "defaultValue": unset_str(unset), "isSupportedWebhookField": true,
                    })
                })
                .collect()
        } else {
            Vec::new()
        };
        json!({ "fields": fields })
    }
}
