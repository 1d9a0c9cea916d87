//! The operators' ingest listener (`[ingest] listen`, on when an operator is configured):
//! operators push trips and counts over HTTPS, each with a bearer token of its own, and write
//! only their own sources.
//!
//! - `POST /ingest/v1/events`: canonical NDJSON, one event per line.
//! - `POST /ingest/v1/trips`: MDS trips, 1.2 or 2.0 — a trip, an array of trips or a Provider
//!   page; the version from the `Content-Type`'s `version` parameter or `?version=`, else
//!   inferred as for files.
//! - `POST /ingest/v1/tables/{format}`: one CSV table with its header, in `trafikkdata`,
//!   `tides` or an operator layout (`oslobysykkel`, `csv:oslobysykkel`).
//! - `GET /ingest/v1/openapi.json`: the routes' OpenAPI description ([`OPENAPI`]).
//!
//! Each item is judged by the decoder a file or a Kafka topic of its format gets, then by who
//! pushed it: an event of a source the operator may not write is `source_not_allowed`, a count
//! without an id is `missing_id` (a retried request would count it twice). A table carries no
//! source of its own: its rows get the operator's only source, or `?source=` (one of its own).
//! Accepted items become canonical events ([`encode_canonical`]) and go to the [`EventSink`],
//! which answers only once every one of them is durable (produced to the ingest topic and
//! confirmed, or appended to the spool and fsynced); only then is the request answered 200.
//! Nothing of a request is delivered before its whole body has arrived.
//!
//! | status | when |
//! |---|---|
//! | 200 | the request was read, even if every item was rejected: the counts, and each rejection's index, reason and message (the first [`LISTED_REJECTIONS`]) |
//! | 400 | the body was cut off, or a table's source cannot be chosen |
//! | 401 | no token, or a token no operator holds |
//! | 403 | every item is another operator's source, or `?source=` is not the operator's |
//! | 404 | no such route or table format |
//! | 413 | the body is over `max_body_bytes` (refused before it is read when its length is declared) |
//! | 415 | a `Content-Type` the route does not read |
//! | 429 | over the operator's rate (`Retry-After`) |
//! | 503 | the sink cannot make the events durable now: the broker has not confirmed within `delivery_timeout`, or the spool is full (`Retry-After`) |

use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::post;
use modeshare_core::decode::{
    DecodeError, Decoded, Format, FormatDecoder, FormatSettings, Framing, MdsVersion, Reason,
    encode_canonical,
};
use modeshare_core::vocabulary::{EventTimeMs, Kind, Observation, PersonTripFactors};
use serde::Deserialize;
use serde_json::json;

use crate::auth::TokenHashes;
use crate::metrics::IngestMetrics;

/// The realm the 401 challenge names.
pub const REALM: &str = "modeshare ingest";

/// Rejections listed one by one in an answer; the rest are counted.
pub const LISTED_REJECTIONS: usize = 100;

/// Every route, as the 404 answer and the OpenAPI description list them.
pub const ENDPOINTS: [&str; 4] = [
    "/ingest/v1/events",
    "/ingest/v1/trips",
    "/ingest/v1/tables/{format}",
    "/ingest/v1/openapi.json",
];

/// The OpenAPI description of the ingest routes (served at `/ingest/v1/openapi.json`, without
/// a token: it is documentation).
pub const OPENAPI: &str = include_str!("ingest/openapi.json");

/// An operator allowed to push: its name (a metric label and the dead letters' header), the
/// sources it may write, and the hashes of its tokens.
#[derive(Debug, Clone)]
pub struct Operator {
    pub name: String,
    pub sources: Vec<String>,
    pub tokens: TokenHashes,
}

/// What each operator may send.
#[derive(Debug, Clone, Copy)]
pub struct IngestLimits {
    /// The largest request body; the listener's own body limit is set to it.
    pub max_body_bytes: usize,
    /// The longest NDJSON line, as for files (`input.max_line_bytes`).
    pub max_line_bytes: usize,
    /// Requests per second each operator may send on average (a token bucket)...
    pub requests_per_second: f64,
    /// ...and at once after a quiet spell.
    pub burst: u32,
}

/// An accepted event, ready for the ingest topic or the spool.
#[derive(Debug, Clone, PartialEq)]
pub struct PushedEvent {
    /// Its `source`: the Kafka key, so that one source's events stay in one partition.
    pub source: String,
    /// The canonical JSON line, without its newline.
    pub line: Vec<u8>,
}

