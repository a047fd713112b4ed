//! Who is calling, and may they: bearer tokens for `/v1`, HTTP Basic for the dashboard (the
//! password is a token), and the dashboard's form tokens.
//!
//! A token is either a stored scoped token (`onboarding_worker::tokens`, issued with
//! `onboard token add`) or the legacy master token `ONBOARD_API_TOKEN` (name `api-token`,
//! every scope). The identity recorded in audit trails is the token's name, never a name the
//! client claims. `GET /v1/*` needs `read`, `POST /v1/runs` needs `enqueue`, every other
//! `POST` needs `operate`. Without any token (no master token, none stored), reads are open
//! only when the API listens on loopback ([`crate::ApiConfig::open_reads`]) and writes are
//! refused.
//!
//! A dashboard form carries `{expiry ms}.{hex HMAC-SHA1}` over the signed-in token's name,
//! the action, the run or job, and the expiry, keyed by a key derived from the deployment's
//! token salt (every API replica shares it). A form from another sign-in, for another
//! action or run, older than [`FORM_TTL`], or already posted once is refused.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hmac::Mac;
use onboarding_steps::Timestamp;
use onboarding_worker::tokens::{HmacSha1, Identity, MASTER_NAME, Scope};

use crate::{Api, ApiError};

/// How long a dashboard form stays valid after its page was rendered.
pub const FORM_TTL: Duration = Duration::from_secs(3600);

/// Where the API gets the time (form token expiry); tests inject their own.
#[derive(Clone)]
pub struct Clock(Arc<dyn Fn() -> Timestamp + Send + Sync>);

impl Clock {
    /// A clock reading `now`.
    pub fn new(now: impl Fn() -> Timestamp + Send + Sync + 'static) -> Self {
        Self(Arc::new(now))
    }

    /// The time now.
    pub fn now(&self) -> Timestamp {
        (self.0)()
    }
}

impl Default for Clock {
    fn default() -> Self {
        Self::new(onboarding_worker::service::now)
    }
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Clock")
    }
}

/// The legacy master token, kept as a MAC under a key of this process only.
#[derive(Clone)]
pub(crate) struct Master {
    key: [u8; 32],
    mac: Option<Vec<u8>>,
}

impl Master {
    pub(crate) fn new(token: Option<&str>) -> Self {
        let key = onboarding_worker::tokens::random_key();
        let mac = token.map(|t| {
            let mut m = HmacSha1::new_from_slice(&key).expect("any key length");
            m.update(t.as_bytes());
            m.finalize().into_bytes().to_vec()
        });
        Self { key, mac }
    }

    fn matches(&self, token: &str) -> bool {
        let Some(expected) = &self.mac else {
            return false;
        };
        let mut m = HmacSha1::new_from_slice(&self.key).expect("any key length");
        m.update(token.as_bytes());
        m.verify_slice(expected).is_ok()
    }
}

/// Who `token` is: the master token or a stored one; `None` when neither.
pub(crate) async fn identify(api: &Api, token: &str) -> Result<Option<Identity>, ApiError> {
    if api.master.matches(token) {
        return Ok(Some(Identity {
            name: MASTER_NAME.into(),
            scopes: Scope::ALL.to_vec(),
        }));
    }
    api.onboard
        .tokens
        .authenticate(token)
        .await
        .map_err(crate::unavailable)
}

/// Whether no token exists at all (no master token, none stored).
async fn no_tokens(api: &Api) -> Result<bool, ApiError> {
    Ok(api.master.mac.is_none() && !api.onboard.tokens.any().await.map_err(crate::unavailable)?)
}

/// The scope a `/v1` request needs: `GET` reads, `POST …/runs` enqueues, every other
/// method operates.
pub fn required_scope(method: &Method, path: &str) -> Scope {
    if method == Method::GET || method == Method::HEAD {
        Scope::Read
    } else if method == Method::POST && path.trim_end_matches('/').ends_with("/runs") {
        Scope::Enqueue
    } else {
        Scope::Operate
    }
}

/// The authenticated caller of a `/v1` write, for handlers (the audit trail's name).
#[derive(Clone, Debug)]
pub(crate) struct Caller(pub(crate) Identity);

