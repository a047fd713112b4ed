"""Schemathesis hooks for deploy/scripts/check-api.sh.

The rules that JSON Schema cannot state (they compare values), each said in words in the
OpenAPI document:
- an enqueue request (a `POST /v1/runs` body, and every entry of a campaign's cohort):
  previous_user's username must differ from new_user's, ignoring case, and no webhook family
  may appear twice in settings.webhook_families (names match ignoring case; an entry is a name
  or an object with `family`). JSON Schema's contains/maxContains could state the second, but
  schemathesis then spends minutes per example generating bodies;
- a campaign's cohort names each tenant once;
- a deactivation callout's `EntityType`, when given, is the webhook entity of the family in
  its URL (`configurationitem` -> `ConfigurationItemWebhook`).
This hook drops generated requests that break them (in every phase: a `filter_case` hook,
which the coverage phase honours too). Every other constraint is in the document itself.
"""

import schemathesis


def _enqueue_ok(body):
    if not isinstance(body, dict):
        return True
    new, previous = body.get("new_user"), body.get("previous_user")
    if isinstance(new, dict) and isinstance(previous, dict):
        a, b = new.get("username"), previous.get("username")
        if isinstance(a, str) and isinstance(b, str) and a.lower() == b.lower():
            return False
    settings = body.get("settings")
    families = settings.get("webhook_families") if isinstance(settings, dict) else None
    if isinstance(families, list):
        names = [f.get("family") if isinstance(f, dict) else f for f in families]
        names = [n.lower() for n in names if isinstance(n, str)]
        if len(names) != len(set(names)):
            return False
    return True


@schemathesis.hook
def filter_case(ctx, case):
    body = case.body
    if not isinstance(body, dict):
        return True
    family = (case.path_parameters or {}).get("family")
    entity = body.get("EntityType")
    if isinstance(family, str) and isinstance(entity, str):
        if entity.lower() != family.lower() + "webhook":
            return False
    cohort = body.get("cohort")
    if isinstance(cohort, list):
        tenants = [e.get("tenant_id") for e in cohort if isinstance(e, dict)]
        tenants = [t for t in tenants if isinstance(t, str)]
        if len(tenants) != len(set(tenants)):
            return False
        if not all(_enqueue_ok(e) for e in cohort):
            return False
    return _enqueue_ok(body)
