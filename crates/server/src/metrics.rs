//! [`Metrics`]: request, store, policy and audit counters, rendered for `GET /metrics` in the
//! Prometheus text format. Lock-free: a request costs a few atomic increments.
//!
//! | metric | labels | what |
//! |---|---|---|
//! | `tessera_http_requests_total` | route, status | requests answered |
//! | `tessera_http_request_duration_seconds` | route | histogram, request in to response out |
//! | `tessera_http_requests_in_flight` | | gauge |
//! | `tessera_auth_failures_total` | | 401s |
//! | `tessera_store_duration_seconds` | store, op | histogram of online-store calls |
//! | `tessera_store_errors_total` | store, op | failed or timed-out store calls |
//! | `tessera_policy_denials_total` | reason | refusals by the policy gate |
//! | `tessera_entities_read_total`, `tessera_values_served_total` | | read volume |
//! | `tessera_audit_records_written_total`, `tessera_audit_queue_depth`, `tessera_audit_write_errors_total`, `tessera_audit_queue_full_waits_total` | | the audit sink |

use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use tessera_access::{AccessLayer, AccessObserver, StoreOp};
use tessera_core::{Refusal, RefusalReason};

/// The routes requests are counted under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// `POST /get-online-features`
    GetOnlineFeatures,
    /// `POST /push`
    Push,
    /// `POST /write-to-online-store`
    WriteToOnlineStore,
    /// `POST /v1/features`
    V1Features,
    /// `POST /v1/push`
    V1Push,
    /// `POST /v1/consent`
    V1Consent,
    /// `POST /v1/erase`
    V1Erase,
    /// `POST /v1/ldp/reports`
    V1LdpReports,
    /// `GET /v1/ldp/{report}/estimates`
    V1LdpEstimates,
    /// `POST /v1/releases`
    V1Releases,
    /// `GET /health`
    Health,
    /// `GET /metrics`
    Metrics,
    /// gRPC `FeatureService/GetFeatures`
    GrpcGetFeatures,
    /// gRPC `FeatureService/Push`
    GrpcPush,
    /// Anything else (404s, 405s).
    Other,
}

impl Route {
    const ALL: [Route; 15] = [
        Route::GetOnlineFeatures,
        Route::Push,
        Route::WriteToOnlineStore,
        Route::V1Features,
        Route::V1Push,
        Route::V1Consent,
        Route::V1Erase,
        Route::V1LdpReports,
        Route::V1LdpEstimates,
        Route::V1Releases,
        Route::Health,
        Route::Metrics,
        Route::GrpcGetFeatures,
        Route::GrpcPush,
        Route::Other,
    ];