/// `/v1`: 401 without a valid bearer token, 403 naming the missing scope; the caller goes
/// into the request's extensions.
pub(crate) async fn authenticate(
    State(api): State<Api>,
    headers: HeaderMap,
    mut request: axum::extract::Request,
    next: Next,
) -> Result<Response, ApiError> {
    let need = required_scope(request.method(), request.uri().path());
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let Some(token) = bearer else {
        if no_tokens(&api).await? {
            if need == Scope::Read && api.open_reads {
                return Ok(next.run(request).await);
            }
            return Err(ApiError(
                StatusCode::UNAUTHORIZED,
                format!(
                    "no API token exists, and {need} needs one: issue one with `onboard token \
                     add NAME --scope {need}` (or set ONBOARD_API_TOKEN)"
                ),
            ));
        }
        return Err(ApiError(
            StatusCode::UNAUTHORIZED,
            "missing bearer token (Authorization: Bearer <token>)".into(),
        ));
    };
    let Some(identity) = identify(&api, token).await? else {
        return Err(ApiError(
            StatusCode::UNAUTHORIZED,
            "unknown or revoked bearer token".into(),
        ));
    };
    if !identity.can(need) {
        return Err(ApiError(
            StatusCode::FORBIDDEN,
            format!(
                "the token {:?} lacks the scope {need} (onboard token add NAME --scope {need})",
                identity.name
            ),
        ));
    }
    request.extensions_mut().insert(Caller(identity));
    Ok(next.run(request).await)
}

/// Why a dashboard request is turned away.
pub(crate) enum Denied {
    /// Not signed in, or not with a valid token: 401 asking the browser to sign in.
    SignIn,
    /// Signed in with a token that lacks the scope: 403.
    Lacks(String, Scope),
    /// A form without a valid token for this sign-in, action and target: 403.
    StaleForm,
    /// A form posted from a page of another origin: 403.
    CrossOrigin,
    /// Redis failed: 503.
    Unavailable,
}

impl IntoResponse for Denied {
    fn into_response(self) -> Response {
        match self {
            Self::SignIn => (
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, "Basic realm=\"onboard\"")],
                "sign in: any user name, an API token with the scope read (to view) or \
                 operate (to act) as password",
            )
                .into_response(),
            Self::Lacks(name, scope) => (
                StatusCode::FORBIDDEN,
                format!("the token {name:?} lacks the scope {scope}"),
            )
                .into_response(),
            Self::StaleForm => (
                StatusCode::FORBIDDEN,
                "the form is stale, for another action, or from another site or sign-in; \
                 reload the page",
            )
                .into_response(),
            Self::CrossOrigin => (
                StatusCode::FORBIDDEN,
                "refused: the form was posted from a page of another origin; use the \
                 dashboard's own pages",
            )
                .into_response(),
            Self::Unavailable => {
                (StatusCode::SERVICE_UNAVAILABLE, "the token store failed").into_response()
            }
        }
    }
}

/// The signed-in user of the dashboard (HTTP Basic, the password a token; the user name is
/// ignored): viewing needs `read` or `operate`, acting `operate`.
pub(crate) async fn signed_in(
    api: &Api,
    headers: &HeaderMap,
    acting: bool,
) -> Result<Identity, Denied> {
    let decoded = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| {
            base64::Engine::decode(&base64::engine::general_purpose::STANDARD, b.trim()).ok()
        })
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or(Denied::SignIn)?;
    let (_, password) = decoded.split_once(':').ok_or(Denied::SignIn)?;
    let identity = identify(api, password)
        .await
        .map_err(|_| Denied::Unavailable)?
        .ok_or(Denied::SignIn)?;
    let allowed = identity.can(Scope::Operate) || (!acting && identity.can(Scope::Read));
    if !allowed {
        let need = if acting { Scope::Operate } else { Scope::Read };
        return Err(Denied::Lacks(identity.name, need));
    }
    Ok(identity)
}

/// Makes and checks the form tokens of one signed-in user.
pub(crate) struct Forms {
    key: [u8; 20],
    who: String,
    now: Timestamp,
    /// Whether the user may act (forms are shown only then).
    pub(crate) can_act: bool,
}