/// A rejected item: where it was in the request, why, and its bytes (for the dead-letter
/// topic).
#[derive(Debug, Clone, PartialEq)]
pub struct RejectedItem {
    /// 1-based: the line of an NDJSON body, the position in an array or page of trips, the
    /// data row of a table (the header not counted).
    pub index: u64,
    pub reason: Reason,
    pub message: String,
    pub raw: Vec<u8>,
}

/// What one request delivers.
#[derive(Debug)]
pub struct Delivery {
    pub operator: Arc<str>,
    pub events: Vec<PushedEvent>,
    pub rejected: Vec<RejectedItem>,
}

/// Why a delivery was not made durable: the request is answered 503 with `Retry-After`, and
/// nothing of it counts (a retry is safe: its events carry ids).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Undelivered {
    pub retry_after: Duration,
    pub message: String,
}

/// Where accepted events go: the ingest topic (with `[kafka]`) or the spool (without).
pub trait EventSink: Send + Sync {
    /// Resolves once every event of `delivery` is durable, or says why it is not. Rejected
    /// items go to the dead-letter topic where there is one.
    fn deliver(
        &self,
        delivery: Delivery,
    ) -> Pin<Box<dyn Future<Output = Result<(), Undelivered>> + Send + '_>>;
}

/// The ingest API: its operators, the decoders of every format, the sink.
pub struct IngestApi {
    operators: Vec<Admitted>,
    decoders: Decoders,
    sink: Arc<dyn EventSink>,
    limits: IngestLimits,
    metrics: IngestMetrics,
}

/// An operator and its token bucket.
struct Admitted {
    operator: Operator,
    name: Arc<str>,
    bucket: Mutex<Bucket>,
}

struct Bucket {
    tokens: f64,
    refilled: Instant,
}

struct Decoders {
    canonical: FormatDecoder,
    mds: [FormatDecoder; 3],
    formats: FormatSettings,
    factors: PersonTripFactors,
}

impl IngestApi {
    pub fn new(
        operators: Vec<Operator>,
        formats: FormatSettings,
        factors: PersonTripFactors,
        sink: Arc<dyn EventSink>,
        limits: IngestLimits,
        metrics: IngestMetrics,
    ) -> IngestApi {
        let decoder = |format: Format| FormatDecoder::new(&format, &formats, &factors);
        let decoders = Decoders {
            canonical: decoder(Format::Canonical),
            mds: [
                decoder(Format::Mds(MdsVersion::Infer)),
                decoder(Format::Mds(MdsVersion::V1)),
                decoder(Format::Mds(MdsVersion::V2)),
            ],
            formats,
            factors,
        };
        let operators = operators
            .into_iter()
            .map(|operator| Admitted {
                name: Arc::from(operator.name.as_str()),
                operator,
                bucket: Mutex::new(Bucket {
                    tokens: f64::from(limits.burst.max(1)),
                    refilled: Instant::now(),
                }),
            })
            .collect();
        IngestApi {
            operators,
            decoders,
            sink,
            limits,
            metrics,
        }
    }
}

/// The ingest routes (without the limits, which [`crate::listener::with_limits`] adds with
/// `max_request_bytes` = [`IngestLimits::max_body_bytes`]).
pub fn router(api: IngestApi) -> Router {
    Router::new()
        .route("/ingest/v1/events", post(events))
        .route("/ingest/v1/trips", post(trips))
        .route("/ingest/v1/tables/{format}", post(tables))
        .route("/ingest/v1/openapi.json", axum::routing::get(openapi))
        .fallback(not_found)
        .with_state(Arc::new(api))
}

#[derive(Debug, Default, Deserialize)]
struct PushQuery {
    /// MDS: `1.2` or `2.0`.
    version: Option<String>,
    /// Tables: which of the operator's sources the rows are.
    source: Option<String>,
}

async fn events(State(api): State<Arc<IngestApi>>, headers: HeaderMap, body: Body) -> Response {
    let started = Instant::now();
    let push = Push {
        route: Route::Events,
        format_name: None,
        query: PushQuery::default(),
    };
    api.handle(push, &headers, body, started).await
}

async fn trips(
    State(api): State<Arc<IngestApi>>,
    headers: HeaderMap,
    Query(query): Query<PushQuery>,
    body: Body,
) -> Response {
    let started = Instant::now();
    let push = Push {
        route: Route::Trips,
        format_name: None,
        query,
    };
    api.handle(push, &headers, body, started).await
}

