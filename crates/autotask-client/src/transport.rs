//! The one request path every operation of a [`Tenant`] shares: pace → permit → send with
//! the auth headers → read the body (bounded) → classify, retried in-process with `backon`
//! when the error says so; a span per request with the HTTP semantic-convention attributes,
//! the observer and the recorder told about every answer.

use std::time::Duration;

use backon::Retryable;
use tracing::{Instrument, field};

use crate::zone::check_allowed;
use crate::{Error, LimitKey, Pace, classify};

use crate::client::{Tenant, lock};
use crate::request::{Request, endpoint_of, read_body, transport_error};

impl Tenant {
    /// The shared request path, with in-process retries.
    pub(crate) async fn send(&self, request: Request<'_>) -> Result<String, Error> {
        let max_delay = self.client.inner.config.retry.max_delay;
        let idempotent = request.idempotent;
        let request = &request;
        (|| self.send_once(request))
            .retry(self.client.backoff())
            .sleep(tokio::time::sleep)
            .when(|e: &Error| e.retry_soon() && (idempotent || e.certainly_not_processed()))
            .adjust(move |e, delay| match (delay, e.retry_after()) {
                (Some(_), Some(after)) if after > max_delay => None,
                (Some(_), Some(after)) => Some(after),
                (delay, _) => delay,
            })
            .notify(|e, delay| tracing::debug!(error = %e, ?delay, "retrying Autotask request"))
            .await
    }

    async fn send_once(&self, request: &Request<'_>) -> Result<String, Error> {
        let inner = &self.client.inner;
        check_allowed(&request.url, &inner.config.target).map_err(|reason| {
            Error::HostNotAllowed {
                url: request.url.to_string(),
                reason,
            }
        })?;
        let last = self.last_threshold();
        match inner.pacer.pace(last.as_ref()) {
            Pace::Go => {}
            Pace::Wait(delay) => tokio::time::sleep(delay).await,
            Pace::Refuse(retry_after) => return Err(Error::BudgetExhausted { retry_after }),
        }
        let key = LimitKey {
            database: self.zone.database.clone(),
            integration: self.integration.clone(),
            endpoint: endpoint_of(&self.zone.url, &request.url),
        };
        let span = tracing::info_span!(
            "autotask.request",
            otel.name = %format_args!("{} {}", request.method, request.template),
            otel.kind = "client",
            http.request.method = %request.method,
            url.template = request.template,
            server.address = request.url.host_str().unwrap_or_default(),
            server.port = request.url.port_or_known_default().unwrap_or_default(),
            autotask.entity = request.entity,
            http.response.status_code = field::Empty,
            error.type = field::Empty,
        );
        async {
            let _permit = inner.limiter.acquire(&key).await?;
            let result = self.exchange(request).await;
            let span = tracing::Span::current();
            let status = match &result {
                Ok((status, _)) | Err((Some(status), _)) => {
                    span.record("http.response.status_code", status);
                    *status
                }
                Err((None, _)) => 0,
            };
            if let Some(observe) = &inner.observer {
                observe(request.entity, status);
            }
            if let Err((_, e)) = &result {
                span.record("error.type", e.type_name());
            }
            self.count_request();
            result.map(|(_, body)| body).map_err(|(_, e)| e)
        }
        .instrument(span)
        .await
    }

    /// Sends one request with the auth headers and classifies the answer.
    async fn exchange(&self, request: &Request<'_>) -> Result<(u16, String), (Option<u16>, Error)> {
        let creds = &self.credentials;
        let mut builder = self
            .client
            .inner
            .http
            .request(request.method.clone(), request.url.clone())
            .header("ApiIntegrationCode", creds.integration_code.expose())
            .header("UserName", &creds.username)
            .header("Secret", creds.secret.expose())
            .header("Accept", "application/json");
        if let Some(id) = creds.impersonation_resource_id {
            builder = builder.header("ImpersonationResourceId", id.to_string());
        }
        if let Some(body) = request.body {
            builder = builder.json(body);
        }
        let response = builder
            .send()
            .await
            .map_err(|e| (None, transport_error(e)))?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let max = self.client.inner.config.max_body_bytes;
        let body = read_body(response, max, request.entity)
            .await
            .map_err(|e| (Some(status), e))?;
        self.client.record(
            request.method.as_str(),
            &request.url,
            request.body,
            status,
            &body,
        );
        match classify(status, &body, retry_after, &creds.username) {
            None => Ok((status, body)),
            Some(e) => Err((Some(status), e)),
        }
    }

    /// Keeps the pacer's view roughly current between `ThresholdInformation` reads.
    fn count_request(&self) {
        if let Some(info) = lock(&self.client.inner.thresholds).get_mut(&self.zone.database) {
            info.current_timeframe_request_count =
                info.current_timeframe_request_count.saturating_add(1);
        }
    }
}
