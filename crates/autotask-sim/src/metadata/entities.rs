//! The entities the simulator serves, as data (Resources, Tickets, the organizational
//! levels, the five webhook families with their children, `WebhookEventErrorLogs`), and the
//! process-wide [`Registry`] that finds them by path, kind or parent.
//!
//! What it does not do: no behaviour; rules specific to an entity live in `state`.

use std::collections::HashMap;
use std::sync::LazyLock;

use autotask_types::WebhookFamily;

use super::model::{EntityDef, Kind, Ops, Picklist, READ_ONLY, Ty, f};
use super::picklists::{
    LICENSE_TYPES, TICKET_PRIORITY, TICKET_STATUS, USER_TYPES, error_log_column,
};

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
