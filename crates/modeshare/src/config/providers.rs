//! `[[providers]]`: operators' MDS Provider APIs the service polls for trips, hour by hour.
//! Each has a name, the API's base URL, its MDS version, the `source` its trips get, when to
//! ask, and how to authenticate (a bearer token, or OAuth 2.0 client credentials; secrets from
//! a file with `token_file` / `client_secret_file`, never shown in logs).

use std::time::Duration;

use modeshare_core::decode::MdsVersion;
use modeshare_core::vocabulary::{ConfigErrors, DurationMs, Secret, TimeProblem, parse_rfc3339};
use serde::Deserialize;

/// How long after an hour ends it is first asked for, unless `delay` says otherwise.
pub const DEFAULT_DELAY: &str = "1h";
/// How often the service looks for new complete hours, unless `interval` says otherwise.
pub const DEFAULT_INTERVAL: &str = "1h";
/// How long an hour answered 202 (not processed yet) is asked for again before it is skipped.
pub const DEFAULT_GIVE_UP_AFTER: &str = "72h";
/// The first hour asked for when `start` is not set: this long before the first start.
pub const DEFAULT_LOOK_BACK: Duration = Duration::from_secs(24 * 3600);

/// One `[[providers]]` as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderConfig {
    pub name: String,
    /// The Provider API's base URL: trips are at `{url}/trips`.
    pub url: String,
    /// `"1.2"` or `"2.0"`.
    pub version: String,
    /// The `source` of the trips it serves.
    pub source: String,
    #[serde(default)]
    pub interval: Option<String>,
    /// The first hour to fetch (RFC 3339); default 24 h before the first start.
    #[serde(default)]
    pub start: Option<String>,
    #[serde(default)]
    pub delay: Option<String>,
    #[serde(default)]
    pub give_up_after: Option<String>,
    /// A bearer token (or `token_file`).
    #[serde(default)]
    pub token: Option<Secret>,
    /// OAuth 2.0 client credentials: the token endpoint, the client and its secret (or
    /// `client_secret_file`), and an optional scope.
    #[serde(default)]
    pub token_url: Option<String>,
    #[serde(default)]
    pub client_id: Option<String>,
    #[serde(default)]
    pub client_secret: Option<Secret>,
    #[serde(default)]
    pub scope: Option<String>,
}

/// How the service authenticates to a Provider API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProviderAuth {
    /// No `Authorization` header (a provider behind a private network, or a test).
    None,
    Bearer(Secret),
    /// OAuth 2.0 client credentials (RFC 6749 §4.4), the client authenticated with HTTP Basic.
    ClientCredentials {
        token_url: String,
        client_id: String,
        client_secret: Secret,
        scope: Option<String>,
    },
}

/// A validated `[[providers]]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderSettings {
    pub name: String,
    /// Without a trailing `/`.
    pub url: String,
    pub version: MdsVersion,
    pub source: String,
    pub interval: Duration,
    /// The first hour's start (ms since the epoch), when configured.
    pub start_ms: Option<i64>,
    pub delay: Duration,
    pub give_up_after: Duration,
    pub auth: ProviderAuth,
}

