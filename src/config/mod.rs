//! Settings: built-in defaults < optional TOML file < `CASTELLAN_*` environment.

mod duration;
mod security;

use std::{net::SocketAddr, path::Path};

pub use duration::Duration;
pub use security::{Cookies, Cors, Limits};

use figment::{
    Figment,
    providers::{Env, Format, Serialized, Toml},
};
use serde::{Deserialize, Deserializer, Serialize};

mod accounts;
pub use accounts::{Accounts, Audit, Mail, Mfa};
mod oidc;
pub use oidc::Oidc;
mod federation;
pub use federation::{ClaimMapping, Federation, Provider as FederationProvider};
mod cache;
pub use cache::Cache;
mod metrics;
pub use metrics::Metrics;
mod docs;
pub use docs::Docs;

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    pub server: Server,
    pub database: Database,
    pub redis: Redis,
    pub tokens: Tokens,
    pub passwords: Passwords,
    pub api: Api,
    pub smtp: Smtp,
    pub mail: Mail,
    pub accounts: Accounts,
    pub mfa: Mfa,
    pub audit: Audit,
    pub log: Log,
    pub cookies: Cookies,
    pub cors: Cors,
    pub limits: Limits,
    pub federation: Federation,
    pub testing: Testing,
    pub oidc: Oidc,
    pub cache: Cache,
    pub metrics: Metrics,
    pub docs: Docs,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Server {
    pub bind: String,
    pub public_url: String,
    /// Upper bound for one request, database waits included.
    pub request_timeout: Duration,
    /// Proxies (addresses or CIDR ranges) whose `X-Forwarded-For` / `Forwarded` are believed.
    #[serde(deserialize_with = "list_or_csv")]
    pub trusted_proxies: Vec<String>,
    /// `Strict-Transport-Security` max-age; 0 sends no HSTS header.
    pub hsts_max_age: Duration,
    /// On SIGTERM/SIGINT, how long in-flight requests may run before their connections are cut.
    pub shutdown_timeout: Duration,
}