    /// The path, used as the `route` label.
    pub fn path(&self) -> &'static str {
        match self {
            Route::GetOnlineFeatures => "/get-online-features",
            Route::Push => "/push",
            Route::WriteToOnlineStore => "/write-to-online-store",
            Route::V1Features => "/v1/features",
            Route::V1Push => "/v1/push",
            Route::V1Consent => "/v1/consent",
            Route::V1Erase => "/v1/erase",
            Route::V1LdpReports => "/v1/ldp/reports",
            Route::V1LdpEstimates => "/v1/ldp/{report}/estimates",
            Route::V1Releases => "/v1/releases",
            Route::Health => "/health",
            Route::Metrics => "/metrics",
            Route::GrpcGetFeatures => "/tessera.serving.v1.FeatureService/GetFeatures",
            Route::GrpcPush => "/tessera.serving.v1.FeatureService/Push",
            Route::Other => "other",
        }
    }

    /// The route of a matched path.
    pub fn from_path(path: &str) -> Route {
        Route::ALL
            .into_iter()
            .find(|r| r.path() == path)
            .unwrap_or(Route::Other)
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Status codes counted individually; others are counted as `other`.
const STATUSES: [u16; 15] = [
    200, 202, 204, 400, 401, 403, 404, 405, 408, 413, 415, 422, 500, 503, 504,
];
const N_STATUS: usize = STATUSES.len() + 1;

/// Histogram bucket upper bounds, in seconds.
const BOUNDS: [f64; 18] = [
    0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1,
    0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

#[derive(Debug, Default)]
struct Histogram {
    buckets: [AtomicU64; BOUNDS.len() + 1],
    sum_ns: AtomicU64,
    count: AtomicU64,
}

impl Histogram {
    fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        let i = BOUNDS
            .iter()
            .position(|b| secs <= *b)
            .unwrap_or(BOUNDS.len());
        self.buckets[i].fetch_add(1, Ordering::Relaxed);
        self.sum_ns.fetch_add(
            u64::try_from(d.as_nanos()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let mut cumulative = 0;
        for (i, b) in self.buckets.iter().enumerate() {
            cumulative += b.load(Ordering::Relaxed);
            let le = BOUNDS
                .get(i)
                .map_or_else(|| "+Inf".to_string(), |b| b.to_string());
            let _ = writeln!(out, "{name}_bucket{{{labels},le=\"{le}\"}} {cumulative}");
        }
        let sum = self.sum_ns.load(Ordering::Relaxed) as f64 / 1e9;
        let _ = writeln!(out, "{name}_sum{{{labels}}} {sum}");
        let _ = writeln!(
            out,
            "{name}_count{{{labels}}} {}",
            self.count.load(Ordering::Relaxed)
        );
    }
}

const DENIAL_REASONS: [&str; 4] = [
    "classification_not_allowed",
    "purpose_not_held",
    "unknown_purpose",
    "device_only",
];

/// Every counter of the server.
#[derive(Debug)]
pub struct Metrics {
    store: &'static str,
    requests: [[AtomicU64; N_STATUS]; Route::ALL.len()],
    latency: [Histogram; Route::ALL.len()],
    in_flight: AtomicI64,
    auth_failures: AtomicU64,
    store_latency: [Histogram; 2],
    store_errors: [AtomicU64; 2],
    denials: [AtomicU64; DENIAL_REASONS.len()],
    entities_read: AtomicU64,
    values_served: AtomicU64,
}

impl Metrics {
    /// Counters for a server over the store named `store` (the `store` label).
    pub fn new(store: &'static str) -> Self {
        Self {
            store,
            requests: Default::default(),
            latency: Default::default(),
            in_flight: AtomicI64::new(0),
            auth_failures: AtomicU64::new(0),
            store_latency: Default::default(),
            store_errors: Default::default(),
            denials: Default::default(),
            entities_read: AtomicU64::new(0),
            values_served: AtomicU64::new(0),
        }
    }

    /// Counts one answered request.
    pub fn request_done(&self, route: Route, status: u16, elapsed: Duration) {
        let s = STATUSES
            .iter()
            .position(|x| *x == status)
            .unwrap_or(STATUSES.len());
        self.requests[route.index()][s].fetch_add(1, Ordering::Relaxed);
        self.latency[route.index()].observe(elapsed);
        if status == 401 {
            self.auth_failures.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// A request started; the guard counts it finished when dropped (even if the client went
    /// away mid-request).
    pub fn in_flight(&self) -> InFlight<'_> {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(&self.in_flight)
    }

    /// Requests answered on `route` with `status` so far.
    pub fn requests(&self, route: Route, status: u16) -> u64 {
        STATUSES.iter().position(|x| *x == status).map_or(0, |s| {
            self.requests[route.index()][s].load(Ordering::Relaxed)
        })
    }

    /// The Prometheus text exposition, including the access layer's audit sink.
    pub fn render(&self, access: &AccessLayer) -> String {
        let mut out = String::with_capacity(16 * 1024);
        out.push_str("# HELP tessera_http_requests_total HTTP requests answered, by route and status.\n# TYPE tessera_http_requests_total counter\n");
        for route in Route::ALL {
            for (i, n) in self.requests[route.index()].iter().enumerate() {
                let n = n.load(Ordering::Relaxed);
                if n > 0 {
                    let status = STATUSES.get(i).map_or("other".to_string(), u16::to_string);
                    let _ = writeln!(
                        out,
                        "tessera_http_requests_total{{route=\"{}\",status=\"{status}\"}} {n}",
                        route.path()
                    );
                }
            }
        }
        out.push_str("# HELP tessera_http_request_duration_seconds Time from request received to response produced, by route.\n# TYPE tessera_http_request_duration_seconds histogram\n");
        for route in Route::ALL {
            self.latency[route.index()].render(
                &mut out,
                "tessera_http_request_duration_seconds",
                &format!("route=\"{}\"", route.path()),
            );
        }
        let _ = writeln!(out, "# HELP tessera_http_requests_in_flight Requests being served.\n# TYPE tessera_http_requests_in_flight gauge\ntessera_http_requests_in_flight {}", self.in_flight.load(Ordering::Relaxed));
        counter(
            &mut out,
            "tessera_auth_failures_total",
            "Requests refused for a missing or invalid token.",
            &self.auth_failures,
        );
        out.push_str("# HELP tessera_store_duration_seconds Online-store calls, by store and operation.\n# TYPE tessera_store_duration_seconds histogram\n");
        for (i, op) in ["read", "write"].iter().enumerate() {
            self.store_latency[i].render(
                &mut out,
                "tessera_store_duration_seconds",
                &format!("store=\"{}\",op=\"{op}\"", self.store),
            );
        }
        out.push_str("# HELP tessera_store_errors_total Online-store calls that failed or timed out.\n# TYPE tessera_store_errors_total counter\n");
        for (i, op) in ["read", "write"].iter().enumerate() {
            let _ = writeln!(
                out,
                "tessera_store_errors_total{{store=\"{}\",op=\"{op}\"}} {}",
                self.store,
                self.store_errors[i].load(Ordering::Relaxed)
            );
        }
        out.push_str("# HELP tessera_policy_denials_total Refusals by the policy gate, by reason (one request may have several).\n# TYPE tessera_policy_denials_total counter\n");
        for (i, reason) in DENIAL_REASONS.iter().enumerate() {
            let _ = writeln!(
                out,
                "tessera_policy_denials_total{{reason=\"{reason}\"}} {}",
                self.denials[i].load(Ordering::Relaxed)
            );
        }
        counter(
            &mut out,
            "tessera_entities_read_total",
            "Entities read by allowed reads.",
            &self.entities_read,
        );
        counter(
            &mut out,
            "tessera_values_served_total",
            "Feature values served (entities x features).",
            &self.values_served,
        );
        let audit = access.audit().stats();
        counter(
            &mut out,
            "tessera_audit_records_written_total",
            "Audit records written to the log.",
            &audit.written,
        );
        counter(
            &mut out,
            "tessera_audit_write_errors_total",
            "Failed writes of the audit log (retried; reads are refused meanwhile).",
            &audit.write_errors,
        );
        counter(
            &mut out,
            "tessera_audit_queue_full_waits_total",
            "Times a request waited for room in the audit queue.",
            &audit.waits,
        );
        let _ = writeln!(out, "# HELP tessera_audit_queue_depth Audit records waiting to be written.\n# TYPE tessera_audit_queue_depth gauge\ntessera_audit_queue_depth {}", access.audit().queued());
        out
    }
}

fn counter(out: &mut String, name: &str, help: &str, v: &AtomicU64) {
    let _ = writeln!(
        out,
        "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}",
        v.load(Ordering::Relaxed)
    );
}

/// Counts a request in flight until dropped.
#[derive(Debug)]
pub struct InFlight<'a>(&'a AtomicI64);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl AccessObserver for Metrics {
    fn store_call(&self, _store: &'static str, op: StoreOp, elapsed: Duration, ok: bool) {
        let i = match op {
            StoreOp::Read => 0,
            StoreOp::Write => 1,
        };
        self.store_latency[i].observe(elapsed);
        if !ok {
            self.store_errors[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    fn denied(&self, refusals: &[Refusal]) {
        for r in refusals {
            let i = match r.reason {
                RefusalReason::ClassificationNotAllowed { .. } => 0,
                RefusalReason::PurposeNotHeld { .. } => 1,
                RefusalReason::UnknownPurpose { .. } => 2,
                RefusalReason::DeviceOnly => 3,
            };
            self.denials[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    fn read_done(&self, entities: usize, features: usize) {
        self.entities_read
            .fetch_add(entities as u64, Ordering::Relaxed);
        self.values_served
            .fetch_add((entities * features) as u64, Ordering::Relaxed);
    }
}
