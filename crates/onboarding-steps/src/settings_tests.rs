//! Tests of `settings`: decoding, defaults, validation messages, URL rules.

use super::*;

fn err(s: &TenantSettings) -> String {
    s.validate().unwrap_err().to_string()
}

#[test]
fn defaults_from_minimal_json() {
    let s: TenantSettings =
        serde_json::from_str(r#"{"webhook_url_base":"https://hooks.example.com/at"}"#).unwrap();
    assert_eq!(s, TenantSettings::new("https://hooks.example.com/at"));
    s.validate().unwrap();
    assert_eq!(
        s.lines_of_business
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
        ["General > IT Services", "General > Software Development"]
    );
    assert_eq!(s.families().collect::<Vec<_>>(), [WebhookFamily::Ticket]);
    assert_eq!(s.operator_deadline(), Duration::from_secs(7 * 86400));
    assert!(!s.deactivate_previous_user);
}

#[test]
fn deactivation_urls_use_the_configured_base() {
    let mut s = TenantSettings::new("https://hooks.example.com/at");
    let user = ResourceId::new(29682885);
    assert_eq!(
        s.deactivation_url("acme", user, WebhookFamily::Ticket),
        "https://hooks.example.com/at/acme/29682885/ticket/deactivated"
    );
    s.deactivation_url_base = Some("https://onboard.example.com/callouts/deactivated/".into());
    s.validate().unwrap();
    assert_eq!(
        s.deactivation_url("acme", user, WebhookFamily::Ticket),
        "https://onboard.example.com/callouts/deactivated/acme/29682885/ticket"
    );
    s.deactivation_url_base = Some("http://127.0.0.1:8080/callouts/deactivated".into());
    s.validate().unwrap();
    for (bad, why) in [
        ("http://onboard.example.com/x", "http:// only on 127.0.0.1"),
        ("ftp://x", "must be an https:// URL"),
        ("https:///x", "must name a host"),
        ("https://x/y?z", "must not contain a query"),
    ] {
        s.deactivation_url_base = Some(bad.into());
        let e = err(&s);
        assert!(
            e.starts_with("invalid setting `deactivation_url_base`"),
            "{e}"
        );
        assert!(e.contains(why), "{bad}: {e}");
    }
}

#[test]
fn validation_names_the_field() {
    let ok = TenantSettings::new("https://hooks.example.com");
    let mut s = ok.clone();
    s.webhook_url_base = "http://hooks.example.com".into();
    assert_eq!(
        err(&s),
        "invalid setting `webhook_url_base`: must be an https:// URL (Autotask posts to port 443 only)"
    );
    let mut s = ok.clone();
    s.webhook_families[0].subscribed_fields.clear();
    assert!(err(&s).starts_with("invalid setting `webhook_families[0].subscribed_fields`"));
    let mut s = ok.clone();
    s.webhook_families.push(s.webhook_families[0].clone());
    assert!(err(&s).starts_with("invalid setting `webhook_families[1].family`"));
    let mut s = ok.clone();
    s.notification_email = Some("nobody".into());
    assert!(err(&s).starts_with("invalid setting `notification_email`"));
    let mut s = ok.clone();
    s.lines_of_business[1].level2 = " ".into();
    assert!(err(&s).starts_with("invalid setting `lines_of_business[1].level2`"));
    let mut s = ok.clone();
    s.budget_pause_ratio = 1.5;
    assert!(err(&s).starts_with("invalid setting `budget_pause_ratio`"));
    let mut s = ok;
    let whole: TenantSettings = serde_json::from_str(
        r#"{"webhook_url_base": "https://h", "operator_deadline_secs": 60.0}"#,
    )
    .unwrap();
    assert_eq!(whole.operator_deadline_secs, 60, "JSON Schema's integer");
    assert!(
        serde_json::from_str::<TenantSettings>(
            r#"{"webhook_url_base": "https://h", "operator_deadline_secs": 60.5}"#
        )
        .unwrap_err()
        .to_string()
        .contains("60.5 is not a whole number of seconds")
    );
    s.operator_deadline_secs = 0;
    assert!(err(&s).starts_with("invalid setting `operator_deadline_secs`"));
    assert!(validate_tenant_id("acme-1").is_ok());
    assert!(validate_tenant_id("acme/1").is_err());
}

#[test]
fn a_family_named_without_fields_gets_its_defaults() {
    let s: TenantSettings = serde_json::from_value(serde_json::json!({
        "webhook_url_base": "https://hooks.example.com/at",
        "webhook_families": [
            "Company",
            {"family": "ConfigurationItem"},
            {"family": "TicketNote", "subscribed_fields": ["title"]},
        ],
    }))
    .unwrap();
    s.validate().unwrap();
    assert_eq!(
        s.subscriptions(),
        [
            "Company webhook fields: companyName, isActive",
            "ConfigurationItem webhook fields: serialNumber, referenceTitle, isActive",
            "TicketNote webhook fields: title",
        ]
    );
    // TOML (request and fixture files) reads the same.
    let t: TenantSettings = toml::from_str(
        "webhook_url_base = \"https://h.example\"\nwebhook_families = [\"Contact\"]",
    )
    .unwrap();
    assert_eq!(
        t.webhook_families,
        [FamilySettings::new(WebhookFamily::Contact)]
    );
    // Every family has defaults, each with its reason.
    for family in WebhookFamily::ALL {
        assert!(!default_fields(family).is_empty(), "{family}");
        assert!(default_fields(family).iter().all(|(_, why)| why.len() > 10));
    }
}

#[test]
fn a_bad_family_entry_is_named() {
    let err = |v: serde_json::Value| {
        serde_json::from_value::<TenantSettings>(serde_json::json!({
            "webhook_url_base": "https://hooks.example.com/at",
            "webhook_families": [v],
        }))
        .unwrap_err()
        .to_string()
    };
    assert!(err(serde_json::json!("Compnay")).contains("unknown webhook family \"Compnay\""));
    assert!(
        err(serde_json::json!({"family": "Company", "subscribed_field": ["x"]})).contains(
            "unknown field `subscribed_field`, expected one of `family`, `subscribed_fields`, `subscribed_udf_fields`"
        )
    );
    assert!(
        err(serde_json::json!({"subscribed_fields": ["x"]})).contains("missing field `family`")
    );
    assert!(err(serde_json::json!(7)).contains("a webhook family name"));
    // An explicit empty list is not the defaults: validation refuses it.
    let s: TenantSettings = serde_json::from_value(serde_json::json!({
        "webhook_url_base": "https://hooks.example.com/at",
        "webhook_families": [{"family": "Company", "subscribed_fields": []}],
    }))
    .unwrap();
    assert!(
        s.validate()
            .unwrap_err()
            .to_string()
            .starts_with("invalid setting `webhook_families[0].subscribed_fields`")
    );
}

#[test]
fn every_string_and_list_has_a_maximum() {
    let ok = TenantSettings::new("https://hooks.example.com");
    let long = "x".repeat(MAX_LABEL + 1);
    let mut s = ok.clone();
    s.webhook_families[0].subscribed_fields[1] = long.clone();
    assert!(err(&s).starts_with(
        "invalid setting `webhook_families[0].subscribed_fields[1]`: must be at most 100"
    ));
    let mut s = ok.clone();
    s.webhook_families[0].subscribed_udf_fields = vec!["a".into(); MAX_LIST + 1];
    assert!(err(&s).starts_with("invalid setting `webhook_families[0].subscribed_udf_fields`"));
    let mut s = ok.clone();
    s.lines_of_business[0].level2 = long;
    assert!(err(&s).starts_with("invalid setting `lines_of_business[0].level2`"));
    let mut s = ok;
    s.webhook_families[0].subscribed_fields[1] = "x".repeat(MAX_LABEL);
    s.validate().unwrap();
}

#[test]
fn urls_are_unique_per_tenant_user_and_family() {
    let s = TenantSettings::new("https://hooks.example.com/at/");
    let u = |t, r: i64, f| s.webhook_url(t, ResourceId::new(r), f);
    assert_eq!(
        u("acme", 7, WebhookFamily::Ticket),
        "https://hooks.example.com/at/acme/7/ticket"
    );
    let all = [
        u("acme", 7, WebhookFamily::Ticket),
        u("acme", 8, WebhookFamily::Ticket),
        u("beta", 7, WebhookFamily::Ticket),
        u("acme", 7, WebhookFamily::TicketNote),
    ];
    let set: std::collections::BTreeSet<_> = all.iter().collect();
    assert_eq!(set.len(), all.len());
    assert!(
        TenantSettings::webhook_name(
            ResourceId::new(i64::from(i32::MAX)),
            WebhookFamily::ConfigurationItem
        )
        .len()
            <= 50
    );
}
#[test]
fn url_bases_name_a_plain_host() {
    for (base, ok) in [
        ("https://hooks.example.com/at", true),
        ("https://hooks.example.com:8443/at", true),
        ("https://[::1/at", false),
        ("https://user@hooks.example.com", false),
        ("https://hooks.example.com:/at", false),
    ] {
        let r = TenantSettings::new(base).validate();
        assert_eq!(r.is_ok(), ok, "{base}: {r:?}");
        if !ok && !base.ends_with(":/at") {
            assert!(format!("{:?}", r.unwrap_err()).contains("host"), "{base}");
        }
        let mut s = TenantSettings::new("https://hooks.example.com");
        s.deactivation_url_base = Some(base.into());
        assert_eq!(s.validate().is_ok(), ok, "deactivation {base}");
    }
    assert!(validate_deactivation_url_base("http://localhost:8080/cb").is_ok());
    assert!(validate_deactivation_url_base("http://127.0.0.1/cb").is_ok());
    assert!(validate_deactivation_url_base("http://example.com/cb").is_err());
}
