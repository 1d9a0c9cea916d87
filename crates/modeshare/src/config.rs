//! Configuration: the embedded default, then `--config FILE`, then `MODESHARE__SECTION__KEY`
//! environment variables, then command-line flags; validated all at once.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use modeshare_core::decode::{
    Format, FormatSettings, FormatsConfig, GtfsStop, RegistrationPoints, read_stop_rows,
};
use modeshare_core::pipeline::{Settings, SettingsConfig};
use modeshare_core::publish::GoalConfig;
use modeshare_core::publish::PrivacyConfig;
use modeshare_core::publish::SurveyConfig;
use modeshare_core::space::DistanceBandsConfig;
use modeshare_core::space::SpatialConfig;
use modeshare_core::space::Zones;
use modeshare_core::space::{TransitAccess, TransitAccessConfig};
use modeshare_core::state::DedupConfig;
use modeshare_core::state::WindowsConfig;
use modeshare_core::vocabulary::ConfigErrors;
use modeshare_core::vocabulary::CountsConfig;
use modeshare_core::vocabulary::DurationMs;
use modeshare_core::vocabulary::GroupsConfig;
use modeshare_http::auth::TokenHashes;
use modeshare_http::listener::Limits;
use modeshare_http::server::MetricsOn;
use modeshare_kafka::{KafkaConfig, KafkaSettings};
use modeshare_source::InputConfig;

use crate::checkpoint_store::StoreLocation;
use modeshare_source::simulator::{SimulatorConfig, SimulatorSettings};
use serde::Deserialize;

/// The embedded default configuration.
pub const DEFAULT_CONFIG: &str = include_str!("../../../config/default.toml");
/// The embedded default zones: Bærum, and approximate Fornebu and Sandvika.
pub const DEFAULT_ZONES: &str = include_str!("../../../config/zones/baerum.geojson");
/// The embedded default stops of `[transit_access]` (a GTFS stops.txt).
pub const DEFAULT_STOPS: &str = include_str!("../../../config/stops/baerum-stops.txt");
/// The embedded Statens vegvesen registration points (where each traffic counter is).
pub const DEFAULT_REGISTRATION_POINTS: &str =
    include_str!("../../../config/trafikkdata/registration-points.csv");

const ENV_PREFIX: &str = "MODESHARE__";

/// The configuration file as written (every section optional; the embedded default fills in).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// H3 resolution and zone polygons.
    pub spatial: SpatialConfig,
    /// Named groups of modes whose shares are published.
    pub groups: GroupsConfig,
    /// Target shares for groups.
    pub goals: Vec<GoalConfig>,
    /// The travel survey that fills the modes nobody measures.
    #[serde(default)]
    pub survey: Option<SurveyConfig>,
    /// Trip distance bands.
    pub distance_bands: DistanceBandsConfig,
    /// Trips that start or end near public-transport stops.
    pub transit_access: TransitAccessConfig,
    /// How counted units become person trips.
    pub counts: CountsConfig,
    /// Duplicate detection.
    pub dedup: DedupConfig,
    /// Event-time buckets, rolling windows, calendar time zone, lateness.
    pub windows: WindowsConfig,
    /// Line framing of files and stdin.
    pub input: InputConfig,
    /// Settings of the input formats other than canonical JSON.
    pub formats: FormatsConfig,
    /// The public HTTP listener of `modeshare run`, and the limits of every listener.
    pub http: HttpConfig,
    /// The admin listener (off unless `listen` is set).
    pub admin: AdminConfig,
    /// The operators' ingest listener (off unless an operator is configured).
    pub ingest: IngestConfig,
    /// Operators' MDS Provider APIs polled for trips.
    pub providers: Vec<ProviderConfig>,
    /// The service's own settings: how long a stop may take.
    pub run: RunConfig,
    /// The k rule of published cell-level outputs.
    pub privacy: PrivacyConfig,
    /// Checkpoints (the live service's, and `replay --state`).
    pub state: StateConfig,
    /// The view of the whole city that instances of a group share.
    pub view: ViewConfig,
    /// The built-in simulator, the default source of `modeshare run`.
    pub simulator: SimulatorConfig,
    /// Consume from Kafka instead of the simulator.
    #[serde(default)]
    pub kafka: Option<KafkaConfig>,
    /// How the process logs (read before the rest, see [`log::format_of`]).
    pub log: LogConfig,
}

