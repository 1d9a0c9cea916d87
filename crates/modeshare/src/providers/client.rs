//! One operator's MDS Provider API: `GET {url}/trips?end_time=YYYY-MM-DDTHH` for an hour, with
//! the version's `Accept` header, following `links.next` through every page. 429 and 5xx are
//! retried with exponential backoff and jitter (honouring `Retry-After`, in seconds or as a date); an OAuth token is
//! fetched with client credentials, renewed before it expires and once on a 401.

use std::time::{Duration, Instant};

use modeshare_core::decode::MdsVersion;
use modeshare_core::vocabulary::{EventTimeMs, Secret};
use rand::Rng;
use reqwest::StatusCode;
use reqwest::header::{ACCEPT, RETRY_AFTER};
use serde::Deserialize;

use crate::config::{ProviderAuth, ProviderSettings};

/// Attempts of one request before its hour waits for the next poll.
const ATTEMPTS: u32 = 6;
/// The first retry's wait; each next one doubles, up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// An OAuth token is renewed this long before it expires.
const RENEW_BEFORE: Duration = Duration::from_secs(60);
/// Pages of one hour followed at most.
const MAX_PAGES: usize = 10_000;
/// Bytes of one hour's pages held at most before they are delivered together.
const MAX_HOUR_BYTES: usize = 256 << 20;
/// The longest OAuth token lifetime believed.
const MAX_TOKEN_LIFETIME: Duration = Duration::from_secs(7 * 24 * 3600);

/// What the provider answered for an hour.
#[derive(Debug, PartialEq, Eq)]
pub enum Hour {
    /// Every page of the hour, in order (an empty hour has one page with no trips).
    Pages(Vec<Vec<u8>>),
    /// 202: the provider has not processed the hour yet.
    NotReady,
}

/// Why an hour could not be fetched now; its kind is a metric label.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("the provider refused the credentials ({0})")]
    Auth(String),
    #[error("the provider answered {status} for {url}: {body}")]
    Status {
        status: StatusCode,
        url: String,
        body: String,
    },
    #[error("the provider could not be reached: {0}")]
    Network(String),
    #[error("the OAuth token endpoint failed: {0}")]
    Token(String),
    #[error("the hour's pages do not end: {0}")]
    TooManyPages(String),
    #[error(
        "links.next of page {page} leaves the Provider API ({next}): not followed, so no token goes elsewhere"
    )]
    ForeignLink { page: usize, next: String },
}

impl FetchError {
    /// Whether asking again cannot mend it while the provider stays as it is: an hour that
    /// fails so past `give_up_after` is skipped, like one that stays 202. Credentials, rate
    /// limits, server errors and the network are waited out instead.
    pub fn is_lasting(&self) -> bool {
        match self {
            FetchError::Status { status, .. } => {
                status.is_client_error()
                    && ![
                        StatusCode::UNAUTHORIZED,
                        StatusCode::FORBIDDEN,
                        StatusCode::REQUEST_TIMEOUT,
                        StatusCode::TOO_EARLY,
                        StatusCode::TOO_MANY_REQUESTS,
                    ]
                    .contains(status)
            }
            FetchError::TooManyPages(_) | FetchError::ForeignLink { .. } => true,
            FetchError::Auth(_) | FetchError::Network(_) | FetchError::Token(_) => false,
        }
    }

    /// The `kind` label of `modeshare_provider_errors_total`.
    pub fn kind(&self) -> &'static str {
        match self {
            FetchError::Auth(_) => "auth",
            FetchError::Status { status, .. } if *status == StatusCode::TOO_MANY_REQUESTS => {
                "rate_limited"
            }
            FetchError::Status { status, .. } if status.is_server_error() => "server_error",
            FetchError::Status { .. } => "client_error",
            FetchError::Network(_) => "network",
            FetchError::Token(_) => "token",
            FetchError::TooManyPages(_) => "too_many_pages",
            FetchError::ForeignLink { .. } => "foreign_link",
        }
    }
}

/// A Provider API client with its cached OAuth token.
pub struct ProviderClient {
    http: reqwest::Client,
    settings: ProviderSettings,
    token: Option<(Secret, Instant)>,
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    #[serde(default)]
    expires_in: Option<u64>,
}

