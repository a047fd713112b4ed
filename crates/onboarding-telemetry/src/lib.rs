//! Telemetry for onboard: `tracing` with `tracing-subscriber` (human or JSON logs),
//! `tracing-opentelemetry` into an OpenTelemetry tracer, exported with `opentelemetry-otlp`
//! over HTTP (protobuf) when an endpoint is configured, and W3C `traceparent` helpers so one
//! trace spans enqueue and every step attempt.
//!
//! Configuration follows the standard `OTEL_*` variables, read by the binary and handed in
//! as a [`TelemetryConfig`] (this crate never reads the environment itself, except what the
//! OTLP exporter reads for headers, timeout and compression). Spans always get trace ids
//! (so logs and stored run records carry them); nothing is exported unless
//! `OTEL_EXPORTER_OTLP_ENDPOINT` or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` is set and
//! `OTEL_TRACES_EXPORTER` is not `none`.

use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use std::collections::HashMap;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry};

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Human,
    /// One JSON object per line, with span fields (run id, trace id).
    Json,
}

/// Telemetry settings, usually from [`TelemetryConfig::from_vars`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TelemetryConfig {
    /// `service.name` of exported spans (`OTEL_SERVICE_NAME`, default `onboard`).
    pub service_name: String,
    /// Log format.
    pub log_format: LogFormat,
    /// `tracing` filter directives (`RUST_LOG`, default `info`).
    pub log_filter: String,
    /// Full OTLP/HTTP traces URL (`…/v1/traces`); `None` exports nothing.
    pub otlp_traces_endpoint: Option<String>,
}

impl TelemetryConfig {
    /// Reads the standard variables through `var` (pass `|k| std::env::var(k).ok()`).
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Self {
        let set = |k: &str| var(k).filter(|v| !v.trim().is_empty());
        let disabled = set("OTEL_TRACES_EXPORTER").is_some_and(|v| v.eq_ignore_ascii_case("none"));
        let endpoint = set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT").or_else(|| {
            set("OTEL_EXPORTER_OTLP_ENDPOINT")
                .map(|base| format!("{}/v1/traces", base.trim_end_matches('/')))
        });
        Self {
            service_name: set("OTEL_SERVICE_NAME").unwrap_or_else(|| "onboard".into()),
            log_format: match set("ONBOARD_LOG_FORMAT").as_deref() {
                Some(f) if f.eq_ignore_ascii_case("json") => LogFormat::Json,
                _ => LogFormat::Human,
            },
            log_filter: set("RUST_LOG").unwrap_or_else(|| "info".into()),
            otlp_traces_endpoint: endpoint.filter(|_| !disabled),
        }
    }
}

/// Errors setting telemetry up.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// The OTLP exporter could not be built (bad endpoint).
    #[error("cannot set up the OTLP exporter for {endpoint}: {message}")]
    Exporter {
        /// The configured endpoint.
        endpoint: String,
        /// Why.
        message: String,
    },
    /// The log filter does not parse.
    #[error("invalid log filter {filter:?} (RUST_LOG): {message}")]
    Filter {
        /// The filter.
        filter: String,
        /// Why.
        message: String,
    },
    /// A global subscriber is already installed.
    #[error("a tracing subscriber is already installed")]
    AlreadyInstalled,
}

/// Keeps the tracer provider alive; [`Telemetry::shutdown`] flushes pending spans.
#[derive(Debug)]
pub struct Telemetry {
    provider: SdkTracerProvider,
    exporting_to: Option<String>,
}

impl Telemetry {
    /// Where spans are exported, if anywhere.
    pub fn exporting_to(&self) -> Option<&str> {
        self.exporting_to.as_deref()
    }

    /// Exports what is pending now.
    pub fn flush(&self) {
        let _ = self.provider.force_flush();
    }

    /// Flushes and stops the exporter.
    pub fn shutdown(self) {
        let _ = self.provider.force_flush();
        let _ = self.provider.shutdown();
    }
}

/// The tracer provider for a config: always produces trace ids; exports by OTLP/HTTP when
/// an endpoint is set.
pub fn tracer_provider(config: &TelemetryConfig) -> Result<SdkTracerProvider, TelemetryError> {
    let resource = opentelemetry_sdk::Resource::builder()
        .with_service_name(config.service_name.clone())
        .build();
    let mut builder = SdkTracerProvider::builder().with_resource(resource);
    if let Some(endpoint) = &config.otlp_traces_endpoint {
        let _ = rustls::crypto::ring::default_provider().install_default();
        use opentelemetry_otlp::WithExportConfig;
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_endpoint(endpoint.clone())
            .build()
            .map_err(|e| TelemetryError::Exporter {
                endpoint: endpoint.clone(),
                message: e.to_string(),
            })?;
        builder = builder.with_batch_exporter(exporter);
    }
    Ok(builder.build())
}

/// The `tracing` layer that feeds spans into `provider`.
pub fn otel_layer<S>(provider: &SdkTracerProvider) -> impl Layer<S> + use<S>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    tracing_opentelemetry::layer().with_tracer(provider.tracer("onboard"))
}

/// Installs the global subscriber: filter, log format, OpenTelemetry.
pub fn init(config: &TelemetryConfig) -> Result<Telemetry, TelemetryError> {
    let filter = EnvFilter::try_new(&config.log_filter).map_err(|e| TelemetryError::Filter {
        filter: config.log_filter.clone(),
        message: e.to_string(),
    })?;
    let provider = tracer_provider(config)?;
    let fmt = match config.log_format {
        LogFormat::Human => tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .boxed(),
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .with_writer(std::io::stderr)
            .boxed(),
    };
    Registry::default()
        .with(otel_layer(&provider))
        .with(fmt.with_filter(filter))
        .try_init()
        .map_err(|_| TelemetryError::AlreadyInstalled)?;
    opentelemetry::global::set_tracer_provider(provider.clone());
    Ok(Telemetry {
        provider,
        exporting_to: config.otlp_traces_endpoint.clone(),
    })
}