/// `[http]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    /// Address of the public listener: the page, `/api/*`, health, `/metrics` (unless on admin).
    pub listen: String,
    /// How often a new snapshot is published while events flow (bounds how soon an event
    /// shows on `/metrics` and `/api/*`).
    pub publish_interval: String,
    /// Which listener serves `/metrics`: `public` or `admin`.
    pub metrics_on: MetricsOn,
    /// The limits of every listener.
    pub limits: LimitsConfig,
}

/// `[http.limits]`: what every listener (public, admin) holds to.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsConfig {
    /// How long a client may take to send a request's headers (and its TLS handshake).
    pub header_read_timeout: String,
    /// How long a request may take before it is answered 503.
    pub request_timeout: String,
    /// Requests served at once per listener; more are answered 503 at once.
    pub max_concurrent_requests: usize,
    /// Connections open at once per listener; more wait until one closes.
    pub max_connections: usize,
    /// The largest request body accepted (413 beyond).
    pub max_request_bytes: usize,
}

impl LimitsConfig {
    fn validate(&self, errors: &mut ConfigErrors) -> Limits {
        let duration = |errors: &mut ConfigErrors, key: &str, text: &str| {
            let d = errors.duration(key, text, DurationMs(100)..=DurationMs(600_000));
            std::time::Duration::from_millis(d.0.unsigned_abs())
        };
        let header_read_timeout = duration(
            errors,
            "http.limits.header_read_timeout",
            &self.header_read_timeout,
        );
        let request_timeout =
            duration(errors, "http.limits.request_timeout", &self.request_timeout);
        for (key, value, max) in [
            (
                "http.limits.max_concurrent_requests",
                self.max_concurrent_requests,
                1 << 16,
            ),
            ("http.limits.max_connections", self.max_connections, 1 << 20),
            (
                "http.limits.max_request_bytes",
                self.max_request_bytes,
                1 << 30,
            ),
        ] {
            if !(1..=max).contains(&value) {
                errors.push(key, format!("{value} is not between 1 and {max}"));
            }
        }
        Limits {
            header_read_timeout,
            request_timeout,
            max_concurrent_requests: self.max_concurrent_requests,
            max_connections: self.max_connections,
            max_request_bytes: self.max_request_bytes,
        }
    }
}

/// `[admin]`: the listener for raw numbers, behind bearer tokens.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminConfig {
    /// Its address; absent, there is no admin listener.
    #[serde(default)]
    pub listen: Option<String>,
    /// SHA-256 hashes (hex) of the accepted bearer tokens; several, so that a token can be
    /// rotated. Also from a file (`token_sha256_file`, one per line) or the environment.
    pub token_sha256: Vec<String>,
    /// Serve plain HTTP on an address other than loopback (behind a proxy that terminates TLS).
    pub allow_plain_http: bool,
    /// TLS: the listener serves HTTPS when both are set.
    #[serde(default)]
    pub tls: Option<TlsConfig>,
}

/// `[admin.tls]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// The certificate chain, PEM.
    pub cert: PathBuf,
    /// Its private key, PEM (readable by the service only).
    pub key: PathBuf,
}

/// The validated `[admin]`.
#[derive(Debug, Clone)]
pub struct AdminSettings {
    pub listen: std::net::SocketAddr,
    pub tokens: TokenHashes,
    /// The certificate chain and key, when the listener serves HTTPS.
    pub tls: Option<(PathBuf, PathBuf)>,
}

