//! The server's Prometheus metrics (`GET /metrics`), in the OpenMetrics text format of the
//! `prometheus-client` crate: requests by route and status, latency, batch sizes, queue depth
//! and tokens processed.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// A request's route and status.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// The matched route (`/predict`), or `unmatched`.
    pub route: String,
    /// The HTTP status code.
    pub status: u16,
}

/// A route.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    /// The matched route, or `unmatched`.
    pub route: String,
}

/// Every metric the server keeps, registered in one registry per server (so several servers
/// in one process, as in the tests, keep theirs apart).
pub struct Metrics {
    registry: Registry,
    /// Requests answered, by route and status.
    pub requests: Family<RequestLabels, Counter>,
    /// Seconds from the request's arrival to its answer, by route.
    pub latency: Family<RouteLabels, Histogram>,
    /// Requests per model batch.
    pub batch_requests: Histogram,
    /// Inputs per model batch.
    pub batch_inputs: Histogram,
    /// Tokens per model batch.
    pub batch_tokens: Histogram,
    /// Requests waiting for the model.
    pub queue_depth: Gauge,
    /// Requests accepted and not yet answered (queued or running).
    pub in_flight: Gauge,
    /// Tokens the model has processed.
    pub tokens: Counter,
    /// Requests refused at the queue bound (429).
    pub overloaded: Counter,
    /// Queued requests dropped because their client had gone.
    pub abandoned: Counter,
}

fn latency_histogram() -> Histogram {
    // 1 ms to about 65 s
    Histogram::new(exponential_buckets(0.001, 2.0, 17))
}

impl Metrics {
    /// Fresh metrics, registered under `kindling_*`.
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = Family::<RouteLabels, Histogram>::new_with_constructor(
            latency_histogram as fn() -> Histogram,
        );
        let batch_requests = Histogram::new([1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0]);
        let batch_inputs = Histogram::new(exponential_buckets(1.0, 2.0, 11));
        let batch_tokens = Histogram::new(exponential_buckets(16.0, 2.0, 14));
        let queue_depth = Gauge::default();
        let in_flight = Gauge::default();
        let tokens = Counter::default();
        let overloaded = Counter::default();
        let abandoned = Counter::default();
        registry.register(
            "kindling_requests",
            "HTTP requests answered, by route and status",
            requests.clone(),
        );
        registry.register(
            "kindling_request_duration_seconds",
            "Seconds from a request's arrival to its answer, by route",
            latency.clone(),
        );
        registry.register(
            "kindling_batch_size",
            "Requests in one model batch",
            batch_requests.clone(),
        );
        registry.register(
            "kindling_batch_inputs",
            "Inputs in one model batch",
            batch_inputs.clone(),
        );
        registry.register(
            "kindling_batch_tokens",
            "Tokens in one model batch",
            batch_tokens.clone(),
        );
        registry.register(
            "kindling_queue_depth",
            "Requests waiting for the model",
            queue_depth.clone(),
        );
        registry.register(
            "kindling_in_flight_requests",
            "Requests accepted and not yet answered",
            in_flight.clone(),
        );
        registry.register(
            "kindling_tokens",
            "Tokens the model processed",
            tokens.clone(),
        );
        registry.register(
            "kindling_overloaded_requests",
            "Requests refused at --max-concurrent-requests",
            overloaded.clone(),
        );
        registry.register(
            "kindling_abandoned_requests",
            "Queued requests dropped because their client disconnected",
            abandoned.clone(),
        );
        Self {
            registry,
            requests,
            latency,
            batch_requests,
            batch_inputs,
            batch_tokens,
            queue_depth,
            in_flight,
            tokens,
            overloaded,
            abandoned,
        }
    }

    /// Counts one answered request.
    pub fn record(&self, route: &str, status: u16, seconds: f64) {
        self.requests
            .get_or_create(&RequestLabels {
                route: route.to_string(),
                status,
            })
            .inc();
        self.latency
            .get_or_create(&RouteLabels {
                route: route.to_string(),
            })
            .observe(seconds);
    }

    /// The metrics in the OpenMetrics text format.
    pub fn render(&self) -> String {
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}
