//! Configuration: defaults < optional TOML file < `CORTEX_*` environment variables and `.env`.
//!
//! Bad config refuses to start with one clear line (see [`ConfigError`]).

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable, coloured when on a terminal.
    #[default]
    Pretty,
    /// One JSON object per line, for log shippers.
    Json,
}

/// Everything Cortex reads at start-up.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Config {
    /// Address the HTTP server listens on (`CORTEX_ADDR`).
    pub addr: SocketAddr,
    /// Folder for the SQLite database, generated secrets, snapshots and spools (`CORTEX_DATA_DIR`).
    pub data_dir: PathBuf,
    /// `sqlite://…` or `postgres://…` (`DATABASE_URL` or `CORTEX_DATABASE_URL`). Empty: SQLite in the data dir.
    #[serde(default, skip_serializing)]
    pub database_url: Option<SecretString>,
    /// HS256 key for session tokens (`CORTEX_JWT_SECRET`). Empty: generated into `data_dir/jwt.key`.
    #[serde(default, skip_serializing)]
    pub jwt_secret: Option<SecretString>,
    /// URL people use to reach Cortex (`CORTEX_PUBLIC_URL`): printed links, and when it is
    /// https, `Secure` cookies and HSTS. (The CSRF check compares a write's `Origin` with the
    /// host the request was sent to, not with this.)
    #[serde(default)]
    pub public_url: Option<String>,
    /// How long a sign-in lasts (`CORTEX_SESSION_TTL`, e.g. `12h`).
    #[serde(with = "humantime_serde")]
    pub session_ttl: Duration,
    /// Largest accepted request body in bytes (`CORTEX_MAX_BODY_BYTES`).
    pub max_body_bytes: usize,
    /// Failed sign-ins allowed per client address and per username in `login_window` (`CORTEX_LOGIN_MAX_FAILURES`).
    pub login_max_failures: u32,
    /// Window for the sign-in limit (`CORTEX_LOGIN_WINDOW`, e.g. `5m`).
    #[serde(with = "humantime_serde")]
    pub login_window: Duration,
    /// Mark cookies `Secure` (`CORTEX_SECURE_COOKIES`). Defaults to true when `public_url` is https.
    #[serde(default)]
    pub secure_cookies: Option<bool>,
    /// `pretty` or `json` (`CORTEX_LOG_FORMAT`).
    pub log_format: LogFormat,
    /// Log filter in `RUST_LOG` syntax (`CORTEX_LOG`).
    pub log: String,
    /// Largest pause between database reconnect attempts (`CORTEX_DB_RETRY_MAX`).
    #[serde(with = "humantime_serde")]
    pub db_retry_max: Duration,
    /// How often a running hub checks its database (`CORTEX_DB_CHECK_INTERVAL`).
    #[serde(with = "humantime_serde")]
    pub db_check_interval: Duration,
    /// How often neurons are asked to heartbeat (`CORTEX_HEARTBEAT_INTERVAL`).
    #[serde(with = "humantime_serde")]
    pub heartbeat_interval: Duration,
    /// How often the decision engine looks at running experiments whose policy is `auto`
    /// (`CORTEX_DECIDE_INTERVAL`; at least a minute). The policy's minimum runtime and
    /// sample, not this, keep it from deciding early.
    #[serde(with = "humantime_serde")]
    pub decide_interval: Duration,
    /// How often guarded rule changes are checked against their page's conversion before
    /// the change (`CORTEX_GUARD_INTERVAL`; at least 10 seconds).
    #[serde(with = "humantime_serde")]
    pub guard_interval: Duration,
    /// Silence after which a neuron is `unhealthy` (`CORTEX_NEURON_UNHEALTHY_AFTER`).
    #[serde(with = "humantime_serde")]
    pub neuron_unhealthy_after: Duration,
    /// Silence after which an unhealthy, unpinned neuron is `retired` (`CORTEX_NEURON_RETIRE_AFTER`).
    #[serde(with = "humantime_serde")]
    pub neuron_retire_after: Duration,
    /// Lifetime of a neuron token; neurons refresh it by heartbeating (`CORTEX_NEURON_TOKEN_TTL`).
    #[serde(with = "humantime_serde")]
    pub neuron_token_ttl: Duration,
    /// Events per second one neuron may send, sustained; over it gets 429 (`CORTEX_NEURON_EVENTS_PER_SECOND`).
    pub neuron_events_per_second: u32,
    /// Registrations one source address may send per minute, sustained (a minute's worth
    /// at once); over it gets 429 (`CORTEX_REGISTRATIONS_PER_MINUTE`). A pending neuron asks
    /// again every heartbeat interval, so leave room for the neurons behind one address.
    pub registrations_per_minute: u32,
    /// Most neurons waiting for approval; a new registration past it gets 503 and raises an
    /// alert (`CORTEX_MAX_PENDING_NEURONS`).
    pub max_pending_neurons: u32,
    /// Browser neurons one publishable key may join per minute, sustained (a minute's worth
    /// at once); over it gets 429 (`CORTEX_BROWSER_JOINS_PER_MINUTE`). The key sits in public
    /// pages, so this bounds what anyone holding it can add, from any number of addresses.
    pub browser_joins_per_minute: u32,
    /// Let the hub probe neuron endpoints on loopback addresses (`CORTEX_PROBE_ALLOW_LOOPBACK`;
    /// for one machine running hub and neurons). Link-local and cloud metadata addresses are
    /// never probed.
    pub probe_allow_loopback: bool,
    /// Bytes of analytics spooled but not yet in the database before batches are refused with 503 (`CORTEX_SPOOL_MAX_BYTES`).
    pub spool_max_bytes: u64,
    /// Seed the demo storefront (`/shop`) into a database that has no layout yet (`CORTEX_DEMO_SHOP`).
    pub demo_shop: bool,
    /// Bearer token `/metrics` asks for (`CORTEX_METRICS_TOKEN`). Empty: `/metrics` is open.
    #[serde(default, skip_serializing)]
    pub metrics_token: Option<SecretString>,
    /// Key of the audit chain, at least 32 characters (`CORTEX_AUDIT_KEY`). Empty: generated
    /// into `data_dir/audit.key`. Hubs sharing a database must share it.
    #[serde(default, skip_serializing)]
    pub audit_key: Option<SecretString>,
    /// Where alerts go (`CORTEX_ALERT_WEBHOOK_URL`, http or https): every decision Cortex
    /// takes by itself and every change a guard rolls back, as signed JSON. Empty: none.
    /// Kept secret: such URLs often carry a token.
    #[serde(default, skip_serializing)]
    pub alert_webhook_url: Option<SecretString>,
    /// The key alerts are signed with, at least 16 characters (`CORTEX_ALERT_WEBHOOK_SECRET`);
    /// needed with a webhook URL.
    #[serde(default, skip_serializing)]
    pub alert_webhook_secret: Option<SecretString>,
    /// An OpenAI-compatible API the suggestion engine also asks for draft rules
    /// (`CORTEX_LLM_URL`, its base, e.g. `http://127.0.0.1:8000/v1`). Empty: none (the
    /// default). Kept secret: such URLs may carry a token.
    #[serde(default, skip_serializing)]
    pub llm_url: Option<SecretString>,
    /// The model to ask (`CORTEX_LLM_MODEL`); needed with a URL.
    pub llm_model: Option<String>,
    /// The API's key, sent as a bearer token (`CORTEX_LLM_API_KEY`; keep it in `.env`).
    #[serde(default, skip_serializing)]
    pub llm_api_key: Option<SecretString>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 3000)),
            data_dir: PathBuf::from("data"),
            database_url: None,
            jwt_secret: None,
            public_url: None,
            session_ttl: Duration::from_secs(12 * 3600),
            max_body_bytes: 1024 * 1024,
            login_max_failures: 10,
            login_window: Duration::from_secs(300),
            secure_cookies: None,
            log_format: LogFormat::Pretty,
            log: "info,sqlx=warn".into(),
            db_retry_max: Duration::from_secs(30),
            db_check_interval: Duration::from_secs(5),
            heartbeat_interval: Duration::from_secs(15),
            decide_interval: Duration::from_secs(3600),
            guard_interval: Duration::from_secs(300),
            neuron_unhealthy_after: Duration::from_secs(45),
            neuron_retire_after: Duration::from_secs(24 * 3600),
            neuron_token_ttl: Duration::from_secs(15 * 60),
            neuron_events_per_second: 20_000,
            registrations_per_minute: 120,
            max_pending_neurons: 1_000,
            probe_allow_loopback: false,
            browser_joins_per_minute: 1_200,
            spool_max_bytes: 1024 * 1024 * 1024,
            demo_shop: true,
            metrics_token: None,
            audit_key: None,
            alert_webhook_url: None,
            alert_webhook_secret: None,
            llm_url: None,
            llm_model: None,
            llm_api_key: None,
        }
    }
}