impl ProviderClient {
    pub fn new(settings: ProviderSettings) -> Result<ProviderClient, FetchError> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(120))
            .connect_timeout(Duration::from_secs(20))
            // Which instance asked, for the provider's logs (and a group's tests).
            .user_agent(format!(
                "modeshare/{} ({})",
                env!("CARGO_PKG_VERSION"),
                crate::checkpoint_claim::this_instance()
            ))
            .build()
            .map_err(|e| FetchError::Network(e.to_string()))?;
        Ok(ProviderClient {
            http,
            settings,
            token: None,
        })
    }

    /// Every page of the hour that starts at `hour`.
    pub async fn fetch_hour(&mut self, hour: EventTimeMs) -> Result<Hour, FetchError> {
        let mut url = format!(
            "{}/trips?end_time={}",
            self.settings.url,
            hour_parameter(hour)
        );
        let mut pages = Vec::new();
        let mut bytes = 0;
        let mut visited = std::collections::HashSet::new();
        loop {
            let budget = MAX_HOUR_BYTES.saturating_sub(bytes);
            let Some(body) = self.get(&url, budget).await? else {
                return Ok(Hour::NotReady);
            };
            visited.insert(url.clone());
            bytes += body.len();
            let next = next_link(&body);
            pages.push(body);
            let Some(next) = next.map(|n| absolute(n, &url)) else {
                return Ok(Hour::Pages(pages));
            };
            if !same_origin(&next, &self.settings.url) {
                return Err(FetchError::ForeignLink {
                    page: pages.len(),
                    next,
                });
            }
            if visited.contains(&next) {
                return Err(FetchError::TooManyPages(format!(
                    "page {} links back to {next}",
                    pages.len()
                )));
            }
            if pages.len() >= MAX_PAGES || bytes > MAX_HOUR_BYTES {
                return Err(too_large());
            }
            url = next;
        }
    }

    /// One page: its body, or `None` for 202. Retries what a retry can mend. A body longer
    /// than `budget` (what the hour may still hold) is refused as it arrives, before it is
    /// read whole.
    async fn get(&mut self, url: &str, budget: usize) -> Result<Option<Vec<u8>>, FetchError> {
        let mut renewed = false;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut request = self
                .http
                .get(url)
                .header(ACCEPT, accept(self.settings.version));
            if let Some(token) = self.bearer().await? {
                request = request.bearer_auth(token.expose());
            }
            let mut answer = match request.send().await {
                Ok(answer) => answer,
                Err(e) if attempt < ATTEMPTS => {
                    tokio::time::sleep(backoff(attempt, None)).await;
                    tracing::debug!(provider = %self.settings.name, "retrying after {e}");
                    continue;
                }
                Err(e) => return Err(FetchError::Network(self.scrub(&e.to_string()))),
            };
            let status = answer.status();
            let retry_after = answer
                .headers()
                .get(RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| retry_after(v, std::time::SystemTime::now()));
            if status == StatusCode::ACCEPTED {
                return Ok(None);
            }
            if status.is_success() {
                let mut body = Vec::new();
                while let Some(chunk) = answer
                    .chunk()
                    .await
                    .map_err(|e| FetchError::Network(self.scrub(&e.to_string())))?
                {
                    if body.len() + chunk.len() > budget {
                        return Err(too_large());
                    }
                    body.extend_from_slice(&chunk);
                }
                return Ok(Some(body));
            }
            if status == StatusCode::UNAUTHORIZED {
                if !renewed && matches!(self.settings.auth, ProviderAuth::ClientCredentials { .. })
                {
                    // The token may have been revoked or expired early: renew it once.
                    self.token = None;
                    renewed = true;
                    continue;
                }
                return Err(FetchError::Auth(format!("{status} for {url}")));
            }
            let retryable = status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error();
            if retryable && attempt < ATTEMPTS {
                tokio::time::sleep(backoff(attempt, retry_after)).await;
                continue;
            }
            let body = answer.text().await.unwrap_or_default();
            return Err(FetchError::Status {
                status,
                url: url.to_owned(),
                body: self.scrub(&body.chars().take(300).collect::<String>()),
            });
        }
    }

    /// The bearer token to send, fetching or renewing an OAuth token when needed.
    async fn bearer(&mut self) -> Result<Option<Secret>, FetchError> {
        let (token_url, client_id, client_secret, scope) = match &self.settings.auth {
            ProviderAuth::None => return Ok(None),
            ProviderAuth::Bearer(token) => return Ok(Some(token.clone())),
            ProviderAuth::ClientCredentials {
                token_url,
                client_id,
                client_secret,
                scope,
            } => (token_url, client_id, client_secret, scope),
        };
        if let Some((token, renew_at)) = &self.token
            && Instant::now() < *renew_at
        {
            return Ok(Some(token.clone()));
        }
        let mut form = vec![("grant_type", "client_credentials")];
        if let Some(scope) = scope {
            form.push(("scope", scope));
        }
        let scrub = |text: String| client_secret.scrub(&text);
        let answer = self
            .http
            .post(token_url)
            .basic_auth(client_id, Some(client_secret.expose()))
            .form(&form)
            .send()
            .await
            .map_err(|e| FetchError::Token(scrub(e.to_string())))?;
        let status = answer.status();
        let body = answer
            .bytes()
            .await
            .map_err(|e| FetchError::Token(scrub(e.to_string())))?;
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::BAD_REQUEST {
            return Err(FetchError::Auth(format!(
                "the token endpoint answered {status}"
            )));
        }
        if !status.is_success() {
            return Err(FetchError::Token(format!("{token_url} answered {status}")));
        }
        let token: TokenAnswer = serde_json::from_slice(&body)
            .map_err(|e| FetchError::Token(format!("{token_url} answered no access_token: {e}")))?;
        let lifetime =
            Duration::from_secs(token.expires_in.unwrap_or(3600)).min(MAX_TOKEN_LIFETIME);
        let renew_at = Instant::now() + lifetime.saturating_sub(RENEW_BEFORE);
        let secret = Secret::new(token.access_token);
        self.token = Some((secret.clone(), renew_at));
        Ok(Some(secret))
    }

    /// `text` without any of the provider's secrets.
    fn scrub(&self, text: &str) -> String {
        let text = match &self.settings.auth {
            ProviderAuth::None => text.to_owned(),
            ProviderAuth::Bearer(token) => token.scrub(text),
            ProviderAuth::ClientCredentials { client_secret, .. } => client_secret.scrub(text),
        };
        match &self.token {
            Some((token, _)) => token.scrub(&text),
            None => text,
        }
    }
}

