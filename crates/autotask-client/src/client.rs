//! The HTTP side: [`AutotaskClient`] (pool, zone cache, limiter, pacer) and [`Tenant`] (one
//! API user's view of its database), every operation going through the one request path of `transport.rs`:
//! pace → permit → send with auth headers → classify → decode, retried with `backon`.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use autotask_types::{
    CountResult, Endpoint, Entity, EntityInformation, EntityInformationResult, FieldInfo,
    FieldInformationResult, ItemIdResult, ItemResult, Query, QueryResult, ThresholdInformation,
    ZoneInformation,
};
use backon::{ExponentialBuilder, Retryable};
use futures::{Stream, TryStreamExt, stream};
use reqwest::Method;
use serde_json::Value as Json;
use sha1::{Digest, Sha1};
use url::Url;

use crate::request::{Request, read_body, transport_error};
use crate::zone::{discovery_url, normalize_zone_url, same_origin};
use crate::{
    ClientConfig, Credentials, Error, Exchange, Limiter, LocalLimiter, Pacer, Recorder, Unpaced,
    classify, decode,
};

/// A shareable Autotask client (cheap to clone).
#[derive(Clone)]
pub struct AutotaskClient {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) http: reqwest::Client,
    pub(crate) config: ClientConfig,
    pub(crate) zones: Mutex<HashMap<String, (Zone, Instant)>>,
    pub(crate) thresholds: Mutex<HashMap<String, ThresholdInformation>>,
    pub(crate) limiter: Arc<dyn Limiter>,
    pub(crate) pacer: Arc<dyn Pacer>,
    pub(crate) observer: Option<Observer>,
    pub(crate) recorder: Option<Recorder>,
}

/// Told about every answered request: (entity, status; 0 when no answer came). For metrics.
pub type Observer = Arc<dyn Fn(&str, u16) + Send + Sync>;

#[derive(Clone, Debug)]
pub(crate) struct Zone {
    pub(crate) url: Url,
    pub(crate) database: String,
}

impl std::fmt::Debug for AutotaskClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AutotaskClient")
            .field("target", &self.inner.config.target)
            .finish_non_exhaustive()
    }
}

impl AutotaskClient {
    /// A client with the in-process limiter (`endpoint_concurrency` permits per key) and no
    /// pacing.
    pub fn new(config: ClientConfig) -> Result<Self, Error> {
        let limiter = Arc::new(LocalLimiter::new(config.endpoint_concurrency));
        Self::with_parts(config, limiter, Arc::new(Unpaced))
    }

    /// A client with a limiter and a pacer of the caller's (e.g. shared through Redis).
    pub fn with_parts(
        config: ClientConfig,
        limiter: Arc<dyn Limiter>,
        pacer: Arc<dyn Pacer>,
    ) -> Result<Self, Error> {
        // rustls needs a process-wide crypto provider; installing it twice is harmless.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .timeout(config.request_timeout)
            .connect_timeout(config.connect_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| Error::Transient {
                status: None,
                detail: format!("cannot build the HTTP client: {e}"),
                not_sent: true,
            })?;
        Ok(Self {
            inner: Arc::new(Inner {
                http,
                config,
                zones: Mutex::default(),
                thresholds: Mutex::default(),
                limiter,
                pacer,
                observer: None,
                recorder: None,
            }),
        })
    }

    /// The same client, telling `observer` about every request (entity and status). Zone
    /// and threshold caches start empty.
    pub fn observed_by(self, observer: Observer) -> Self {
        self.rebuilt(Some(observer), self.inner.recorder.clone())
    }

    /// The same client, telling `recorder` about every answer (never the headers, so never a
    /// credential). Zone and threshold caches start empty.
    pub fn recorded_by(self, recorder: Recorder) -> Self {
        self.rebuilt(self.inner.observer.clone(), Some(recorder))
    }

    fn rebuilt(&self, observer: Option<Observer>, recorder: Option<Recorder>) -> Self {
        let inner = &self.inner;
        Self {
            inner: Arc::new(Inner {
                http: inner.http.clone(),
                config: inner.config.clone(),
                zones: Mutex::default(),
                thresholds: Mutex::default(),
                limiter: inner.limiter.clone(),
                pacer: inner.pacer.clone(),
                observer,
                recorder,
            }),
        }
    }

    /// The REST base URL of `username`'s database (normalised, allowlisted), from the cache
    /// or `zoneInformation?user=` (no credentials; exempt from thread limits).
    #[tracing::instrument(skip_all, fields(autotask.username = %username))]
    pub async fn zone_url(&self, username: &str) -> Result<Url, Error> {
        Ok(self.zone(username).await?.url)
    }

