//! Entity metadata as data: which entities the simulator serves, where they live, which
//! operations they allow, and their fields (type, length, read-only, queryable, picklists).
//!
//! One table drives everything generic: path resolution, the 405 answers, filter and
//! `IncludeFields` validation, write validation (types, lengths, required, read-only) and the
//! `entityInformation` / `entityInformation/fields` answers. Rules specific to an entity
//! (webhook ownership, Resources admin rights, ...) live in `state`.

use std::collections::HashMap;
use std::sync::LazyLock;

use autotask_types::WebhookFamily;
use serde_json::{Value as Json, json};

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

const fn f(name: &'static str, ty: Ty) -> FieldDef {
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
    const fn req(mut self) -> Self {
        self.required = true;
        self
    }
    const fn ro(mut self) -> Self {
        self.read_only = true;
        self
    }
    const fn noquery(mut self) -> Self {
        self.queryable = false;
        self
    }
    const fn refs(mut self, entity: &'static str) -> Self {
        self.reference = Some(entity);
        self
    }
    const fn pick(mut self, p: Picklist) -> Self {
        self.picklist = Some(p);
        self
    }
    const fn hook(mut self) -> Self {
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

const READ_ONLY: Ops = Ops {
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

/// `licenseType` picklist of Resources (tenant metadata; match by label).
pub(crate) const LICENSE_TYPES: &[(i64, &str)] = &[
    (1, "Professional"),
    (2, "Team Member"),
    (3, "Time and Attendance"),
    (7, "API User (system)"),
];
/// The `licenseType` of API-only users.
pub(crate) const LICENSE_API_USER: i64 = 7;
/// The `licenseType` of ordinary users.
pub(crate) const LICENSE_PROFESSIONAL: i64 = 1;
/// `userType` picklist of Resources.
pub(crate) const USER_TYPES: &[(i64, &str)] =
    &[(1, "Employee"), (2, "Contractor"), (3, "API User")];
/// The `userType` of API-only users.
pub(crate) const USER_TYPE_API: i64 = 3;
/// The `userType` of ordinary users.
pub(crate) const USER_TYPE_EMPLOYEE: i64 = 1;
const TICKET_STATUS: &[(i64, &str)] = &[
    (1, "New"),
    (5, "Complete"),
    (8, "In Progress"),
    (13, "Waiting Customer"),
];
const TICKET_PRIORITY: &[(i64, &str)] = &[(1, "High"), (2, "Medium"), (3, "Low"), (4, "Critical")];

/// Fields a webhook of this family can subscribe to: `fieldID` picklist (value, field name).
pub(crate) fn webhook_field_catalog(family: WebhookFamily) -> &'static [(i64, &'static str)] {
    match family {
        WebhookFamily::Ticket => &[
            (2, "companyID"),
            (3, "description"),
            (4, "dueDateTime"),
            (5, "priority"),
            (6, "queueID"),
            (7, "status"),
            (8, "title"),
            (9, "ticketNumber"),
            (10, "assignedResourceID"),
        ],
        WebhookFamily::Company => &[
            (1, "companyName"),
            (2, "phone"),
            (3, "isActive"),
            (4, "companyType"),
        ],
        WebhookFamily::Contact => &[
            (1, "firstName"),
            (2, "lastName"),
            (3, "emailAddress"),
            (4, "isActive"),
        ],
        WebhookFamily::ConfigurationItem => {
            &[(1, "referenceTitle"), (2, "serialNumber"), (3, "isActive")]
        }
        WebhookFamily::TicketNote => &[
            (1, "title"),
            (2, "description"),
            (3, "noteType"),
            (4, "publish"),
        ],
    }
}

/// UDFs a webhook of this family can subscribe to: `udfFieldID` picklist (value, UDF name).
pub(crate) fn webhook_udf_catalog(family: WebhookFamily) -> &'static [(i64, &'static str)] {
    if family.has_udf_fields() {
        &[(29682901, "Sophos Tenant ID"), (29682902, "Contract Ref")]
    } else {
        &[]
    }
}