/// An hour over [`MAX_PAGES`] pages or [`MAX_HOUR_BYTES`].
fn too_large() -> FetchError {
    FetchError::TooManyPages(format!(
        "over {MAX_PAGES} pages or {} MiB",
        MAX_HOUR_BYTES >> 20
    ))
}

/// The `Accept` header of a version's Provider API.
pub fn accept(version: MdsVersion) -> &'static str {
    match version {
        MdsVersion::V1 => "application/vnd.mds.provider+json;version=1.2",
        _ => "application/vnd.mds+json;version=2.0",
    }
}

/// `end_time` of the hour that starts at `hour`: `YYYY-MM-DDTHH` in UTC.
pub fn hour_parameter(hour: EventTimeMs) -> String {
    let rfc = hour.to_rfc3339();
    rfc.get(..13).unwrap_or(&rfc).to_owned()
}

/// Whether `link` is on the scheme, host and port of `base` (a Provider API's URL).
fn same_origin(link: &str, base: &str) -> bool {
    match (reqwest::Url::parse(link), reqwest::Url::parse(base)) {
        (Ok(link), Ok(base)) => link.origin() == base.origin(),
        _ => false,
    }
}

/// `link` resolved against the page it came from (`?page=2`, `/trips?page=2`, or a whole URL).
fn absolute(link: String, page: &str) -> String {
    reqwest::Url::parse(page)
        .and_then(|page| page.join(&link))
        .map_or(link, String::from)
}

/// `links.next` of a page, when it names one.
fn next_link(page: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct Links {
        next: Option<String>,
    }
    #[derive(Deserialize)]
    struct Page {
        links: Option<Links>,
    }
    serde_json::from_slice::<Page>(page)
        .ok()?
        .links?
        .next
        .filter(|n| !n.is_empty())
}

/// How long `Retry-After` (RFC 9110 §10.2.3) says to wait: delay seconds, or an HTTP date (a
/// date already past: at once). Anything else is no answer, and the backoff decides.
fn retry_after(value: &str, now: std::time::SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// The wait before attempt `attempt + 1`: `Retry-After` when the provider said, else
/// exponential with full jitter.
fn backoff(attempt: u32, retry_after: Option<Duration>) -> Duration {
    if let Some(wait) = retry_after {
        return wait.min(MAX_BACKOFF * 5);
    }
    let ceiling = FIRST_BACKOFF
        .saturating_mul(1 << attempt.saturating_sub(1).min(16))
        .min(MAX_BACKOFF);
    ceiling.mul_f64(rand::rng().random_range(0.5..=1.0))
}

#[cfg(test)]
mod tests;
