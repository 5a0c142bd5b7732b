//! Connections per environment: which Stripe account (or the sandbox) the
//! running paywire speaks to, chosen by `PAYWIRE_ENV`, as WeWeb has Editor,
//! Staging and Production.
//!
//! Keys come from the environment (`STRIPE_SECRET_KEY`,
//! `STRIPE_WEBHOOK_SECRET`, `STRIPE_API_BASE`) or from a config file kept out
//! of version control (`--config`), never from the workflow YAML. The key
//! guard refuses a live key outside production and a test key (or no key) in
//! production, so that a test cannot move real money and production cannot
//! quietly take fake payments. Secrets are [`Secret`]s, whose `Debug` and
//! `Display` print no secret.

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use paywire_model::yaml::{self, Node};
pub use paywire_support::Secret;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Environment {
    Development,
    Staging,
    Production,
}

impl Environment {
    pub const NAMES: &'static [&'static str] = &["development", "staging", "production"];

    pub fn name(self) -> &'static str {
        match self {
            Environment::Development => "development",
            Environment::Staging => "staging",
            Environment::Production => "production",
        }
    }
}

impl FromStr for Environment {
    type Err = ConfigError;

    fn from_str(s: &str) -> Result<Environment, ConfigError> {
        match s.trim().to_ascii_lowercase().as_str() {
            "development" | "dev" | "editor" => Ok(Environment::Development),
            "staging" => Ok(Environment::Staging),
            "production" | "prod" => Ok(Environment::Production),
            _ => Err(ConfigError::UnknownEnvironment(s.to_string())),
        }
    }
}

impl fmt::Display for Environment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Whether a Stripe key moves real money.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyMode {
    Test,
    Live,
}

/// The Stripe account of one environment.
#[derive(Clone, Debug)]
pub struct StripeConnection {
    pub secret_key: Secret,
    pub mode: KeyMode,
    /// Stripe's API (`https://api.stripe.com`) unless another is set.
    pub api_base: String,
    /// Where the key came from, for messages (`STRIPE_SECRET_KEY`).
    pub key_source: String,
}

/// What the environment resolves to.
#[derive(Clone, Debug)]
pub struct Connections {
    pub environment: Environment,
    /// `None`: no key, so paywire serves and uses its sandbox.
    pub stripe: Option<StripeConnection>,
    /// The webhook signing secrets (`whsec_…`; several, comma-separated, while
    /// one is rolled).
    pub webhook_secrets: Vec<Secret>,
    /// Where Stripe sends this environment's events.
    pub webhook_path: String,
}

pub const DEFAULT_WEBHOOK_PATH: &str = "/webhooks/stripe";

pub const STRIPE_API: &str = "https://api.stripe.com";

#[derive(Debug, PartialEq, thiserror::Error)]
pub enum ConfigError {
    #[error(
        "PAYWIRE_ENV is `{0}`, which is not an environment; use one of development, staging, production"
    )]
    UnknownEnvironment(String),
    #[error(
        "{origin} is a live key ({kind}…) but PAYWIRE_ENV is {environment}: live keys move real money, so paywire takes them only in production. Use a test key (sk_test_…) here, or set PAYWIRE_ENV=production"
    )]
    LiveKeyOutsideProduction {
        origin: String,
        kind: String,
        environment: Environment,
    },
    #[error(
        "{origin} is a test key ({kind}…) but PAYWIRE_ENV is production: production must take real payments. Set the live key (sk_live_… or rk_live_…)"
    )]
    TestKeyInProduction { origin: String, kind: String },
    #[error(
        "PAYWIRE_ENV is production but no Stripe key is set: production never runs on the sandbox. Set STRIPE_SECRET_KEY (or `secret_key` for production in the config file)"
    )]
    NoKeyInProduction,
    #[error("{origin} is not a Stripe secret key: {why}")]
    NotASecretKey { origin: String, why: String },
    #[error(
        "{origin} is `{path}`, which is not a webhook path: it starts with `/` and has only letters, digits and / - _ . ~"
    )]
    WebhookPath { origin: String, path: String },
    #[error("{0}")]
    File(String),
}

/// The webhook signing secrets in `text` (`STRIPE_WEBHOOK_SECRET`): several,
/// comma-separated, while one is rolled, the new one first.
pub fn webhook_secrets(text: &str) -> Vec<Secret> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(Secret::new)
        .collect()
}