async fn tables(
    State(api): State<Arc<IngestApi>>,
    Path(format): Path<String>,
    headers: HeaderMap,
    Query(query): Query<PushQuery>,
    body: Body,
) -> Response {
    let started = Instant::now();
    let push = Push {
        route: Route::Tables,
        format_name: Some(format),
        query,
    };
    api.handle(push, &headers, body, started).await
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    Events,
    Trips,
    Tables,
}

struct Push {
    route: Route,
    format_name: Option<String>,
    query: PushQuery,
}

/// A request's answer before it is sent, with what the metrics need of it.
struct Answer {
    status: StatusCode,
    body: serde_json::Value,
    retry_after: Option<Duration>,
}

impl Answer {
    fn error(status: StatusCode, error: &str, message: impl Into<String>) -> Answer {
        Answer {
            status,
            body: json!({ "error": error, "message": message.into() }),
            retry_after: None,
        }
    }

    fn retry_after(mut self, after: Duration) -> Answer {
        self.retry_after = Some(after);
        self
    }

    fn into_response(self) -> Response {
        let mut response = (self.status, Json(self.body)).into_response();
        if let Some(after) = self.retry_after {
            let seconds = after.as_secs_f64().ceil().max(1.0) as u64;
            if let Ok(v) = HeaderValue::from_str(&seconds.to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        if self.status == StatusCode::UNAUTHORIZED
            && let Ok(v) = HeaderValue::from_str(&format!("Bearer realm=\"{REALM}\""))
        {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, v);
        }
        response
    }
}

/// What a request's items came to.
/// A request's (or a pulled page's) items, judged.
#[derive(Debug, Default)]
pub struct Judged {
    pub events: Vec<PushedEvent>,
    pub rejected: Vec<RejectedItem>,
    /// Items that were read (events, not skipped rows).
    pub read: u64,
    /// Accepted events whose source and id an earlier item of the request had: delivered (the
    /// pipeline counts them as duplicates), and reported.
    pub duplicates: u64,
    /// Rows that are not events (a trafikkdata lane row, a TIDES alighting).
    pub skipped: u64,
}

/// A page of MDS trips pulled from an operator's Provider API (`[[providers]]`), judged as a
/// push of the same page is: by `decoder` (the provider's MDS version), every trip given
/// `source`, which `operator` (the provider) may write.
pub fn judge_pulled_page(
    decoder: &FormatDecoder,
    operator: &Operator,
    source: &str,
    page: &[u8],
) -> Judged {
    judge_items(
        operator,
        &ItemDecoder::Trips(decoder),
        page,
        Some(source),
        usize::MAX,
    )
}

impl IngestApi {
    async fn handle(
        &self,
        push: Push,
        headers: &HeaderMap,
        body: Body,
        started: Instant,
    ) -> Response {
        let operator = match self.authenticate(headers) {
            Ok(operator) => operator,
            Err(answer) => return answer.into_response(),
        };
        let (answer, bytes) = self.admitted(operator, push, headers, body).await;
        self.metrics.observe_request(
            &operator.name,
            answer.status.as_u16(),
            bytes,
            started.elapsed(),
        );
        answer.into_response()
    }