impl AdminConfig {
    fn validate(&self, metrics_on: MetricsOn, errors: &mut ConfigErrors) -> Option<AdminSettings> {
        let Some(listen) = &self.listen else {
            if metrics_on == MetricsOn::Admin {
                errors.push(
                    "http.metrics_on",
                    "is \"admin\" but there is no admin listener: set [admin] listen",
                );
            }
            return None;
        };
        let Ok(listen) = listen.parse::<std::net::SocketAddr>() else {
            errors.push(
                "admin.listen",
                format!("{listen:?} is not an address like \"127.0.0.1:9465\""),
            );
            return None;
        };
        let tokens = TokenHashes::parse(&self.token_sha256).unwrap_or_else(|e| {
            errors.push("admin.token_sha256", e.to_string());
            TokenHashes::default()
        });
        if self.token_sha256.is_empty() {
            errors.push(
                "admin.token_sha256",
                "lists no token hash: the admin listener would let nobody in (printf %s TOKEN | sha256sum)",
            );
        }
        let tls = self.tls.as_ref().map(|t| (t.cert.clone(), t.key.clone()));
        match &tls {
            Some((cert, key)) => {
                if let Err(e) = modeshare_http::tls::acceptor(cert, key) {
                    errors.push("admin.tls", e.to_string());
                }
            }
            None if !listen.ip().is_loopback() && !self.allow_plain_http => errors.push(
                "admin.listen",
                format!(
                    "{listen} is not a loopback address, and tokens would cross the network in \
                     plain text: set [admin.tls] cert and key, or allow_plain_http = true behind \
                     a proxy that terminates TLS"
                ),
            ),
            None => {}
        }
        Some(AdminSettings {
            listen,
            tokens,
            tls,
        })
    }
}

/// `[run]`: the live service itself.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunConfig {
    /// How long `modeshare run` may take to stop after SIGTERM or SIGINT; then it exits
    /// whatever it still waits for (partitions not checkpointed are read again).
    pub shutdown_timeout: String,
    /// The threads that apply Kafka partitions' records; 0: one per core.
    pub threads: u16,
}

/// `[state]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StateConfig {
    /// This instance's own state on local disk (the ingest spool, providers' cursors without Kafka), and
    /// the live service's checkpoints unless `url` puts them elsewhere.
    pub dir: PathBuf,
    /// Where the live service keeps its checkpoints, one per Kafka partition, when not in
    /// `dir`: `s3://bucket/prefix` and the other stores of [`StoreLocation::parse`].
    pub url: Option<String>,
    /// The object store's options (`aws_endpoint`, `aws_region`, …; secrets also from
    /// `K_file`): texts, or numbers and booleans written as TOML (`aws_allow_http = true`).
    pub options: BTreeMap<String, toml::Value>,
    /// How often state is checkpointed (the live service and `replay --state`).
    pub interval: String,
    /// What to do with a partition whose checkpoint cannot be used: `refuse` or `rebuild`.
    pub on_bad_checkpoint: OnBadCheckpoint,
}

/// The safe choices when a partition's checkpoint is damaged, from another configuration, or
/// missing while the group has committed offsets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnBadCheckpoint {
    /// Stop with the reason: nothing is counted from wrong or missing state.
    Refuse,
    /// Set the file aside and count the partition again from its earliest retained offset.
    Rebuild,
}

/// The validated `[state]`.
#[derive(Debug, Clone)]
pub struct StateSettings {
    pub dir: PathBuf,
    /// Where the live service's partition checkpoints are.
    pub checkpoints: StoreLocation,
    pub interval: std::time::Duration,
    pub on_bad_checkpoint: OnBadCheckpoint,
}