/// Reads the connections of `environment` from the variables (`vars` looks
/// one up) and the config file, if there is one; variables win.
pub fn resolve(
    environment: Environment,
    vars: &dyn Fn(&str) -> Option<String>,
    file: Option<&Path>,
) -> Result<Connections, ConfigError> {
    let from_file = match file {
        Some(path) => read_file(path, environment)?,
        None => FileSettings::default(),
    };
    let var = |name: &str| vars(name).filter(|v| !v.trim().is_empty());
    let key = match var("STRIPE_SECRET_KEY") {
        Some(key) => Some((key.trim().to_string(), "STRIPE_SECRET_KEY".to_string())),
        None => from_file.secret_key,
    };
    let api_base = var("STRIPE_API_BASE")
        .or(from_file.api_base)
        .unwrap_or_else(|| STRIPE_API.to_string());
    let webhook_secrets: Vec<Secret> = var("STRIPE_WEBHOOK_SECRET")
        .or(from_file.webhook_secret)
        .map(|text| webhook_secrets(&text))
        .unwrap_or_default();
    let (webhook_path, path_origin) = match var("PAYWIRE_WEBHOOK_PATH") {
        Some(path) => (path, "PAYWIRE_WEBHOOK_PATH".to_string()),
        None => from_file
            .webhook_path
            .unwrap_or_else(|| (DEFAULT_WEBHOOK_PATH.to_string(), String::new())),
    };
    let webhook_path = webhook_path.trim().to_string();
    if !is_plain_path(&webhook_path) {
        return Err(ConfigError::WebhookPath {
            origin: path_origin,
            path: webhook_path,
        });
    }
    let stripe = match key {
        None if environment == Environment::Production => {
            return Err(ConfigError::NoKeyInProduction);
        }
        None => None,
        Some((key, source)) => {
            let secret = Secret::new(key);
            let mode = key_mode(&secret, &source)?;
            guard(environment, mode, &secret, &source)?;
            Some(StripeConnection {
                secret_key: secret,
                mode,
                api_base,
                key_source: source,
            })
        }
    };
    Ok(Connections {
        environment,
        stripe,
        webhook_secrets,
        webhook_path,
    })
}

/// A fixed path: it starts with `/` and has no parameters or wildcards.
pub fn is_plain_path(path: &str) -> bool {
    path.starts_with('/')
        && path.len() > 1
        && path
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/-_.~".contains(c))
}

/// Whether `key` is a test or a live secret (or restricted) key.
fn key_mode(key: &Secret, source: &str) -> Result<KeyMode, ConfigError> {
    let text = key.expose();
    let refuse = |why: &str| ConfigError::NotASecretKey {
        origin: source.to_string(),
        why: why.to_string(),
    };
    let mode = if text.starts_with("sk_test_") || text.starts_with("rk_test_") {
        KeyMode::Test
    } else if text.starts_with("sk_live_") || text.starts_with("rk_live_") {
        KeyMode::Live
    } else if text.starts_with("pk_") {
        return Err(refuse(
            "it is a publishable key (pk_…), which only front ends use; paywire needs the secret key (sk_…)",
        ));
    } else if text.starts_with("whsec_") {
        return Err(refuse(
            "it is a webhook signing secret (whsec_…); that one goes in STRIPE_WEBHOOK_SECRET",
        ));
    } else {
        return Err(refuse(
            "secret keys start with sk_test_, sk_live_, rk_test_ or rk_live_",
        ));
    };
    if text.len() < 12 || text.chars().any(|c| c.is_whitespace()) {
        return Err(refuse("it is too short or has spaces in it"));
    }
    Ok(mode)
}

fn guard(
    environment: Environment,
    mode: KeyMode,
    key: &Secret,
    source: &str,
) -> Result<(), ConfigError> {
    match (environment, mode) {
        (Environment::Production, KeyMode::Live) => Ok(()),
        (Environment::Production, KeyMode::Test) => Err(ConfigError::TestKeyInProduction {
            origin: source.to_string(),
            kind: key.kind().to_string(),
        }),
        (_, KeyMode::Live) => Err(ConfigError::LiveKeyOutsideProduction {
            origin: source.to_string(),
            kind: key.kind().to_string(),
            environment,
        }),
        (_, KeyMode::Test) => Ok(()),
    }
}

#[derive(Default)]
struct FileSettings {
    secret_key: Option<(String, String)>,
    webhook_secret: Option<String>,
    api_base: Option<String>,
    webhook_path: Option<(String, String)>,
}