    /// The operator whose token the request presents; every operator's hashes are compared,
    /// so the time taken does not tell whose token matched.
    fn authenticate(&self, headers: &HeaderMap) -> Result<&Admitted, Answer> {
        let presented = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.as_bytes().split_at_checked(7))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case(b"bearer "))
            .map(|(_, token)| token.trim_ascii())
            .filter(|t| !t.is_empty());
        let Some(token) = presented else {
            self.metrics.auth_failure("missing");
            return Err(Answer::error(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "the ingest API needs `Authorization: Bearer <token>`",
            ));
        };
        let mut found = None;
        for admitted in &self.operators {
            if admitted.operator.tokens.accepts(token) && found.is_none() {
                found = Some(admitted);
            }
        }
        found.ok_or_else(|| {
            self.metrics.auth_failure("wrong");
            Answer::error(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "the bearer token is not accepted here",
            )
        })
    }

    /// An authenticated request: its rate, type and body, then each item judged and the
    /// accepted ones delivered. The answer and the body bytes read.
    async fn admitted(
        &self,
        operator: &Admitted,
        push: Push,
        headers: &HeaderMap,
        body: Body,
    ) -> (Answer, u64) {
        if let Err(wait) = self.take_token(operator) {
            let answer = Answer::error(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                format!(
                    "over {} requests per second (burst {}); retry after the time in Retry-After",
                    self.limits.requests_per_second, self.limits.burst
                ),
            );
            return (answer.retry_after(wait), 0);
        }
        let decoder = match self.decoder_for(&push, headers) {
            Ok(decoder) => decoder,
            Err(answer) => return (answer, 0),
        };
        let table_source = match push.route {
            Route::Tables => match table_source(&operator.operator, push.query.source.as_deref()) {
                Ok(source) => Some(source),
                Err(answer) => return (answer, 0),
            },
            _ => None,
        };
        let bytes = match axum::body::to_bytes(body, self.limits.max_body_bytes).await {
            Ok(bytes) => bytes,
            Err(e) => return (self.unread(&e), 0),
        };
        let read_bytes = bytes.len() as u64;
        let judged = self.judge(
            &operator.operator,
            &decoder,
            &bytes,
            table_source.as_deref(),
        );
        (self.deliver(operator, judged).await, read_bytes)
    }

    /// One token from the operator's bucket, or how long until there is one.
    fn take_token(&self, operator: &Admitted) -> Result<(), Duration> {
        let rate = self.limits.requests_per_second;
        let burst = f64::from(self.limits.burst.max(1));
        let Ok(mut bucket) = operator.bucket.lock() else {
            return Ok(());
        };
        let now = Instant::now();
        let elapsed = now.duration_since(bucket.refilled).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * rate).min(burst);
        bucket.refilled = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - bucket.tokens) / rate))
        }
    }

    /// The decoder of a request, from its route, `Content-Type` and query.
    fn decoder_for(&self, push: &Push, headers: &HeaderMap) -> Result<ItemDecoder<'_>, Answer> {
        let content_type = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let media = MediaType::parse(content_type);
        let unsupported = |expected: &str| {
            Answer::error(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                format!(
                    "Content-Type {content_type:?} is not read here; send {expected}",
                    content_type = if content_type.is_empty() {
                        "(none)"
                    } else {
                        content_type
                    }
                ),
            )
        };
        match push.route {
            Route::Events => {
                if !matches!(
                    media.essence.as_str(),
                    "application/x-ndjson" | "application/jsonl" | "application/json"
                ) {
                    return Err(unsupported("application/x-ndjson"));
                }
                Ok(ItemDecoder::Lines(&self.decoders.canonical))
            }
            Route::Trips => {
                let json_type = media.essence == "application/json"
                    || (media.essence.starts_with("application/vnd.mds")
                        && media.essence.ends_with("+json"));
                if !json_type {
                    return Err(unsupported(
                        "application/json or application/vnd.mds+json;version=2.0",
                    ));
                }
                let version = push.query.version.as_deref().or(media.version.as_deref());
                let index = match version {
                    None => 0,
                    Some(v) if v == "1.2" || v.starts_with("1.") || v == "1" => 1,
                    Some(v) if v == "2.0" || v.starts_with("2.") || v == "2" => 2,
                    Some(other) => {
                        return Err(Answer::error(
                            StatusCode::BAD_REQUEST,
                            "bad_request",
                            format!("MDS version {other:?} is not 1.2 or 2.0"),
                        ));
                    }
                };
                Ok(ItemDecoder::Trips(&self.decoders.mds[index]))
            }
            Route::Tables => {
                let name = push.format_name.as_deref().unwrap_or_default();
                let format = Format::parse(name, &self.decoders.formats)
                    .or_else(|_| Format::parse(&format!("csv:{name}"), &self.decoders.formats))
                    .ok()
                    .filter(|f| f.framing() == Framing::Table);
                let Some(format) = format else {
                    let mut known: Vec<String> = vec!["trafikkdata".into()];
                    if self.decoders.formats.check(&Format::Tides).is_ok() {
                        known.push("tides".into());
                    }
                    known.extend(self.decoders.formats.csv_layouts().map(str::to_owned));
                    return Err(Answer::error(
                        StatusCode::NOT_FOUND,
                        "unknown_format",
                        format!(
                            "{name:?} is not a table format here; these are: {}",
                            known.join(", ")
                        ),
                    ));
                };
                if !matches!(
                    media.essence.as_str(),
                    "text/csv" | "application/csv" | "text/plain"
                ) {
                    return Err(unsupported("text/csv"));
                }
                Ok(ItemDecoder::Table(FormatDecoder::new(
                    &format,
                    &self.decoders.formats,
                    &self.decoders.factors,
                )))
            }
        }
    }

    /// The answer to a body that could not be read whole.
    fn unread(&self, e: &axum::Error) -> Answer {
        let too_large = std::error::Error::source(e)
            .is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
        if too_large {
            Answer::error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                format!(
                    "the body is over {} bytes (ingest.max_body_bytes): send it in smaller requests",
                    self.limits.max_body_bytes
                ),
            )
        } else {
            Answer::error(
                StatusCode::BAD_REQUEST,
                "body_cut_off",
                format!("the body could not be read whole ({e}); nothing of it was accepted"),
            )
        }
    }

    /// Every item of a body, judged.
    fn judge(
        &self,
        operator: &Operator,
        decoder: &ItemDecoder<'_>,
        body: &[u8],
        table_source: Option<&str>,
    ) -> Judged {
        judge_items(
            operator,
            decoder,
            body,
            table_source,
            self.limits.max_line_bytes,
        )
    }

    /// Delivers what was accepted (and the rejections, for the dead-letter topic), and the
    /// answer: the counts once durable, or 503.
    async fn deliver(&self, operator: &Admitted, judged: Judged) -> Answer {
        let Judged {
            events,
            rejected,
            read,
            duplicates,
            skipped,
        } = judged;
        // Within-request duplicates are delivered (the pipeline counts them as duplicates) but
        // are not accepted a second time.
        let accepted = events.len() as u64 - duplicates;
        let listed: Vec<serde_json::Value> = rejected
            .iter()
            .take(LISTED_REJECTIONS)
            .map(|r| json!({ "index": r.index, "reason": r.reason.as_str(), "message": r.message }))
            .collect();
        let not_listed = rejected.len().saturating_sub(LISTED_REJECTIONS);
        let all_foreign = read > 0
            && rejected.len() as u64 == read
            && rejected
                .iter()
                .all(|r| r.reason == Reason::SourceNotAllowed);
        let reasons: Vec<Reason> = rejected.iter().map(|r| r.reason).collect();
        if !events.is_empty() || !rejected.is_empty() {
            let delivery = Delivery {
                operator: operator.name.clone(),
                events,
                rejected,
            };
            if let Err(e) = self.sink.deliver(delivery).await {
                let answer = Answer::error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    format!("{e}; nothing of this request was accepted: send it again"),
                );
                return answer.retry_after(e.retry_after);
            }
        }
        self.metrics
            .observe_events(&operator.name, accepted, duplicates, &reasons);
        let status = if all_foreign {
            StatusCode::FORBIDDEN
        } else {
            StatusCode::OK
        };
        Answer {
            status,
            body: json!({
                "operator": &*operator.name,
                "read": read,
                "accepted": accepted,
                "duplicates": duplicates,
                "rejected": reasons.len(),
                "skipped": skipped,
                "rejections": listed,
                "more_rejections": not_listed,
            }),
            retry_after: None,
        }
    }
}