impl Default for Server {
    fn default() -> Self {
        Self {
            bind: "127.0.0.1:8000".into(),
            public_url: "http://localhost:8000".into(),
            request_timeout: Duration::secs(30),
            trusted_proxies: Vec::new(),
            hsts_max_age: Duration::secs(0),
            shutdown_timeout: Duration::secs(20),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Database {
    pub url: String,
    pub max_connections: u32,
    /// How long a request waits for a pooled connection before answering 503.
    pub acquire_timeout: Duration,
    /// When SQLite flushes a commit to the disk (ignored on PostgreSQL).
    pub sqlite_synchronous: SqliteSynchronous,
}

impl Default for Database {
    fn default() -> Self {
        Self {
            url: "sqlite://castellan.db".into(),
            max_connections: 16,
            acquire_timeout: Duration::secs(5),
            sqlite_synchronous: SqliteSynchronous::Full,
        }
    }
}

/// When SQLite flushes a commit to the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SqliteSynchronous {
    /// At every commit: an acknowledged write survives a crash of the process and of the
    /// machine (power loss).
    Full,
    /// At checkpoints only: an acknowledged write survives a crash of the process; a power
    /// loss can forget the last commits.
    Normal,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Redis {
    pub url: Option<String>,
    /// Namespace for keys and channels, so deployments can share one Redis.
    pub prefix: String,
}

impl Default for Redis {
    fn default() -> Self {
        Self {
            url: None,
            prefix: "castellan".into(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Algorithm {
    EdDSA,
    RS256,
    ES256,
    HS256,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    Body,
    Cookie,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Tokens {
    pub access_ttl: Duration,
    pub refresh_ttl: Duration,
    pub algorithm: Algorithm,
    pub secret: Option<String>,
    pub refresh_reuse_grace: Duration,
    pub legacy_hs256_secret: Option<String>,
    pub transport: Transport,
    /// `aud` of access tokens; the issuer URL when unset.
    pub audience: Option<String>,
    /// Clock skew tolerated on `nbf` and `iat` between instances. `exp` is exact.
    pub leeway: Duration,
}

impl Default for Tokens {
    fn default() -> Self {
        Self {
            access_ttl: Duration::secs(3600),
            refresh_ttl: Duration::secs(7 * 86400),
            algorithm: Algorithm::EdDSA,
            secret: None,
            refresh_reuse_grace: Duration::secs(10),
            legacy_hs256_secret: None,
            transport: Transport::Body,
            audience: None,
            leeway: Duration::secs(5),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Passwords {
    /// argon2id memory cost in KiB (OWASP: 19456).
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
    /// Hashes computed at once; 0 means one per CPU core.
    pub workers: usize,
    /// Hash requests allowed to wait for a worker before the server answers 503.
    pub queue: usize,
}

impl Passwords {
    /// The largest argon2 costs Castellan computes, for its own setting and for stored
    /// hashes alike: a setting above them would write hashes its own verifier refuses.
    pub const MAX_MEMORY_KIB: u32 = 1 << 20;
    pub const MAX_ITERATIONS: u32 = 64;
    pub const MAX_PARALLELISM: u32 = 64;
}

impl Default for Passwords {
    fn default() -> Self {
        Self {
            memory_kib: 19456,
            iterations: 2,
            parallelism: 1,
            workers: 0,
            queue: 32,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Api {
    pub native: NativeApi,
    pub simplejwt: SimpleJwtApi,
    pub envelope: EnvelopeApi,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NativeApi {
    #[serde(deserialize_with = "list_or_csv")]
    pub prefixes: Vec<String>,
}

impl Default for NativeApi {
    fn default() -> Self {
        Self {
            prefixes: vec!["/auth".into(), "/auth/v1".into()],
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SimpleJwtApi {
    pub prefix: String,
    pub rotate_refresh: bool,
    pub extras: bool,
}

impl Default for SimpleJwtApi {
    fn default() -> Self {
        Self {
            prefix: "/api".into(),
            rotate_refresh: false,
            extras: false,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EnvelopeApi {
    pub prefix: String,
}

impl Default for EnvelopeApi {
    fn default() -> Self {
        Self {
            prefix: "/api/auth".into(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Smtp {
    pub url: Option<String>,
    pub from: String,
}

impl Default for Smtp {
    fn default() -> Self {
        Self {
            url: None,
            from: "castellan@localhost".into(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Log {
    pub format: LogFormat,
    /// A `tracing` filter directive, e.g. `info` or `castellan=debug`.
    pub level: String,
}

impl Default for Log {
    fn default() -> Self {
        Self {
            format: LogFormat::Text,
            level: "info".into(),
        }
    }
}

/// Switches that exist only so black-box tests can drive time. Never enable in production.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Testing {
    /// Mounts `POST /__test/clock` which moves the server's clock forward.
    pub clock_control: bool,
}

/// A configuration error that names the offending key.
#[derive(Debug, thiserror::Error)]
#[error("invalid setting `{key}`: {reason}")]
pub struct SettingError {
    pub key: &'static str,
    pub reason: String,
}

impl Settings {
    /// Layers defaults, the TOML file (if any) and the environment, then validates.
    pub fn load(file: Option<&Path>) -> anyhow::Result<Self> {
        let mut figment = Figment::from(Serialized::defaults(Settings::default()));
        if let Some(path) = file {
            if !path.exists() {
                anyhow::bail!("configuration file {} does not exist", path.display());
            }
            figment = figment.merge(Toml::file(path));
        }
        // Every setting is nested, so only `CASTELLAN_SECTION__KEY` names are settings;
        // this leaves `CASTELLAN_CONFIG` and similar top-level variables alone.
        let env = Env::prefixed("CASTELLAN_")
            .filter(|key| key.as_str().contains("__"))
            .split("__");
        let settings: Settings = figment
            .merge(env)
            .extract()
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        settings.validate()?;
        Ok(settings)
    }

    pub fn validate(&self) -> Result<(), SettingError> {
        let bad = |key, reason: &str| {
            Err(SettingError {
                key,
                reason: reason.into(),
            })
        };
        if self.server.bind.parse::<SocketAddr>().is_err() {
            return bad("server.bind", "expected an address like 127.0.0.1:8000");
        }
        let url = &self.server.public_url;
        if !(url.starts_with("http://") || url.starts_with("https://")) || url.ends_with('/') {
            return bad(
                "server.public_url",
                "expected an http(s) URL without a trailing slash",
            );
        }
        if !(self.database.url.starts_with("sqlite:")
            || self.database.url.starts_with("postgres://")
            || self.database.url.starts_with("postgresql://"))
        {
            return bad("database.url", "expected sqlite://FILE or postgres://…");
        }
        if self
            .redis
            .url
            .as_ref()
            .is_some_and(|u| !(u.starts_with("redis://") || u.starts_with("rediss://")))
        {
            return bad("redis.url", "expected redis://HOST:PORT");
        }
        if self.server.shutdown_timeout.0.is_zero() {
            return bad("server.shutdown_timeout", "must be longer than zero");
        }
        if self.database.max_connections == 0 {
            return bad("database.max_connections", "must be at least 1");
        }
        if self.tokens.access_ttl.0.is_zero() {
            return bad("tokens.access_ttl", "must be longer than zero");
        }
        if self.tokens.refresh_ttl.0.is_zero() {
            return bad("tokens.refresh_ttl", "must be longer than zero");
        }
        let short = |s: &Option<String>| s.as_ref().is_some_and(|s| s.len() < 32);
        if self.tokens.algorithm == Algorithm::HS256 && self.tokens.secret.is_none() {
            return bad("tokens.secret", "required when tokens.algorithm is HS256");
        }
        if short(&self.tokens.secret) {
            return bad("tokens.secret", "must be at least 32 bytes");
        }
        if self
            .tokens
            .legacy_hs256_secret
            .as_ref()
            .is_some_and(|s| s.is_empty())
        {
            return bad("tokens.legacy_hs256_secret", "must not be empty");
        }
        let p = &self.passwords;
        if p.memory_kib < 8 * p.parallelism.max(1)
            || p.memory_kib > Passwords::MAX_MEMORY_KIB
            || !(1..=Passwords::MAX_ITERATIONS).contains(&p.iterations)
            || !(1..=Passwords::MAX_PARALLELISM).contains(&p.parallelism)
        {
            return bad(
                "passwords",
                "argon2 parameters out of range (memory_kib at most 1048576 and at least 8 per lane, iterations 1-64, parallelism 1-64)",
            );
        }
        for prefix in &self.api.native.prefixes {
            check_prefix("api.native.prefixes", prefix)?;
        }
        check_prefix("api.simplejwt.prefix", &self.api.simplejwt.prefix)?;
        check_prefix("api.envelope.prefix", &self.api.envelope.prefix)?;
        for proxy in &self.server.trusted_proxies {
            if proxy.parse::<ipnet::IpNet>().is_err() && proxy.parse::<std::net::IpAddr>().is_err()
            {
                return bad(
                    "server.trusted_proxies",
                    "expected IP addresses or CIDR ranges",
                );
            }
        }
        self.cors.validate()?;
        self.limits.validate()?;
        self.oidc.validate()?;
        self.federation.validate()?;
        if self
            .smtp
            .url
            .as_ref()
            .is_some_and(|u| !(u.starts_with("smtp://") || u.starts_with("smtps://")))
        {
            return bad("smtp.url", "expected smtp://HOST:PORT or smtps://HOST:PORT");
        }
        accounts::validate(&self.accounts, &self.mail, &self.mfa)?;
        self.metrics.validate()?;
        if tracing_subscriber::EnvFilter::try_new(&self.log.level).is_err() {
            return bad("log.level", "not a valid filter directive");
        }
        Ok(())
    }

    pub fn issuer(&self) -> &str {
        &self.server.public_url
    }

    pub fn audience(&self) -> &str {
        self.tokens
            .audience
            .as_deref()
            .unwrap_or(&self.server.public_url)
    }
}

fn check_prefix(key: &'static str, prefix: &str) -> Result<(), SettingError> {
    let ok = prefix.is_empty()
        || (prefix.starts_with('/')
            && !prefix.ends_with('/')
            && prefix
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"/-_.".contains(&b)));
    if ok {
        Ok(())
    } else {
        Err(SettingError {
            key,
            reason: format!("`{prefix}` must be empty or a path like /auth (no trailing slash)"),
        })
    }
}

pub(crate) fn list_or_csv<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum ListOrCsv {
        List(Vec<String>),
        Csv(String),
    }
    Ok(match ListOrCsv::deserialize(d)? {
        ListOrCsv::List(list) => list,
        ListOrCsv::Csv(csv) => csv
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect(),
    })
}