    async fn zone(&self, username: &str) -> Result<Zone, Error> {
        let ttl = self.inner.config.zone_cache_ttl;
        if let Some((zone, at)) = lock(&self.inner.zones).get(username) {
            if at.elapsed() < ttl {
                return Ok(zone.clone());
            }
        }
        let mut url = discovery_url(&self.inner.config.target);
        url.query_pairs_mut().append_pair("user", username);
        let discover = || async {
            let response = self
                .inner
                .http
                .get(url.clone())
                .send()
                .await
                .map_err(transport_error)?;
            let status = response.status().as_u16();
            let max = self.inner.config.max_body_bytes;
            let body = read_body(response, max, "ZoneInformation").await?;
            self.record("GET", &url, None, status, &body);
            match classify(status, &body, None, username) {
                None => decode::<ZoneInformation>("ZoneInformation", &body),
                Some(e) if e.is_retryable() => Err(e),
                Some(e) => Err(Error::ZoneNotFound {
                    username: username.to_owned(),
                    detail: e.to_string(),
                }),
            }
        };
        let info = discover
            .retry(self.backoff())
            .sleep(tokio::time::sleep)
            .when(Error::retry_soon)
            .await?;
        if info.url.trim().is_empty() {
            // Read leniently, a null or absent url decodes as empty: still no answer.
            return Err(Error::ContractDrift {
                entity: "ZoneInformation".into(),
                path: "url".into(),
                expected: "the zone's REST base URL".into(),
                found: "null, nothing or an empty string".into(),
            });
        }
        let zone = Zone {
            url: normalize_zone_url(&info.url, &self.inner.config.target)?,
            database: match info.ci {
                Some(ci) => format!("ci:{ci}"),
                None => info.url.clone(),
            },
        };
        lock(&self.inner.zones).insert(username.to_owned(), (zone.clone(), Instant::now()));
        Ok(zone)
    }

    /// The API user's view of its database: resolves the zone, then every call goes there
    /// with these credentials.
    pub async fn tenant(&self, credentials: Credentials) -> Result<Tenant, Error> {
        let zone = self.zone(&credentials.username).await?;
        let integration = fingerprint(credentials.integration_code.expose());
        Ok(Tenant {
            client: self.clone(),
            zone,
            credentials,
            integration,
        })
    }

    pub(crate) fn record(
        &self,
        method: &str,
        url: &Url,
        request_body: Option<&Json>,
        status: u16,
        body: &str,
    ) {
        if let Some(record) = &self.inner.recorder {
            record(&Exchange {
                method,
                url,
                request_body,
                status,
                body,
            });
        }
    }

    pub(crate) fn backoff(&self) -> ExponentialBuilder {
        let p = &self.inner.config.retry;
        ExponentialBuilder::default()
            .with_jitter()
            .with_min_delay(p.min_delay)
            .with_max_delay(p.max_delay)
            .with_max_times(p.max_retries)
            .with_total_delay(Some(p.max_total_delay))
    }
}

/// One API user's view of its database. Cheap to clone.
#[derive(Clone)]
pub struct Tenant {
    pub(crate) client: AutotaskClient,
    pub(crate) zone: Zone,
    pub(crate) credentials: Credentials,
    pub(crate) integration: String,
}

impl std::fmt::Debug for Tenant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tenant")
            .field("zone", &self.zone.url.as_str())
            .field("username", &self.credentials.username)
            .finish_non_exhaustive()
    }
}

impl Tenant {
    /// The database's REST base URL (`…/ATServicesRest/`).
    pub fn zone_url(&self) -> &Url {
        &self.zone.url
    }

    /// Which Autotask database these credentials resolved to: `ci:{ci}` from zone discovery,
    /// or the zone URL when Autotask sends no `ci`. The same for every user of one database.
    pub fn database(&self) -> &str {
        &self.zone.database
    }

    /// The username these calls authenticate as.
    pub fn username(&self) -> &str {
        &self.credentials.username
    }

    /// The last `ThresholdInformation` read for this database, updated by an estimate of
    /// the requests made since.
    pub fn last_threshold(&self) -> Option<ThresholdInformation> {
        lock(&self.client.inner.thresholds)
            .get(&self.zone.database)
            .copied()
    }

    fn url(&self, path: &str) -> Url {
        self.zone
            .url
            .join(&format!("V1.0/{path}"))
            .expect("entity paths are relative URLs")
    }