/// Every item of a body, judged: lines over `max_line_bytes` rejected whole.
fn judge_items(
    operator: &Operator,
    decoder: &ItemDecoder<'_>,
    body: &[u8],
    table_source: Option<&str>,
    max_line_bytes: usize,
) -> Judged {
    let now = wall_clock();
    let mut judge = Judge {
        operator,
        table_source,
        seen: HashSet::new(),
        judged: Judged::default(),
    };
    match decoder {
        ItemDecoder::Lines(decoder) => {
            for (i, line) in body.split(|b| *b == b'\n').enumerate() {
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                if line.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                let index = i as u64 + 1;
                if line.len() > max_line_bytes {
                    let e = DecodeError::line_too_long(line.len() as u64, max_line_bytes);
                    judge.reject(index, &e, line);
                    continue;
                }
                decoder.decode_record(line, Some(now), &mut |raw, decoded| {
                    judge.item(index, &raw, decoded);
                });
            }
        }
        ItemDecoder::Trips(decoder) => {
            let mut index = 0u64;
            let mut each = |record: &[u8]| {
                decoder.decode_record(record, Some(now), &mut |raw, decoded| {
                    if matches!(decoded, Decoded::Event(_)) {
                        index += 1;
                    }
                    judge.item(index, &raw, decoded);
                });
            };
            match array_items(body) {
                Some(items) => items.iter().for_each(|item| each(item.get().as_bytes())),
                None => each(body),
            }
        }
        ItemDecoder::Table(decoder) => {
            let mut index = 0u64;
            decoder.decode_record(body, Some(now), &mut |raw, decoded| {
                index += 1;
                judge.item(index, &raw, decoded);
            });
        }
    }
    judge.judged
}