impl Forms {
    pub(crate) async fn new(api: &Api, who: &Identity) -> Result<Self, Denied> {
        Ok(Self {
            key: api
                .onboard
                .tokens
                .form_key()
                .await
                .map_err(|_| Denied::Unavailable)?,
            who: who.name.clone(),
            now: api.clock.now(),
            can_act: who.can(Scope::Operate),
        })
    }

    fn mac(&self, action: &str, target: &str, expires: u64) -> HmacSha1 {
        let mut m = HmacSha1::new_from_slice(&self.key).expect("any key length");
        for part in [self.who.as_bytes(), action.as_bytes(), target.as_bytes()] {
            m.update(&(part.len() as u64).to_be_bytes());
            m.update(part);
        }
        m.update(&expires.to_be_bytes());
        m
    }

    /// The token for `action` on `target`, valid for [`FORM_TTL`].
    pub(crate) fn token(&self, action: &str, target: &str) -> String {
        let expires = self.now.plus(FORM_TTL).as_millis();
        let mac = self.mac(action, target, expires).finalize().into_bytes();
        format!("{expires}.{}", hex::encode(mac))
    }

    /// Whether `token` was made for this user, `action` and `target`, and has not expired:
    /// its MAC and expiry.
    pub(crate) fn check(
        &self,
        token: &str,
        action: &str,
        target: &str,
    ) -> Result<(Vec<u8>, Timestamp), Denied> {
        let (expires, mac) = token.split_once('.').ok_or(Denied::StaleForm)?;
        let expires: u64 = expires.parse().map_err(|_| Denied::StaleForm)?;
        let mac = hex::decode(mac).map_err(|_| Denied::StaleForm)?;
        if expires < self.now.as_millis() {
            return Err(Denied::StaleForm);
        }
        self.mac(action, target, expires)
            .verify_slice(&mac)
            .map_err(|_| Denied::StaleForm)?;
        Ok((mac, Timestamp(expires)))
    }

    /// Checks `token` as [`Forms::check`] does, then spends it: a second post of one form is
    /// refused.
    pub(crate) async fn spend(
        &self,
        api: &Api,
        token: &str,
        action: &str,
        target: &str,
    ) -> Result<(), Denied> {
        let (mac, expires) = self.check(token, action, target)?;
        match api.onboard.tokens.spend_form(&mac, expires, self.now).await {
            Ok(true) => Ok(()),
            Ok(false) => Err(Denied::StaleForm),
            Err(_) => Err(Denied::Unavailable),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_route_needs_its_scope() {
        for (method, path, scope) in [
            (Method::GET, "/runs", Scope::Read),
            (Method::GET, "/v1/runs/r1", Scope::Read),
            (Method::GET, "/dead", Scope::Read),
            (Method::POST, "/runs", Scope::Enqueue),
            (Method::POST, "/v1/runs", Scope::Enqueue),
            (Method::POST, "/runs/r1/retry", Scope::Operate),
            (Method::POST, "/runs/r1/cancel", Scope::Operate),
            (Method::POST, "/runs/r1/steps/s/ack", Scope::Operate),
            (Method::POST, "/dead/j1/retry", Scope::Operate),
            (Method::DELETE, "/runs", Scope::Operate),
        ] {
            assert_eq!(required_scope(&method, path), scope, "{method} {path}");
        }
    }

    fn forms(who: &str, now: u64) -> Forms {
        Forms {
            key: [7; 20],
            who: who.into(),
            now: Timestamp(now),
            can_act: true,
        }
    }

    #[test]
    fn a_form_token_fits_its_user_action_target_and_time_only() {
        let t = forms("olga", 1_000).token("cancel", "r1");
        assert!(forms("olga", 2_000).check(&t, "cancel", "r1").is_ok());
        let expired = 1_000 + FORM_TTL.as_millis() as u64 + 1;
        assert!(forms("olga", expired).check(&t, "cancel", "r1").is_err());
        assert!(forms("olga", 2_000).check(&t, "retry", "r1").is_err());
        assert!(forms("olga", 2_000).check(&t, "cancel", "r2").is_err());
        assert!(forms("mallory", 2_000).check(&t, "cancel", "r1").is_err());
        let (_, mac) = t.split_once('.').unwrap();
        let extended = format!("{}.{mac}", expired + 10_000);
        assert!(
            forms("olga", 2_000)
                .check(&extended, "cancel", "r1")
                .is_err()
        );
    }
}