    /// `GET {Entity}/{id}`: `None` for an unknown id (404 or `{"item": null}`).
    pub async fn get<E: Entity>(
        &self,
        endpoint: &Endpoint<E>,
        id: i64,
    ) -> Result<Option<E>, Error> {
        let request = Request {
            method: Method::GET,
            url: self.url(&format!("{}/{id}", endpoint.collection())),
            body: None,
            template: "/V1.0/{entity}/{id}",
            entity: endpoint.name(),
            idempotent: true,
        };
        match self.send(request).await {
            Ok(body) => Ok(decode::<ItemResult<E>>(endpoint.name(), &body)?.item),
            Err(Error::NotFound) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `POST {Entity}/query`, following `pageDetails.nextPageUrl` (POSTing the original body)
    /// until the last page. Rows arrive page by page.
    pub fn query<'a, E: Entity>(
        &'a self,
        endpoint: &'a Endpoint<E>,
        query: &Query,
    ) -> impl Stream<Item = Result<E, Error>> + Send + 'a {
        enum Page {
            First,
            Next(Url),
            Done,
        }
        let body = query.to_json();
        let max_pages = self.client.inner.config.max_pages;
        let mut seen: HashSet<String> = HashSet::new();
        stream::try_unfold(Page::First, move |page| {
            let body = body.clone();
            let over = |detail: String| Error::OverLimit {
                entity: endpoint.name().to_owned(),
                detail,
            };
            // The first page plus the next pages seen so far.
            let fresh = match &page {
                Page::Next(_) if 1 + seen.len() >= max_pages => {
                    Err(over(format!("more than {max_pages} pages")))
                }
                Page::Next(url) if !seen.insert(url.to_string()) => {
                    Err(over("Autotask sent the same next page URL twice".into()))
                }
                _ => Ok(()),
            };
            async move {
                fresh?;
                let (url, template) = match page {
                    Page::Done => return Ok(None),
                    Page::First => (
                        self.url(&format!("{}/query", endpoint.query_root())),
                        "/V1.0/{entity}/query",
                    ),
                    Page::Next(url) => (url, "/V1.0/{entity}/query/next"),
                };
                let request = Request {
                    method: Method::POST,
                    url,
                    body: Some(&body),
                    template,
                    entity: endpoint.name(),
                    idempotent: true,
                };
                let text = self.send(request).await?;
                let page: QueryResult<E> = decode(endpoint.name(), &text)?;
                let next = match page.page_details.next_page_url.filter(|u| !u.is_empty()) {
                    None => Page::Done,
                    Some(next) => Page::Next(self.next_page_url(&next)?),
                };
                Ok(Some((page.items, next)))
            }
        })
        .map_ok(|items| stream::iter(items.into_iter().map(Ok)))
        .try_flatten()
    }

    /// All rows of a query, every page.
    pub async fn query_all<E: Entity>(
        &self,
        endpoint: &Endpoint<E>,
        query: &Query,
    ) -> Result<Vec<E>, Error> {
        self.query(endpoint, query).try_collect().await
    }

    /// A pagination URL may only receive credentials if it is on the zone's host.
    fn next_page_url(&self, raw: &str) -> Result<Url, Error> {
        let url = self.zone.url.join(raw).map_err(|e| Error::HostNotAllowed {
            url: raw.to_owned(),
            reason: format!("not a URL ({e})"),
        })?;
        if !same_origin(&url, &self.zone.url) {
            return Err(Error::HostNotAllowed {
                url: raw.to_owned(),
                reason: format!(
                    "pagination URL is not on the zone host {}",
                    self.zone.url.origin().ascii_serialization()
                ),
            });
        }
        Ok(url)
    }

    /// `POST {Entity}/query/count`.
    pub async fn count<E: Entity>(
        &self,
        endpoint: &Endpoint<E>,
        query: &Query,
    ) -> Result<u64, Error> {
        let body = query.to_json();
        let request = Request {
            method: Method::POST,
            url: self.url(&format!("{}/query/count", endpoint.query_root())),
            body: Some(&body),
            template: "/V1.0/{entity}/query/count",
            entity: endpoint.name(),
            idempotent: true,
        };
        let text = self.send(request).await?;
        Ok(decode::<CountResult>(endpoint.name(), &text)?.query_count)
    }

    /// `POST {collection}`: creates the entity, returns its id.
    pub async fn create<E: Entity>(
        &self,
        endpoint: &Endpoint<E>,
        entity: &E,
    ) -> Result<i64, Error> {
        self.write(Method::POST, endpoint, entity, false).await
    }