/// How a request's body is cut into items.
enum ItemDecoder<'d> {
    /// Canonical NDJSON: one event per line.
    Lines(&'d FormatDecoder),
    /// MDS: a trip, an array of trips, or a page.
    Trips(&'d FormatDecoder),
    /// One CSV table.
    Table(FormatDecoder),
}

/// The judging of one request's items.
struct Judge<'o> {
    operator: &'o Operator,
    table_source: Option<&'o str>,
    /// (source, id) of the events accepted so far.
    seen: HashSet<(String, String)>,
    judged: Judged,
}

impl Judge<'_> {
    fn item(&mut self, index: u64, raw: &[u8], decoded: Decoded<'_>) {
        match decoded {
            Decoded::Skipped { .. } => self.judged.skipped += 1,
            Decoded::Event(Err(e)) => self.reject(index, &e, raw),
            Decoded::Event(Ok(observation)) => self.observed(index, raw, observation),
        }
    }

    fn reject(&mut self, index: u64, e: &DecodeError<'_>, raw: &[u8]) {
        self.judged.read += 1;
        self.judged.rejected.push(RejectedItem {
            index,
            reason: e.reason,
            message: e.message.clone(),
            raw: raw.to_vec(),
        });
    }

    fn observed(&mut self, index: u64, raw: &[u8], mut observation: Observation<'_>) {
        if let Some(source) = self.table_source {
            observation.source = source.to_owned().into();
        }
        let source = observation.source.as_ref();
        if !self.operator.sources.iter().any(|s| s == source) {
            let e = DecodeError::new(
                Reason::SourceNotAllowed,
                format!(
                    "source {source:?} is not one of operator {:?}'s ({})",
                    self.operator.name,
                    self.operator.sources.join(", ")
                ),
            );
            return self.reject(index, &e, raw);
        }
        if observation.kind == Kind::Count && observation.id.is_none() {
            let e = DecodeError::new(
                Reason::MissingId,
                "id: a pushed count needs an id, so that a request sent again is not counted twice",
            );
            return self.reject(index, &e, raw);
        }
        self.judged.read += 1;
        if let Some(id) = observation.id.as_deref()
            && !self.seen.insert((source.to_owned(), id.to_owned()))
        {
            self.judged.duplicates += 1;
        }
        self.judged.events.push(PushedEvent {
            source: source.to_owned(),
            line: encode_canonical(&observation),
        });
    }
}

/// The source of a table's rows: `?source=` when it is one of the operator's, else its only
/// source.
fn table_source(operator: &Operator, asked: Option<&str>) -> Result<String, Answer> {
    match (asked, operator.sources.as_slice()) {
        (Some(asked), sources) if sources.iter().any(|s| s == asked) => Ok(asked.to_owned()),
        (Some(asked), sources) => Err(Answer::error(
            StatusCode::FORBIDDEN,
            "source_not_allowed",
            format!(
                "source {asked:?} is not one of operator {:?}'s ({})",
                operator.name,
                sources.join(", ")
            ),
        )),
        (None, [only]) => Ok(only.clone()),
        (None, sources) => Err(Answer::error(
            StatusCode::BAD_REQUEST,
            "source_needed",
            format!(
                "a table carries no source and operator {:?} has several: add ?source= (one of {})",
                operator.name,
                sources.join(", ")
            ),
        )),
    }
}

/// The items of a body that is a JSON array; `None` when it is not one.
fn array_items(body: &[u8]) -> Option<Vec<&serde_json::value::RawValue>> {
    let start = body.iter().find(|b| !b.is_ascii_whitespace())?;
    if *start != b'[' {
        return None;
    }
    serde_json::from_slice(body).ok()
}

/// A `Content-Type`: its essence in lower case, and its `version` parameter.
#[derive(Debug, PartialEq)]
struct MediaType {
    essence: String,
    version: Option<String>,
}

impl MediaType {
    fn parse(value: &str) -> MediaType {
        let mut parts = value.split(';');
        let essence = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
        let version = parts.find_map(|p| {
            let (name, value) = p.split_once('=')?;
            name.trim()
                .eq_ignore_ascii_case("version")
                .then(|| value.trim().trim_matches('"').to_owned())
        });
        MediaType { essence, version }
    }
}

fn wall_clock() -> EventTimeMs {
    EventTimeMs(jiff::Timestamp::now().as_millisecond())
}

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

async fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(json!({ "error": "not found", "endpoints": ENDPOINTS })),
    )
        .into_response()
}

#[cfg(test)]
mod tests;