fn resources() -> EntityDef {
    use Ty::*;
    EntityDef {
        kind: Kind::Resources,
        path: "Resources".into(),
        name: "Resource".into(),
        ops: Ops {
            query: true,
            get: true,
            update: true,
            ..Ops::default()
        },
        fields: vec![
            f("id", Long).ro(),
            f("accountingReferenceID", Str(32)),
            f("dateFormat", Str(20)).req(),
            f("defaultServiceDeskRoleID", Long).noquery().refs("Role"),
            f("email", Str(50)).req(),
            f("email2", Str(50)),
            f("email3", Str(50)),
            f("emailTypeCode", Str(10)).req(),
            f("emailTypeCode2", Str(10)),
            f("emailTypeCode3", Str(10)),
            f("firstName", Str(50)).req(),
            f("gender", Str(1)),
            f("greeting", Integer),
            f("hireDate", DateTime).req(),
            f("homePhone", Str(25)),
            f("initials", Str(3)),
            f("internalCost", Double),
            f("isActive", Boolean).req(),
            f("lastName", Str(50)).req(),
            f("licenseType", Integer)
                .ro()
                .pick(Picklist::Static(LICENSE_TYPES)),
            f("locationID", Integer).req(),
            f("middleName", Str(50)),
            f("mobilePhone", Str(25)),
            f("numberFormat", Str(20)).req(),
            f("officeExtension", Str(10)),
            f("officePhone", Str(25)),
            f("payrollIdentifier", Str(32)),
            f("payrollType", Integer).req(),
            f("resourceType", Str(15)).ro(),
            f("suffix", Integer),
            f("surveyResourceRating", Double).ro(),
            f("timeFormat", Str(20)).req(),
            f("title", Str(50)),
            f("travelAvailabilityPct", Str(15)).req(),
            f("userName", Str(100)).ro(),
            f("userType", Integer)
                .ro()
                .pick(Picklist::Static(USER_TYPES)),
        ],
        has_udfs: false,
        webhook_callouts: false,
        parent_field: None,
    }
}

fn tickets() -> EntityDef {
    use Ty::*;
    EntityDef {
        kind: Kind::Tickets,
        path: "Tickets".into(),
        name: "Ticket".into(),
        ops: READ_ONLY,
        fields: vec![
            f("id", Long).ro(),
            f("ticketNumber", Str(50)).ro().hook(),
            f("title", Str(255)).req().hook(),
            f("description", Str(8000)).hook(),
            f("status", Integer)
                .req()
                .pick(Picklist::Static(TICKET_STATUS))
                .hook(),
            f("priority", Integer)
                .req()
                .pick(Picklist::Static(TICKET_PRIORITY))
                .hook(),
            f("queueID", Integer).hook(),
            f("companyID", Integer).req().refs("Company").hook(),
            f("assignedResourceID", Integer).refs("Resource").hook(),
            f("organizationalLevelAssociationID", Integer).refs("OrganizationalLevelAssociation"),
            f("dueDateTime", DateTime).hook(),
            f("createDate", DateTime).ro(),
            f("creatorResourceID", Integer).ro().refs("Resource"),
            f("lastActivityDate", DateTime).ro(),
        ],
        has_udfs: true,
        webhook_callouts: true,
        parent_field: None,
    }
}

fn org(kind: Kind, path: &str, name: &str) -> EntityDef {
    use Ty::*;
    let (ops, fields, parent_field) = match kind {
        Kind::OrgLevel1 | Kind::OrgLevel2 => (
            Ops {
                query: true,
                get: true,
                create: true,
                update: true,
                delete: false,
            },
            vec![
                f("id", Long).ro(),
                f("description", Str(500)),
                f("isActive", Boolean).req(),
                f("name", Str(100)).req(),
            ],
            None,
        ),
        Kind::OrgAssociation => (
            Ops {
                query: true,
                get: true,
                create: true,
                update: true,
                delete: false,
            },
            vec![
                f("id", Long).ro(),
                f("isActive", Boolean).req(),
                f("organizationalLevel1ID", Integer)
                    .req()
                    .refs("OrganizationalLevel1"),
                f("organizationalLevel2ID", Integer)
                    .req()
                    .refs("OrganizationalLevel2"),
            ],
            None,
        ),
        _ => (
            READ_ONLY,
            vec![
                f("id", Long).ro(),
                f("organizationalLevelAssociationID", Integer)
                    .ro()
                    .refs("OrganizationalLevelAssociation"),
                f("resourceID", Integer).ro().refs("Resource"),
            ],
            Some("organizationalLevelAssociationID"),
        ),
    };
    EntityDef {
        kind,
        path: path.into(),
        name: name.into(),
        ops,
        fields,
        has_udfs: false,
        webhook_callouts: false,
        parent_field,
    }
}

