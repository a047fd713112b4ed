"""Schemathesis hooks for deploy/scripts/check-api.sh.

The two rules of an enqueue request that JSON Schema cannot state (they compare values):
previous_user's username must differ from new_user's, ignoring case, and no webhook family
may appear twice in settings.webhook_families (names match ignoring case; an entry is a name
or an object with `family`). The OpenAPI document says both in words (JSON Schema's
contains/maxContains could state the second, but schemathesis then spends minutes per
example generating bodies); this hook drops such generated requests (in every phase: a `filter_case`
hook, which the coverage phase honours too). Every other constraint is in the document itself.
"""

import schemathesis


@schemathesis.hook
def filter_case(ctx, case):
    body = case.body
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