impl StateConfig {
    fn validate(&self, errors: &mut ConfigErrors) -> StateSettings {
        let interval = errors.duration(
            "state.interval",
            &self.interval,
            DurationMs(50)..=DurationMs::from_days(1),
        );
        if self.dir.as_os_str().is_empty() {
            errors.push("state.dir", "is empty; name a directory");
        }
        let mut options = BTreeMap::new();
        for (key, value) in &self.options {
            let text = match value {
                toml::Value::String(text) => text.clone(),
                toml::Value::Boolean(_) | toml::Value::Integer(_) | toml::Value::Float(_) => {
                    value.to_string()
                }
                _ => {
                    errors.push(
                        format!("state.options.{key}"),
                        "must be a text, a number or true/false",
                    );
                    continue;
                }
            };
            options.insert(key.clone(), text);
        }
        let checkpoints = match &self.url {
            None => StoreLocation::Directory(self.dir.clone()),
            Some(url) => StoreLocation::parse(url, options).unwrap_or_else(|e| {
                errors.push("state.url", e);
                StoreLocation::Directory(self.dir.clone())
            }),
        };
        if self.url.is_none() && !self.options.is_empty() {
            errors.push(
                "state.options",
                "are options of an object store: set state.url too",
            );
        }
        StateSettings {
            dir: self.dir.clone(),
            checkpoints,
            interval: std::time::Duration::from_millis(interval.0.unsigned_abs()),
            on_bad_checkpoint: self.on_bad_checkpoint,
        }
    }
}

/// `[view]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ViewConfig {
    /// How often each `run` instance of a Kafka group publishes its partitions' numbers to the
    /// checkpoint store and reads the other instances' back; `"off"`.
    pub interval: String,
}

impl ViewConfig {
    fn validate(&self, errors: &mut ConfigErrors) -> Option<std::time::Duration> {
        if self.interval == "off" {
            return None;
        }
        let interval = errors.duration(
            "view.interval",
            &self.interval,
            DurationMs(250)..=DurationMs(3_600_000),
        );
        Some(std::time::Duration::from_millis(interval.0.unsigned_abs()))
    }
}

/// Values given on the command line; they win over every other layer.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub zones: Option<PathBuf>,
    pub resolution: Option<u8>,
    pub gtfs: Option<PathBuf>,
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct AppConfig {
    pub settings: Settings,
    pub zones: Zones,
    pub input: InputConfig,
    pub formats: FormatSettings,
    pub listen: std::net::SocketAddr,
    pub publish_interval: std::time::Duration,
    /// Which listener serves `/metrics`.
    pub metrics_on: MetricsOn,
    /// The limits of every listener.
    pub limits: Limits,
    /// The admin listener, when configured.
    pub admin: Option<AdminSettings>,
    /// The push path (the ingest topic or the spool) when an operator or a provider is
    /// configured; its listener is on only with operators.
    pub ingest: Option<IngestSettings>,
    /// The Provider APIs polled for trips.
    pub providers: Vec<ProviderSettings>,
    /// How long a stop may take.
    pub shutdown_timeout: std::time::Duration,
    /// The threads that apply Kafka partitions' records (`run.threads`); 0: one per core.
    pub threads: usize,
    pub state: StateSettings,
    /// How often `run` instances of a Kafka group publish their partitions' numbers and read
    /// the others'; `None`: each shows its own partitions only.
    pub view_interval: Option<std::time::Duration>,
    pub simulator: SimulatorSettings,
    pub kafka: Option<KafkaSettings>,
}

/// Why the configuration cannot be used; every problem found is listed.
#[derive(Debug)]
pub struct ConfigLoadError(pub Vec<String>);