/// Why the configuration cannot be used. Printed as one line.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration: {0}")]
    Invalid(String),
}

/// Which database a URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// `sqlite` or `postgres`.
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// The http or https URL in the setting `name`, if it is set (empty counts as unset).
fn http_url(raw: Option<&SecretString>, name: &str) -> Result<Option<url::Url>, ConfigError> {
    use secrecy::ExposeSecret;
    let Some(raw) = raw
        .map(|u| u.expose_secret().trim())
        .filter(|u| !u.is_empty())
    else {
        return Ok(None);
    };
    url::Url::parse(raw)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
        .map(Some)
        .ok_or_else(|| ConfigError::Invalid(format!("{name} must be an http or https URL")))
}

impl Config {
    /// The alert webhook's URL and signing key, if one is set; why not, if they are wrong.
    pub fn alert_webhook(&self) -> Result<Option<(url::Url, SecretString)>, ConfigError> {
        use secrecy::ExposeSecret;
        let Some(url) = http_url(self.alert_webhook_url.as_ref(), "CORTEX_ALERT_WEBHOOK_URL")?
        else {
            return Ok(None);
        };
        let secret = self
            .alert_webhook_secret
            .clone()
            .filter(|s| s.expose_secret().trim().len() >= 16)
            .ok_or_else(|| {
                ConfigError::Invalid(
                    "CORTEX_ALERT_WEBHOOK_SECRET must be at least 16 characters when CORTEX_ALERT_WEBHOOK_URL is set (receivers check the signature with it)".into(),
                )
            })?;
        Ok(Some((url, secret)))
    }