/// Every provider, checked: unique names, a URL, a version, a source, durations, one way to
/// authenticate.
pub(super) fn validate(
    providers: &[ProviderConfig],
    errors: &mut ConfigErrors,
) -> Vec<ProviderSettings> {
    let mut checked: Vec<ProviderSettings> = Vec::new();
    for (i, p) in providers.iter().enumerate() {
        let key = |field: &str| format!("providers[{i}].{field}");
        if p.name.trim().is_empty() || p.name.len() > 64 || p.name.contains('/') {
            errors.push(key("name"), "must be a name of 1 to 64 bytes without '/'");
        }
        if checked.iter().any(|other| other.name == p.name) {
            errors.push(key("name"), format!("{:?} is configured twice", p.name));
        }
        if let Err(why) = base_url(&p.url) {
            errors.push(key("url"), format!("{} {why}", shown(&p.url)));
        }
        if checked.iter().any(|other| other.source == p.source) {
            errors.push(
                key("source"),
                format!(
                    "{:?} is another provider's source too: a source has one writer",
                    p.source
                ),
            );
        }
        let version = match p.version.as_str() {
            "1.2" => MdsVersion::V1,
            "2.0" => MdsVersion::V2,
            other => {
                errors.push(
                    key("version"),
                    format!("{other:?} is not \"1.2\" or \"2.0\""),
                );
                MdsVersion::V2
            }
        };
        if p.source.trim() != p.source || p.source.is_empty() || p.source.len() > 64 {
            errors.push(
                key("source"),
                format!("{:?} is not a source name", p.source),
            );
        }
        let duration =
            |field: &str, value: &Option<String>, default: &str, errors: &mut ConfigErrors| {
                let ms = errors.duration(
                    key(field),
                    value.as_deref().unwrap_or(default),
                    DurationMs(0)..=DurationMs(400 * 24 * 3_600_000),
                );
                Duration::from_millis(ms.0.unsigned_abs())
            };
        let interval = duration("interval", &p.interval, DEFAULT_INTERVAL, errors);
        if interval < Duration::from_secs(1) {
            errors.push(key("interval"), "must be at least 1s");
        }
        let delay = duration("delay", &p.delay, DEFAULT_DELAY, errors);
        let give_up_after = duration(
            "give_up_after",
            &p.give_up_after,
            DEFAULT_GIVE_UP_AFTER,
            errors,
        );
        let start_ms = p.start.as_deref().and_then(|s| match parse_rfc3339(s) {
            Ok(t) if t.0 % 3_600_000 == 0 => Some(t.0),
            Ok(_) => {
                errors.push(key("start"), format!("{s:?} is not the start of an hour"));
                None
            }
            Err(TimeProblem::Malformed(e) | TimeProblem::OutOfRange(e)) => {
                errors.push(key("start"), format!("{s:?} is not an RFC 3339 time: {e}"));
                None
            }
        });
        if give_up_after <= delay {
            errors.push(
                key("give_up_after"),
                "must be longer than delay: an hour is first asked for delay after it ends",
            );
        }
        let auth = auth_checked(p, &key, errors);
        if auth != ProviderAuth::None {
            for (field, url) in [("url", Some(&p.url)), ("token_url", p.token_url.as_ref())] {
                if let Some(url) = url
                    && url.starts_with("http://")
                    && !is_loopback(url)
                {
                    errors.push(
                        key(field),
                        format!(
                            "{}: credentials would cross the network in plain text; use https",
                            shown(url)
                        ),
                    );
                }
            }
        }
        checked.push(ProviderSettings {
            name: p.name.clone(),
            url: p.url.trim_end_matches('/').to_owned(),
            version,
            source: p.source.clone(),
            interval,
            start_ms,
            delay,
            give_up_after,
            auth,
        });
    }
    checked
}

fn auth_checked(
    p: &ProviderConfig,
    key: &dyn Fn(&str) -> String,
    errors: &mut ConfigErrors,
) -> ProviderAuth {
    let oauth = p.token_url.is_some() || p.client_id.is_some() || p.client_secret.is_some();
    match (&p.token, oauth) {
        (Some(_), true) => {
            errors.push(
                key("token"),
                "and token_url/client_id/client_secret are two ways to authenticate: keep one",
            );
            ProviderAuth::None
        }
        (Some(token), false) if token.expose().trim().is_empty() => {
            errors.push(key("token"), "is empty");
            ProviderAuth::None
        }
        (Some(token), false) => ProviderAuth::Bearer(token.clone()),
        (None, false) => ProviderAuth::None,
        (None, true) => match (&p.token_url, &p.client_id, &p.client_secret) {
            (Some(token_url), Some(client_id), Some(client_secret)) => {
                if let Err(why) = base_url(token_url) {
                    errors.push(key("token_url"), format!("{} {why}", shown(token_url)));
                }
                ProviderAuth::ClientCredentials {
                    token_url: token_url.clone(),
                    client_id: client_id.clone(),
                    client_secret: client_secret.clone(),
                    scope: p.scope.clone(),
                }
            }
            _ => {
                errors.push(
                    key("token_url"),
                    "OAuth client credentials need all of token_url, client_id and client_secret",
                );
                ProviderAuth::None
            }
        },
    }
}

/// Why `url` cannot be a Provider API's base URL: it must be http(s) with a host, and carry no
/// credentials, query or fragment (the service appends `/trips?end_time=…`, and logs it).
fn base_url(url: &str) -> Result<(), &'static str> {
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err("is not an http(s) URL of a Provider API");
    };
    if scheme != "https" && scheme != "http" {
        return Err("is not an http(s) URL of a Provider API");
    }
    let authority = rest.split('/').next().unwrap_or_default();
    if authority.is_empty() {
        return Err("has no host");
    }
    if authority.contains('@') {
        return Err("carries credentials: use token_file or client_secret_file");
    }
    if rest.contains(['?', '#']) {
        return Err("has a query or fragment: give the base URL, trips are at {url}/trips");
    }
    Ok(())
}

/// A URL for a message: not echoed when it may hold credentials.
fn shown(url: &str) -> String {
    if url.contains('@') {
        "the URL".to_owned()
    } else {
        format!("{url:?}")
    }
}

/// Whether an http(s) URL's host is a loopback address.
fn is_loopback(url: &str) -> bool {
    let authority = url
        .split_once("://")
        .map_or("", |(_, rest)| rest.split('/').next().unwrap_or_default());
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => authority.rsplit_once(':').map_or(authority, |(h, _)| h),
    };
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}