fn webhooks(family: WebhookFamily) -> EntityDef {
    use Ty::*;
    EntityDef {
        kind: Kind::Webhooks(family),
        path: family.webhooks_path().into(),
        name: family.webhook_entity().into(),
        ops: Ops {
            query: true,
            get: true,
            create: true,
            update: true,
            delete: true,
        },
        fields: vec![
            f("id", Long).ro(),
            f("deactivationUrl", Str(500)).req(),
            f("isActive", Boolean).req(),
            f("isReady", Boolean).ro(),
            f("isSubscribedToCreateEvents", Boolean),
            f("isSubscribedToDeleteEvents", Boolean),
            f("isSubscribedToUpdateEvents", Boolean),
            f("name", Str(50)).req(),
            f("notificationEmailAddress", Str(150)),
            f("ownerResourceID", Integer).ro().refs("Resource"),
            f("secretKey", Str(64)).req(),
            f("sendThresholdExceededNotification", Boolean),
            f("webhookGUID", Str(100)).ro(),
            f("webhookUrl", Str(500)).req(),
        ],
        has_udfs: false,
        webhook_callouts: false,
        parent_field: None,
    }
}

/// The column of a family's webhook id in `WebhookEventErrorLogs`. The 2020 contract has
/// `accountWebhookID` and `contactWebhookID`; the other three follow the same pattern
/// (an assumption: their names are not in the contract files).
pub(crate) fn error_log_column(family: WebhookFamily) -> &'static str {
    match family {
        WebhookFamily::Company => "accountWebhookID",
        WebhookFamily::Contact => "contactWebhookID",
        WebhookFamily::ConfigurationItem => "configurationItemWebhookID",
        WebhookFamily::Ticket => "ticketWebhookID",
        WebhookFamily::TicketNote => "ticketNoteWebhookID",
    }
}

fn webhook_error_logs() -> EntityDef {
    use Ty::*;
    let mut fields = vec![f("id", Long).ro()];
    for family in WebhookFamily::ALL {
        fields.push(
            f(error_log_column(family), Integer)
                .ro()
                .refs(family.webhook_entity()),
        );
    }
    fields.extend([
        f("createDateTime", DateTime).ro(),
        f("errorMessage", Str(8000)).ro(),
        f("payload", Str(32000)).ro(),
        f("sequenceNumber", Integer).ro(),
    ]);
    EntityDef {
        kind: Kind::WebhookErrorLogs,
        path: "WebhookEventErrorLogs".into(),
        name: "WebhookEventErrorLog".into(),
        ops: Ops {
            query: true,
            get: true,
            create: false,
            update: false,
            delete: true,
        },
        fields,
        has_udfs: false,
        webhook_callouts: false,
        parent_field: None,
    }
}

fn webhook_child(kind: Kind, family: WebhookFamily) -> EntityDef {
    use Ty::*;
    let entity = family.webhook_entity();
    let (suffix, ops, mut fields) = match kind {
        Kind::WebhookFields(_) => (
            "Field",
            Ops {
                query: true,
                get: true,
                create: true,
                update: true,
                delete: true,
            },
            vec![
                f("fieldID", Integer)
                    .req()
                    .pick(Picklist::WebhookFields(family)),
                f("isDisplayAlwaysField", Boolean),
                f("isSubscribedField", Boolean),
            ],
        ),
        Kind::WebhookUdfFields(_) => (
            "UdfField",
            Ops {
                query: true,
                get: true,
                create: true,
                update: true,
                delete: true,
            },
            vec![
                f("udfFieldID", Integer)
                    .req()
                    .pick(Picklist::WebhookUdfFields(family)),
                f("isDisplayAlwaysField", Boolean),
                f("isSubscribedField", Boolean),
            ],
        ),
        _ => (
            "ExcludedResource",
            Ops {
                query: true,
                get: true,
                create: true,
                update: false,
                delete: true,
            },
            vec![f("resourceID", Integer).req().refs("Resource")],
        ),
    };
    fields.insert(0, f("id", Long).ro());
    fields.push(f("webhookID", Integer).ro().refs(entity));
    EntityDef {
        kind,
        path: format!("{entity}{suffix}s"),
        name: format!("{entity}{suffix}"),
        ops,
        fields,
        has_udfs: false,
        webhook_callouts: false,
        parent_field: Some("webhookID"),
    }
}