    /// The language model the suggestion engine asks, if one is set: its base URL, model
    /// and key; why not, if they are wrong.
    #[allow(clippy::type_complexity)]
    pub fn llm(&self) -> Result<Option<(url::Url, String, Option<SecretString>)>, ConfigError> {
        use secrecy::ExposeSecret;
        let Some(url) = http_url(self.llm_url.as_ref(), "CORTEX_LLM_URL")? else {
            return Ok(None);
        };
        let model = self
            .llm_model
            .as_deref()
            .map(str::trim)
            .filter(|m| !m.is_empty() && m.len() <= 200)
            .ok_or_else(|| {
                ConfigError::Invalid(
                    "CORTEX_LLM_MODEL must name the model (1 to 200 characters) when CORTEX_LLM_URL is set".into(),
                )
            })?;
        let key = self
            .llm_api_key
            .clone()
            .filter(|k| !k.expose_secret().trim().is_empty());
        Ok(Some((url, model.to_string(), key)))
    }

    /// Loads defaults, then `file` (or `CORTEX_CONFIG`) if given, then `.env` and the environment.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        // A missing .env is normal; a malformed one is worth refusing.
        if let Err(e) = dotenvy::dotenv() {
            if !e.not_found() {
                return Err(ConfigError::Invalid(format!(".env: {e}")));
            }
        }
        let file = file
            .map(Path::to_path_buf)
            .or_else(|| std::env::var_os("CORTEX_CONFIG").map(PathBuf::from));
        Self::from_figment(Self::figment(file.as_deref()))
    }

    /// The layered sources, without reading `.env` (tests use this with their own env).
    pub fn figment(file: Option<&Path>) -> Figment {
        let mut f = Figment::from(Serialized::defaults(Config::default()));
        if let Some(path) = file {
            f = f.merge(Toml::file_exact(path));
        }
        f.merge(
            Env::raw()
                .only(&["DATABASE_URL"])
                .map(|_| "database_url".into()),
        )
        .merge(Env::prefixed("CORTEX_").ignore(&["CONFIG"]))
    }

    /// Extracts and validates a config from layered sources.
    pub fn from_figment(f: Figment) -> Result<Self, ConfigError> {
        let cfg: Config = f
            .extract()
            .map_err(|e| ConfigError::Invalid(one_line(&e)))?;
        cfg.validate()?;
        Ok(cfg)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        self.backend()?;
        if self.max_body_bytes < 1024 {
            return Err(ConfigError::Invalid(
                "CORTEX_MAX_BODY_BYTES must be at least 1024".into(),
            ));
        }
        if let Some(t) = &self.metrics_token {
            use secrecy::ExposeSecret;
            if t.expose_secret().trim().len() < 16 {
                return Err(ConfigError::Invalid(
                    "CORTEX_METRICS_TOKEN must be at least 16 characters (or unset, for an open /metrics)".into(),
                ));
            }
        }
        if self.session_ttl < Duration::from_secs(60) {
            return Err(ConfigError::Invalid(
                "CORTEX_SESSION_TTL must be at least 1m".into(),
            ));
        }
        self.alert_webhook()?;
        self.llm()?;
        if self.guard_interval < Duration::from_secs(10) {
            return Err(ConfigError::Invalid(
                "CORTEX_GUARD_INTERVAL must be at least 10s".into(),
            ));
        }
        if self.decide_interval < Duration::from_secs(60) {
            return Err(ConfigError::Invalid(
                "CORTEX_DECIDE_INTERVAL must be at least 1m".into(),
            ));
        }
        if self.heartbeat_interval < Duration::from_secs(1) {
            return Err(ConfigError::Invalid(
                "CORTEX_HEARTBEAT_INTERVAL must be at least 1s".into(),
            ));
        }
        if self.neuron_unhealthy_after <= self.heartbeat_interval {
            return Err(ConfigError::Invalid(
                "CORTEX_NEURON_UNHEALTHY_AFTER must be longer than CORTEX_HEARTBEAT_INTERVAL (3x is a good start)".into(),
            ));
        }
        if self.neuron_retire_after <= self.neuron_unhealthy_after {
            return Err(ConfigError::Invalid(
                "CORTEX_NEURON_RETIRE_AFTER must be longer than CORTEX_NEURON_UNHEALTHY_AFTER"
                    .into(),
            ));
        }
        if self.neuron_token_ttl <= self.heartbeat_interval {
            return Err(ConfigError::Invalid(
                "CORTEX_NEURON_TOKEN_TTL must be longer than CORTEX_HEARTBEAT_INTERVAL".into(),
            ));
        }
        if self.neuron_events_per_second == 0 {
            return Err(ConfigError::Invalid(
                "CORTEX_NEURON_EVENTS_PER_SECOND must be at least 1".into(),
            ));
        }
        if self.registrations_per_minute == 0
            || self.max_pending_neurons == 0
            || self.browser_joins_per_minute == 0
        {
            return Err(ConfigError::Invalid(
                "CORTEX_REGISTRATIONS_PER_MINUTE, CORTEX_MAX_PENDING_NEURONS and CORTEX_BROWSER_JOINS_PER_MINUTE must be at least 1"
                    .into(),
            ));
        }
        if self.spool_max_bytes < 1024 * 1024 {
            return Err(ConfigError::Invalid(
                "CORTEX_SPOOL_MAX_BYTES must be at least 1048576 (1 MiB)".into(),
            ));
        }
        if let Some(url) = &self.public_url {
            let parsed = url::Url::parse(url).map_err(|e| {
                ConfigError::Invalid(format!("CORTEX_PUBLIC_URL `{url}` is not a URL: {e}"))
            })?;
            if !matches!(parsed.scheme(), "http" | "https") {
                return Err(ConfigError::Invalid(format!(
                    "CORTEX_PUBLIC_URL `{url}` must start with http:// or https://"
                )));
            }
        }
        if let Some(key) = &self.audit_key {
            use secrecy::ExposeSecret;
            if key.expose_secret().trim().len() < 32 {
                return Err(ConfigError::Invalid(
                    "CORTEX_AUDIT_KEY must be at least 32 characters (or unset, to keep one in the data dir)".into(),
                ));
            }
        }
        if let Some(secret) = &self.jwt_secret {
            use secrecy::ExposeSecret;
            if secret.expose_secret().len() < 32 {
                return Err(ConfigError::Invalid(
                    "CORTEX_JWT_SECRET must be at least 32 characters".into(),
                ));
            }
        }
        Ok(())
    }

    /// The database URL in force: the configured one, or SQLite in the data dir.
    pub fn database_url(&self) -> String {
        use secrecy::ExposeSecret;
        match &self.database_url {
            Some(url) if !url.expose_secret().trim().is_empty() => {
                url.expose_secret().trim().to_string()
            }
            _ => format!("sqlite://{}", self.data_dir.join("cortex.db").display()),
        }
    }

    /// Which backend the database URL names; refuses unknown schemes.
    pub fn backend(&self) -> Result<Backend, ConfigError> {
        let url = self.database_url();
        let scheme = url.split(':').next().unwrap_or_default();
        match scheme {
            "sqlite" => Ok(Backend::Sqlite),
            "postgres" | "postgresql" => Ok(Backend::Postgres),
            other => Err(ConfigError::Invalid(format!(
                "DATABASE_URL has unknown scheme `{other}`: use sqlite://PATH or postgres://USER@HOST/DB"
            ))),
        }
    }

    /// Whether cookies carry the `Secure` flag.
    pub fn cookies_secure(&self) -> bool {
        self.secure_cookies.unwrap_or_else(|| {
            self.public_url
                .as_deref()
                .is_some_and(|u| u.starts_with("https://"))
        })
    }

    /// The base URL for links printed to the operator.
    pub fn base_url(&self, bound: SocketAddr) -> String {
        match &self.public_url {
            Some(u) => u.trim_end_matches('/').to_string(),
            None => format!("http://{bound}"),
        }
    }
}