/// The W3C `traceparent` of a span (`None` when it has no valid trace context).
pub fn traceparent(span: &tracing::Span) -> Option<String> {
    let cx = span.context();
    if !cx.span().span_context().is_valid() {
        return None;
    }
    let mut carrier = HashMap::new();
    TraceContextPropagator::new().inject_context(&cx, &mut carrier);
    carrier.remove("traceparent")
}

/// Makes `span` a child of the remote context in `traceparent`; ignores an invalid value
/// (the span then starts a trace of its own). Returns whether it joined.
pub fn set_parent(span: &tracing::Span, traceparent: &str) -> bool {
    let carrier = HashMap::from([("traceparent".to_owned(), traceparent.to_owned())]);
    let cx = TraceContextPropagator::new().extract(&carrier);
    if !cx.span().span_context().is_valid() {
        return false;
    }
    span.set_parent(cx).is_ok()
}

/// The trace id (32 hex digits) of a span, for logs and records.
pub fn trace_id(span: &tracing::Span) -> Option<String> {
    let cx = span.context();
    let sc = cx.span().span_context().clone();
    sc.is_valid().then(|| sc.trace_id().to_string())
}

/// Trace ids as links into a trace UI (Jaeger, Tempo, any UI): a URL template in which
/// `{trace_id}` stands for the 32-hex-digit trace id, e.g.
/// `https://jaeger.example/trace/{trace_id}`. Without a template there are no links.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TraceLinks {
    template: Option<String>,
}

impl TraceLinks {
    /// The placeholder a template must contain.
    pub const PLACEHOLDER: &'static str = "{trace_id}";

    /// Links from `template`, which must be an `http(s)://` URL containing `{trace_id}`
    /// (the error says what is wrong).
    pub fn new(template: &str) -> Result<Self, String> {
        if !(template.starts_with("http://") || template.starts_with("https://")) {
            return Err(format!("{template:?} is not an http:// or https:// URL"));
        }
        if !template.contains(Self::PLACEHOLDER) {
            return Err(format!(
                "{template:?} has no {} placeholder",
                Self::PLACEHOLDER
            ));
        }
        Ok(Self {
            template: Some(template.to_owned()),
        })
    }

    /// No links.
    pub fn none() -> Self {
        Self::default()
    }

    /// The link for `trace_id` (only hex digits are put into the URL), if a template is set.
    pub fn link(&self, trace_id: &str) -> Option<String> {
        let template = self.template.as_deref()?;
        if trace_id.is_empty() || !trace_id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        Some(template.replace(Self::PLACEHOLDER, trace_id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> TelemetryConfig {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        TelemetryConfig::from_vars(|k| map.get(k).cloned())
    }

    #[test]
    fn trace_links_fill_the_template_with_hex_trace_ids_only() {
        let links = TraceLinks::new("https://jaeger.example/trace/{trace_id}?x=1").unwrap();
        assert_eq!(
            links.link("4bf92f3577b34da6a3ce929d0e0e4736").as_deref(),
            Some("https://jaeger.example/trace/4bf92f3577b34da6a3ce929d0e0e4736?x=1")
        );
        assert_eq!(links.link("<script>"), None);
        assert_eq!(links.link(""), None);
        assert_eq!(TraceLinks::none().link("4bf9"), None);
        assert!(
            TraceLinks::new("https://jaeger.example/trace/")
                .unwrap_err()
                .contains("no {trace_id}")
        );
        assert!(TraceLinks::new("ftp://x/{trace_id}").is_err());
    }

    #[test]
    fn nothing_is_exported_without_an_endpoint() {
        assert_eq!(vars(&[]).otlp_traces_endpoint, None);
        assert_eq!(
            vars(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/")])
                .otlp_traces_endpoint
                .as_deref(),
            Some("http://collector:4318/v1/traces")
        );
        assert_eq!(
            vars(&[("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://c:4318/custom")])
                .otlp_traces_endpoint
                .as_deref(),
            Some("http://c:4318/custom")
        );
        let off = vars(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"),
            ("OTEL_TRACES_EXPORTER", "none"),
        ]);
        assert_eq!(off.otlp_traces_endpoint, None);
        assert_eq!(vars(&[("OTEL_SERVICE_NAME", "w1")]).service_name, "w1");
        assert_eq!(
            vars(&[("ONBOARD_LOG_FORMAT", "JSON")]).log_format,
            LogFormat::Json
        );
    }

    #[test]
    fn traceparent_round_trips_through_a_child_span() {
        let provider = tracer_provider(&vars(&[])).unwrap();
        let subscriber = Registry::default().with(otel_layer(&provider));
        tracing::subscriber::with_default(subscriber, || {
            let root = tracing::info_span!("enqueue");
            let parent = traceparent(&root).expect("root has a context");
            assert!(parent.starts_with("00-"), "{parent}");
            let attempt = tracing::info_span!("step");
            assert!(set_parent(&attempt, &parent));
            assert_eq!(trace_id(&attempt), trace_id(&root));
            let orphan = tracing::info_span!("orphan");
            assert!(!set_parent(&orphan, "garbage"));
            assert_ne!(trace_id(&orphan), trace_id(&root));
        });
    }
}
