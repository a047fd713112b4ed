//! Unit tests of the entity registry.

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