fn one_line(e: &figment::Error) -> String {
    let mut s = e.to_string();
    if let Some(key) = e.path.last() {
        if !s.contains(key.as_str()) {
            s = format!("{s} (key `{}`, env CORTEX_{})", key, key.to_uppercase());
        }
    }
    s.replace('\n', " ")
}

#[cfg(test)]
#[allow(clippy::result_large_err)] // figment's Jail closures return figment::Error
mod tests {
    use super::*;
    use figment::Jail;

    #[test]
    fn defaults_use_sqlite_in_the_data_dir() {
        let cfg = Config::default();
        assert_eq!(cfg.backend().unwrap(), Backend::Sqlite);
        assert!(cfg.database_url().ends_with("data/cortex.db"));
    }

    #[test]
    fn env_overrides_file_overrides_defaults() {
        Jail::expect_with(|jail| {
            jail.create_file(
                "cortex.toml",
                "addr = \"0.0.0.0:4000\"\nlog_format = \"json\"\n",
            )?;
            jail.set_env("CORTEX_ADDR", "127.0.0.1:5000");
            jail.set_env("DATABASE_URL", "postgres://postgres@127.0.0.1/cortex");
            let cfg =
                Config::from_figment(Config::figment(Some(Path::new("cortex.toml")))).unwrap();
            assert_eq!(cfg.addr.port(), 5000);
            assert_eq!(cfg.log_format, LogFormat::Json);
            assert_eq!(cfg.backend().unwrap(), Backend::Postgres);
            Ok(())
        });
    }