impl fmt::Display for ConfigLoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "the configuration has {} problem(s):", self.0.len())?;
        for p in &self.0 {
            writeln!(f, "  - {p}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigLoadError {}

/// Loads and validates the layered configuration. `env` is the process environment (passed in
/// so that tests need not touch the real one).
pub fn load(
    file: Option<&Path>,
    env: impl IntoIterator<Item = (String, String)>,
    overrides: &Overrides,
) -> Result<AppConfig, ConfigLoadError> {
    let merged = layered(file, env, overrides)?;
    let read = read::read_all(merged);
    let mut problems = read.problems;
    let Some(raw) = read.config else {
        return Err(ConfigLoadError(problems));
    };
    match raw.validate() {
        Ok(config) if problems.is_empty() => Ok(config),
        Ok(_) => Err(ConfigLoadError(problems)),
        Err(errors) => {
            problems.extend(errors.iter().map(|e| format!("{}: {}", e.key, e.message)));
            Err(ConfigLoadError(problems))
        }
    }
}

/// The configuration as one TOML table: the embedded default (which sets every key that has a
/// default), then `file` (its relative paths made relative to its folder), then the
/// `MODESHARE__*` variables of `env`, then `overrides`.
pub fn layered(
    file: Option<&Path>,
    env: impl IntoIterator<Item = (String, String)>,
    overrides: &Overrides,
) -> Result<toml::Table, ConfigLoadError> {
    let fail = |m: String| ConfigLoadError(vec![m]);
    let mut merged: toml::Table = DEFAULT_CONFIG
        .parse()
        .map_err(|e| fail(format!("embedded default: {e}")))?;
    if let Some(path) = file {
        let text =
            std::fs::read_to_string(path).map_err(|e| fail(format!("{}: {e}", path.display())))?;
        let mut layer: toml::Table = text
            .parse()
            .map_err(|e| fail(format!("{}: {e}", path.display())))?;
        let folder = path.parent().unwrap_or(Path::new(""));
        paths::resolve_relative_to(&mut layer, folder);
        // A survey is one table: a file's [survey] replaces the default's whole, so that the
        // shares of two surveys never mix.
        if layer.contains_key("survey") {
            merged.remove("survey");
        }
        merge(&mut merged, layer);
    }
    for (key, value) in env {
        if let Some(keys) = env_keys(&key) {
            set(&mut merged, &keys, env_value(&value)).map_err(|m| fail(format!("{key}: {m}")))?;
        }
    }
    if let Some(zones) = &overrides.zones {
        let zones = toml::Value::String(zones.display().to_string());
        set(&mut merged, &["spatial".into(), "zones".into()], zones).map_err(fail)?;
    }
    if let Some(gtfs) = &overrides.gtfs {
        let gtfs = toml::Value::String(gtfs.display().to_string());
        let keys = ["formats".into(), "tides".into(), "gtfs".into()];
        set(&mut merged, &keys, gtfs).map_err(fail)?;
    }
    if let Some(r) = overrides.resolution {
        set(
            &mut merged,
            &["spatial".into(), "resolution".into()],
            toml::Value::Integer(r.into()),
        )
        .map_err(fail)?;
    }
    let problems = secrets::read_secret_files(&mut merged);
    if !problems.is_empty() {
        return Err(ConfigLoadError(problems));
    }
    Ok(merged)
}

impl ConfigFile {
    /// Checks every section and reports every problem at once.
    pub fn validate(self) -> Result<AppConfig, ConfigErrors> {
        let mut errors = ConfigErrors::default();
        let listen = self.http.listen.parse().unwrap_or_else(|_| {
            errors.push(
                "http.listen",
                format!(
                    "{:?} is not an address like \"127.0.0.1:9464\"",
                    self.http.listen
                ),
            );
            std::net::SocketAddr::from(([127, 0, 0, 1], 9464))
        });
        let publish_interval = errors.duration(
            "http.publish_interval",
            &self.http.publish_interval,
            DurationMs(10)..=DurationMs(60_000),
        );
        let publish_interval = std::time::Duration::from_millis(publish_interval.0.unsigned_abs());
        let limits = self.http.limits.validate(&mut errors);
        let metrics_on = self.http.metrics_on;
        let admin = self.admin.validate(metrics_on, &mut errors);
        let shutdown_timeout = errors.duration(
            "run.shutdown_timeout",
            &self.run.shutdown_timeout,
            DurationMs(1000)..=DurationMs(600_000),
        );
        let shutdown_timeout = std::time::Duration::from_millis(shutdown_timeout.0.unsigned_abs());
        let simulator = self.simulator.validate(&mut errors);
        let state = self.state.validate(&mut errors);
        let view_interval = self.view.validate(&mut errors);
        let points = match &self.formats.trafikkdata.registration_points {
            None => RegistrationPoints::parse(DEFAULT_REGISTRATION_POINTS)
                .map_err(|e| format!("embedded registration points: {e}")),
            Some(path) => std::fs::read_to_string(path)
                .map_err(|e| format!("{path}: {e}"))
                .and_then(|text| {
                    RegistrationPoints::parse(&text).map_err(|e| format!("{path}: {e}"))
                }),
        };
        let points = points.unwrap_or_else(|e| {
            errors.push("formats.trafikkdata.registration_points", e);
            RegistrationPoints::default()
        });
        let gtfs = self.formats.tides.gtfs.as_ref().and_then(|path| {
            crate::gtfs::load(Path::new(path))
                .inspect(|feed| tracing::debug!("GTFS {path}: {}", feed.summary()))
                .map_err(|e| errors.push("formats.tides.gtfs", e.to_string()))
                .ok()
        });
        let formats = self.formats.validate(points, gtfs, &mut errors);
        let kafka = self.kafka.as_ref().map(|k| k.validate(&mut errors));
        if let Some(k) = &self.kafka {
            for (i, topic) in k.topics.iter().enumerate() {
                if let Err(e) = Format::parse(&topic.format, &formats) {
                    errors.push(format!("kafka.topics[{i}].format"), e.to_string());
                }
            }
        }
        let topic_format = |name: &str| {
            let topics = self
                .kafka
                .as_ref()
                .map(|k| k.topics.as_slice())
                .unwrap_or_default();
            topics
                .iter()
                .find(|t| t.name == name)
                .map(|t| t.format.clone())
        };
        let providers = providers::validate(&self.providers, &mut errors);
        for (i, p) in providers.iter().enumerate() {
            for o in &self.ingest.operators {
                if o.name == p.name {
                    errors.push(format!("providers[{i}].name"), format!("{:?} is also an operator's name: dead letters and metrics would mix them", p.name));
                }
                if o.sources.contains(&p.source) {
                    errors.push(
                        format!("providers[{i}].source"),
                        format!(
                            "{:?} is also written by operator {:?}: a source has one writer",
                            p.source, o.name
                        ),
                    );
                }
            }
        }
        let ingest = self.ingest.validate(
            kafka.as_ref(),
            &topic_format,
            !providers.is_empty(),
            &mut errors,
        );
        if self.input.max_line_bytes < 64 {
            errors.push("input.max_line_bytes", "must be at least 64 bytes");
        }
        let zones = match &self.spatial.zones {
            None => Zones::from_geojson(DEFAULT_ZONES).map_err(|e| format!("embedded zones: {e}")),
            Some(path) => std::fs::read_to_string(path)
                .map_err(|e| format!("{path}: {e}"))
                .and_then(|text| Zones::from_geojson(&text).map_err(|e| format!("{path}: {e}"))),
        };
        let zones = zones.unwrap_or_else(|e| {
            errors.push("spatial.zones", e);
            Zones::default()
        });
        let (stops, stops_source) = self.transit_access_stops(&mut errors);
        let settings = SettingsConfig {
            spatial: &self.spatial,
            groups: &self.groups,
            goals: &self.goals,
            survey: self.survey.as_ref(),
            counts: &self.counts,
            dedup: &self.dedup,
            windows: &self.windows,
            distance_bands: &self.distance_bands,
            transit_access: &self.transit_access,
            privacy: &self.privacy,
        }
        .validate(&zones, &stops, &stops_source, &mut errors);
        warn_without_stops_in_zones(&settings.access, &zones, &stops_source);
        errors.into_result(AppConfig {
            settings,
            zones,
            input: self.input,
            formats,
            listen,
            publish_interval,
            metrics_on,
            limits,
            admin,
            ingest,
            providers,
            shutdown_timeout,
            threads: usize::from(self.run.threads),
            state,
            view_interval,
            simulator,
            kafka,
        })
    }
}

impl ConfigFile {
    /// The stop rows of `[transit_access]` and where they come from: the file's, else (with no
    /// stops listed) the embedded Bærum stops.
    fn transit_access_stops(&self, errors: &mut ConfigErrors) -> (Vec<GtfsStop>, String) {
        let config = &self.transit_access;
        let (text, source) = match &config.stops_file {
            Some(path) => (crate::gtfs::load_stops(Path::new(path)), path.clone()),
            None if config.stops.is_empty() => (
                Ok(DEFAULT_STOPS.as_bytes().to_vec()),
                "the embedded Bærum stops".to_owned(),
            ),
            None => (Ok(Vec::new()), "transit_access.stops".to_owned()),
        };
        let rows = text
            .map_err(|e| e.to_string())
            .and_then(|t| {
                if t.is_empty() {
                    Ok(Vec::new())
                } else {
                    read_stop_rows(&t).map_err(|e| e.to_string())
                }
            })
            .unwrap_or_else(|e| {
                errors.push("transit_access.stops_file", e);
                Vec::new()
            });
        (rows, source)
    }
}

/// Warns when transit access is on but none of its stop places lies in a zone (another city
/// running on the Bærum default stops).
fn warn_without_stops_in_zones(access: &TransitAccess, zones: &Zones, source: &str) {
    let places = access.stops.places();
    if access.is_enabled() && !zones.is_empty() && places.iter().all(|p| p.zones.is_empty()) {
        tracing::warn!(
            "transit access: none of the {} stop places of {source} lies in a zone, so no \
             first or last mile will be found there; set transit_access.stops_file to the \
             city's GTFS feed",
            places.len()
        );
    }
}

/// Deep-merges `layer` into `base`: tables key by key, everything else replaced.
fn merge(base: &mut toml::Table, layer: toml::Table) {
    for (key, value) in layer {
        match (base.get_mut(&key), value) {
            (Some(toml::Value::Table(b)), toml::Value::Table(l)) => merge(b, l),
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
}

fn set(table: &mut toml::Table, keys: &[String], value: toml::Value) -> Result<(), String> {
    let Some((last, parents)) = keys.split_last() else {
        return Err("empty key".into());
    };
    let mut current = table;
    for k in parents {
        let entry = current
            .entry(k.clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        current = entry
            .as_table_mut()
            .ok_or_else(|| format!("`{k}` is not a section"))?;
    }
    current.insert(last.clone(), value);
    Ok(())
}

/// The key path a `MODESHARE__…` variable sets: `__` separates the levels, each lowercased,
/// and `_DOT_` inside a level is a dot (`MODESHARE__KAFKA__OPTIONS__SASL_DOT_PASSWORD` sets
/// `kafka.options."sasl.password"`; a dot in the name itself, where the environment allows
/// one, is kept). `None` for other variables.
pub fn env_keys(name: &str) -> Option<Vec<String>> {
    let path = name.strip_prefix(ENV_PREFIX)?;
    Some(
        path.split("__")
            .map(|level| level.to_lowercase().replace("_dot_", "."))
            .collect(),
    )
}

/// An environment value as TOML (`8`, `true`, `["bicycle"]`), else as a plain string.
fn env_value(raw: &str) -> toml::Value {
    format!("v = {raw}")
        .parse::<toml::Table>()
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.to_owned()))
}

mod ingest;
pub mod log;
mod paths;
mod providers;
mod read;
mod secrets;
pub mod show;

pub use ingest::{IngestConfig, IngestSettings, OperatorConfig};
pub use log::LogConfig;
pub use providers::{DEFAULT_LOOK_BACK, ProviderAuth, ProviderConfig, ProviderSettings};

#[cfg(test)]
mod tests;
