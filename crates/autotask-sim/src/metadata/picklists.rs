//! Picklist values and catalogs as data: `licenseType`, `userType`, ticket status and
//! priority, the webhook `fieldID` / `udfFieldID` catalogs per family, and the error-log
//! column of each family.
//!
//! What it does not do: no entity definitions, no lookups beyond these tables.

use autotask_types::WebhookFamily;

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
pub(super) const TICKET_STATUS: &[(i64, &str)] = &[
    (1, "New"),
    (5, "Complete"),
    (8, "In Progress"),
    (13, "Waiting Customer"),
];
pub(super) const TICKET_PRIORITY: &[(i64, &str)] =
    &[(1, "High"), (2, "Medium"), (3, "Low"), (4, "Critical")];

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