/// Reads the config file: `environments.<name>.stripe.{secret_key,
/// webhook_secret, api_base}`. Every problem is reported, each with its
/// position.
fn read_file(path: &Path, environment: Environment) -> Result<FileSettings, ConfigError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError::File(format!("{shown}: cannot be read: {e}")))?;
    let root = match yaml::parse(&text) {
        Ok(Some(root)) => root,
        Ok(None) => return Ok(FileSettings::default()),
        Err(e) => {
            return Err(ConfigError::File(format!("{shown}:{}: {e}", e.pos())));
        }
    };
    let mut problems = Vec::new();
    let mut settings = FileSettings::default();
    let mut problem = |node: &Node, at: &str, message: String| {
        problems.push(format!("{shown}:{}: {at}: {message}", node.pos));
    };
    let Some(top) = root.as_map() else {
        problem(
            &root,
            "(top)",
            "the config file is a mapping with `environments`".into(),
        );
        return Err(ConfigError::File(problems.join("\n")));
    };
    for entry in top {
        if entry.key != "environments" {
            problem(
                &entry.value,
                &entry.key,
                "unknown key; the file has `environments`".into(),
            );
            continue;
        }
        let Some(environments) = entry.value.as_map() else {
            problem(
                &entry.value,
                "environments",
                "must be a mapping of environment names".into(),
            );
            continue;
        };
        for env in environments {
            let at = format!("environments.{}", env.key);
            if !Environment::NAMES.contains(&env.key.as_str()) {
                problem(
                    &env.value,
                    &at,
                    format!("unknown environment; use {}", Environment::NAMES.join(", ")),
                );
                continue;
            }
            let Some(sections) = env.value.as_map() else {
                problem(&env.value, &at, "must be a mapping with `stripe`".into());
                continue;
            };
            for section in sections {
                let at = format!("{at}.{}", section.key);
                if section.key != "stripe" {
                    problem(&section.value, &at, "unknown key; use `stripe`".into());
                    continue;
                }
                let Some(fields) = section.value.as_map() else {
                    problem(&section.value, &at, "must be a mapping".into());
                    continue;
                };
                for field in fields {
                    let at = format!("{at}.{}", field.key);
                    let Some(value) = field.value.as_str().map(str::to_string) else {
                        problem(
                            &field.value,
                            &at,
                            format!("must be a string, found {}", field.value.kind_name()),
                        );
                        continue;
                    };
                    let this_environment = env.key == environment.name();
                    match field.key.as_str() {
                        "secret_key" if this_environment => {
                            settings.secret_key = Some((value, format!("{shown}: {at}")));
                        }
                        "webhook_secret" if this_environment => {
                            settings.webhook_secret = Some(value)
                        }
                        "api_base" if this_environment => settings.api_base = Some(value),
                        "webhook_path" if this_environment => {
                            settings.webhook_path = Some((value, format!("{shown}: {at}")));
                        }
                        "secret_key" | "webhook_secret" | "api_base" | "webhook_path" => {}
                        _ => problem(
                            &field.value,
                            &at,
                            "unknown key; use secret_key, webhook_secret, api_base, webhook_path"
                                .into(),
                        ),
                    }
                }
            }
        }
    }
    if problems.is_empty() {
        Ok(settings)
    } else {
        Err(ConfigError::File(problems.join("\n")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        }
    }

    #[test]
    fn no_key_outside_production_means_the_sandbox() {
        let c = resolve(Environment::Development, &vars(&[]), None).unwrap();
        assert!(c.stripe.is_none());
        assert_eq!(
            resolve(Environment::Production, &vars(&[]), None).unwrap_err(),
            ConfigError::NoKeyInProduction
        );
    }

    #[test]
    fn the_key_guard_matches_keys_to_environments() {
        let live = vars(&[("STRIPE_SECRET_KEY", "sk_live_0123456789abcdef")]);
        let test = vars(&[("STRIPE_SECRET_KEY", "rk_test_0123456789abcdef")]);
        let e = resolve(Environment::Staging, &live, None).unwrap_err();
        assert!(matches!(e, ConfigError::LiveKeyOutsideProduction { .. }));
        let message = e.to_string();
        assert!(
            message
                .contains("STRIPE_SECRET_KEY is a live key (sk_live_…) but PAYWIRE_ENV is staging"),
            "{message}"
        );
        assert!(!message.contains("0123456789"), "{message}");
        let e = resolve(Environment::Production, &test, None).unwrap_err();
        assert!(
            e.to_string()
                .contains("is a test key (rk_test_…) but PAYWIRE_ENV is production")
        );
        assert_eq!(
            resolve(Environment::Production, &live, None)
                .unwrap()
                .stripe
                .unwrap()
                .mode,
            KeyMode::Live
        );
        assert_eq!(
            resolve(Environment::Development, &test, None)
                .unwrap()
                .stripe
                .unwrap()
                .mode,
            KeyMode::Test
        );
    }

    #[test]
    fn keys_that_are_not_secret_keys_are_named() {
        for (key, why) in [
            ("pk_test_0123456789abcdef", "publishable key"),
            ("whsec_0123456789abcdef", "webhook signing secret"),
            ("hello", "start with sk_test_"),
            ("sk_test_1", "too short"),
        ] {
            let e = resolve(
                Environment::Development,
                &vars(&[("STRIPE_SECRET_KEY", key)]),
                None,
            )
            .unwrap_err()
            .to_string();
            assert!(e.contains(why), "{key}: {e}");
            assert!(
                e.starts_with("STRIPE_SECRET_KEY is not a Stripe secret key"),
                "{e}"
            );
        }
    }

    #[test]
    fn the_config_file_gives_each_environment_its_keys_and_variables_win() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("paywire.config.yaml");
        std::fs::write(
            &path,
            "environments:\n  development:\n    stripe:\n      secret_key: sk_test_from_the_file_123\n      api_base: http://localhost:12111\n  production:\n    stripe:\n      secret_key: sk_live_from_the_file_123\n      webhook_secret: whsec_prod\n      webhook_path: /hooks/live\n",
        )
        .unwrap();
        let dev = resolve(Environment::Development, &vars(&[]), Some(&path)).unwrap();
        let stripe = dev.stripe.unwrap();
        assert_eq!(stripe.secret_key.expose(), "sk_test_from_the_file_123");
        assert_eq!(stripe.api_base, "http://localhost:12111");
        assert!(
            stripe
                .key_source
                .ends_with("environments.development.stripe.secret_key")
        );
        let prod = resolve(Environment::Production, &vars(&[]), Some(&path)).unwrap();
        assert_eq!(prod.webhook_secrets[0].expose(), "whsec_prod");
        assert_eq!(prod.webhook_path, "/hooks/live");
        assert_eq!(dev.webhook_path, DEFAULT_WEBHOOK_PATH);
        assert_eq!(prod.stripe.unwrap().api_base, STRIPE_API);
        let overridden = resolve(
            Environment::Development,
            &vars(&[("STRIPE_SECRET_KEY", "sk_test_from_the_variable")]),
            Some(&path),
        )
        .unwrap();
        assert_eq!(overridden.stripe.unwrap().key_source, "STRIPE_SECRET_KEY");
    }

    #[test]
    fn every_problem_of_the_config_file_is_reported_with_its_position() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.yaml");
        std::fs::write(
            &path,
            "environments:\n  devel:\n    stripe: {}\n  staging:\n    stripe:\n      secret: x\n      api_base: 3\n",
        )
        .unwrap();
        let ConfigError::File(message) =
            resolve(Environment::Development, &vars(&[]), Some(&path)).unwrap_err()
        else {
            panic!("a file error")
        };
        let lines: Vec<&str> = message.lines().collect();
        assert_eq!(lines.len(), 3, "{message}");
        assert!(lines[0].ends_with(":3:5: environments.devel: unknown environment; use development, staging, production"), "{message}");
        assert!(lines[1].ends_with(":6:15: environments.staging.stripe.secret: unknown key; use secret_key, webhook_secret, api_base, webhook_path"), "{message}");
        assert!(
            lines[2].ends_with(
                ":7:17: environments.staging.stripe.api_base: must be a string, found an integer"
            ),
            "{message}"
        );
    }

    #[test]
    fn webhook_secrets_roll_and_paths_are_checked() {
        let c = resolve(
            Environment::Development,
            &vars(&[
                ("STRIPE_WEBHOOK_SECRET", "whsec_new, whsec_old"),
                ("PAYWIRE_WEBHOOK_PATH", "/hooks/stripe-live"),
            ]),
            None,
        )
        .unwrap();
        let secrets: Vec<&str> = c.webhook_secrets.iter().map(Secret::expose).collect();
        assert_eq!(secrets, vec!["whsec_new", "whsec_old"]);
        assert_eq!(c.webhook_path, "/hooks/stripe-live");
        for bad in ["hooks", "/", "/a/{id}", "/a b", "/a/*rest"] {
            let e = resolve(
                Environment::Development,
                &vars(&[("PAYWIRE_WEBHOOK_PATH", bad)]),
                None,
            )
            .unwrap_err();
            assert!(matches!(e, ConfigError::WebhookPath { .. }), "{bad}: {e}");
        }
    }

    #[test]
    fn secrets_print_only_their_kind() {
        let secret = Secret::new("sk_live_abcdef123456");
        assert_eq!(format!("{secret}"), "sk_live_****");
        assert_eq!(format!("{secret:?}"), "Secret(sk_live_****)");
        assert_eq!(Secret::new("whsec_abc").to_string(), "whsec_****");
        assert_eq!(Secret::new("token").to_string(), "****");
    }
}