    #[test]
    fn bad_values_give_one_clear_line() {
        Jail::expect_with(|jail| {
            jail.set_env("CORTEX_ADDR", "not-an-address");
            let err = Config::from_figment(Config::figment(None))
                .unwrap_err()
                .to_string();
            assert!(err.contains("addr"), "{err}");
            assert!(!err.contains('\n'));
            Ok(())
        });
        Jail::expect_with(|jail| {
            jail.set_env("DATABASE_URL", "mysql://root@localhost/x");
            let err = Config::from_figment(Config::figment(None))
                .unwrap_err()
                .to_string();
            assert!(err.contains("unknown scheme `mysql`"), "{err}");
            Ok(())
        });
        Jail::expect_with(|jail| {
            jail.set_env("CORTEX_JWT_SECRET", "short");
            assert!(Config::from_figment(Config::figment(None)).is_err());
            Ok(())
        });
        // The alert webhook: an http(s) URL, and a signing key with it.
        for (url, secret, wants) in [
            (
                "file:///etc/passwd",
                "a-long-enough-secret",
                "CORTEX_ALERT_WEBHOOK_URL",
            ),
            (
                "https://hooks.example/cortex",
                "",
                "CORTEX_ALERT_WEBHOOK_SECRET",
            ),
            (
                "https://hooks.example/cortex",
                "short",
                "CORTEX_ALERT_WEBHOOK_SECRET",
            ),
        ] {
            Jail::expect_with(|jail| {
                jail.set_env("CORTEX_ALERT_WEBHOOK_URL", url);
                jail.set_env("CORTEX_ALERT_WEBHOOK_SECRET", secret);
                let err = Config::from_figment(Config::figment(None))
                    .unwrap_err()
                    .to_string();
                assert!(err.contains(wants), "{url}: {err}");
                Ok(())
            });
        }
        Jail::expect_with(|jail| {
            jail.set_env("CORTEX_ALERT_WEBHOOK_URL", "https://hooks.example/cortex");
            jail.set_env("CORTEX_ALERT_WEBHOOK_SECRET", "a-long-enough-secret");
            let cfg = Config::from_figment(Config::figment(None)).unwrap();
            assert!(cfg.alert_webhook().unwrap().is_some());
            Ok(())
        });
    }
}