/// All entity definitions, with a lowercase path index.
pub(crate) struct Registry {
    defs: Vec<EntityDef>,
    by_path: HashMap<String, usize>,
    by_kind: HashMap<Kind, usize>,
}

impl Registry {
    fn build() -> Self {
        let mut defs = vec![
            resources(),
            tickets(),
            org(
                Kind::OrgLevel1,
                "OrganizationalLevel1s",
                "OrganizationalLevel1",
            ),
            org(
                Kind::OrgLevel2,
                "OrganizationalLevel2s",
                "OrganizationalLevel2",
            ),
            org(
                Kind::OrgAssociation,
                "OrganizationalLevelAssociations",
                "OrganizationalLevelAssociation",
            ),
            org(
                Kind::OrgResources,
                "OrganizationalResources",
                "OrganizationalResource",
            ),
            webhook_error_logs(),
        ];
        for family in WebhookFamily::ALL {
            defs.push(webhooks(family));
            defs.push(webhook_child(Kind::WebhookFields(family), family));
            if family.has_udf_fields() {
                defs.push(webhook_child(Kind::WebhookUdfFields(family), family));
            }
            defs.push(webhook_child(Kind::WebhookExcluded(family), family));
        }
        let by_path = defs
            .iter()
            .enumerate()
            .map(|(i, d)| (d.path.to_ascii_lowercase(), i))
            .collect();
        let by_kind = defs.iter().enumerate().map(|(i, d)| (d.kind, i)).collect();
        Self {
            defs,
            by_path,
            by_kind,
        }
    }

    /// The entity at root path `path` (case-insensitive).
    pub(crate) fn by_path(&self, path: &str) -> Option<&EntityDef> {
        self.by_path
            .get(&path.to_ascii_lowercase())
            .map(|&i| &self.defs[i])
    }

    /// The entity of `kind`.
    pub(crate) fn get(&self, kind: Kind) -> &EntityDef {
        &self.defs[self.by_kind[&kind]]
    }

    /// The child collection `child` under a parent entity (`Fields`, `UdfFields`,
    /// `ExcludedResources` under webhooks; `Resources` under associations).
    pub(crate) fn child(&self, parent: Kind, child: &str) -> Option<&EntityDef> {
        let c = child.to_ascii_lowercase();
        let kind = match (parent, c.as_str()) {
            (Kind::Webhooks(f), "fields") => Kind::WebhookFields(f),
            (Kind::Webhooks(f), "udffields") if f.has_udf_fields() => Kind::WebhookUdfFields(f),
            (Kind::Webhooks(f), "excludedresources") => Kind::WebhookExcluded(f),
            (Kind::OrgAssociation, "resources") => Kind::OrgResources,
            _ => return None,
        };
        Some(self.get(kind))
    }

    /// Every definition.
    pub(crate) fn all(&self) -> &[EntityDef] {
        &self.defs
    }
}

/// The process-wide registry (immutable metadata).
pub(crate) fn registry() -> &'static Registry {
    static REGISTRY: LazyLock<Registry> = LazyLock::new(Registry::build);
    &REGISTRY
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_resolve_case_insensitively_and_children_follow_their_parent() {
        let r = registry();
        assert_eq!(r.by_path("resources").unwrap().kind, Kind::Resources);
        let hooks = r.by_path("TICKETWEBHOOKS").unwrap();
        assert_eq!(
            r.child(hooks.kind, "fields").unwrap().path,
            "TicketWebhookFields"
        );
        let note_hooks = r.by_path("TicketNoteWebhooks").unwrap();
        assert!(r.child(note_hooks.kind, "UdfFields").is_none());
        assert!(r.by_path("TicketNoteWebhookUdfFields").is_none());
    }

    #[test]
    fn resources_cannot_be_created_or_deleted() {
        let d = registry().get(Kind::Resources);
        assert!(!d.ops.create && !d.ops.delete && d.ops.update && d.ops.query);
    }
}