    /// `PATCH {collection}`: updates the fields that are set (the entity's `id` included).
    pub async fn update<E: Entity>(
        &self,
        endpoint: &Endpoint<E>,
        entity: &E,
    ) -> Result<i64, Error> {
        self.write(Method::PATCH, endpoint, entity, true).await
    }

    async fn write<E: Entity>(
        &self,
        method: Method,
        endpoint: &Endpoint<E>,
        entity: &E,
        idempotent: bool,
    ) -> Result<i64, Error> {
        let body = serde_json::to_value(entity).map_err(|e| Error::Encode {
            entity: endpoint.name().to_owned(),
            detail: e.to_string(),
        })?;
        let request = Request {
            method,
            url: self.url(endpoint.collection()),
            body: Some(&body),
            template: "/V1.0/{entity}",
            entity: endpoint.name(),
            idempotent,
        };
        let text = self.send(request).await?;
        Ok(decode::<ItemIdResult>(endpoint.name(), &text)?.item_id)
    }

    /// `DELETE {collection}/{id}`.
    pub async fn delete<E: Entity>(&self, endpoint: &Endpoint<E>, id: i64) -> Result<(), Error> {
        let request = Request {
            method: Method::DELETE,
            url: self.url(&format!("{}/{id}", endpoint.collection())),
            body: None,
            template: "/V1.0/{entity}/{id}",
            entity: endpoint.name(),
            idempotent: true,
        };
        self.send(request).await.map(drop)
    }

    /// `GET {collection}/entityInformation`: what this user may do with the entity.
    pub async fn entity_information<E: Entity>(
        &self,
        endpoint: &Endpoint<E>,
    ) -> Result<EntityInformation, Error> {
        let text = self
            .get_path(
                &format!("{}/entityInformation", endpoint.collection()),
                "/V1.0/{entity}/entityInformation",
                endpoint.name(),
            )
            .await?;
        Ok(decode::<EntityInformationResult>(endpoint.name(), &text)?.info)
    }

    /// `GET {collection}/entityInformation/fields`: field metadata with picklists.
    pub async fn field_information<E: Entity>(
        &self,
        endpoint: &Endpoint<E>,
    ) -> Result<Vec<FieldInfo>, Error> {
        let text = self
            .get_path(
                &format!("{}/entityInformation/fields", endpoint.collection()),
                "/V1.0/{entity}/entityInformation/fields",
                endpoint.name(),
            )
            .await?;
        Ok(decode::<FieldInformationResult>(endpoint.name(), &text)?.fields)
    }

    /// `GET ThresholdInformation`; also feeds the pacer.
    pub async fn threshold_information(&self) -> Result<ThresholdInformation, Error> {
        let text = self
            .get_path(
                "ThresholdInformation",
                "/V1.0/ThresholdInformation",
                "ThresholdInformation",
            )
            .await?;
        let info: ThresholdInformation = decode("ThresholdInformation", &text)?;
        lock(&self.client.inner.thresholds).insert(self.zone.database.clone(), info);
        Ok(info)
    }

    async fn get_path(
        &self,
        path: &str,
        template: &'static str,
        entity: &str,
    ) -> Result<String, Error> {
        self.send(Request {
            method: Method::GET,
            url: self.url(path),
            body: None,
            template,
            entity,
            idempotent: true,
        })
        .await
    }
}

/// A stable, non-reversible name for an integration code (for limit keys and logs).
pub(crate) fn fingerprint(code: &str) -> String {
    let digest = Sha1::digest(code.as_bytes());
    hex::encode(&digest[..8])
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::endpoint_of;

    #[test]
    fn endpoint_is_the_first_segment_after_the_version() {
        let zone = Url::parse("http://h/zones/a/ATServicesRest/").unwrap();
        let at = |p: &str| endpoint_of(&zone, &zone.join(p).unwrap());
        assert_eq!(at("V1.0/Resources/query"), "Resources");
        assert_eq!(at("V1.0/TicketWebhooks/17/Fields"), "TicketWebhooks");
        assert_eq!(
            at("v1.0/TicketWebhookFields/query/next?paging=x"),
            "TicketWebhookFields"
        );
    }

    #[test]
    fn fingerprints_are_stable_and_hide_the_code() {
        assert_eq!(fingerprint("CODE"), fingerprint("CODE"));
        assert_ne!(fingerprint("CODE"), fingerprint("CODE2"));
        assert!(!fingerprint("CODE").contains("CODE"));
    }
}
