//! Who may use paywire's own endpoints, the admin API and the console, and
//! from where: the one check every one of their handlers goes through (the
//! [`Admin`] extractor), the console's sessions, and the sign-in's limit.
//! Its refusals are [`AdminError`]s, the errors of the endpoints it guards,
//! so that every answer of paywire's own surface has one shape.
//!
//! - With `PAYWIRE_ADMIN_TOKEN` set, a request carries the token as
//!   `Authorization: Bearer …` (the scheme in any case), or the console's
//!   session cookie that signing in with the token gave.
//! - Without a token, they are open only when paywire runs its sandbox on
//!   loopback (a builder's own machine), and then only to requests addressed
//!   to a loopback host: a page elsewhere that points a name of its own at
//!   127.0.0.1 (DNS rebinding) sends its own `Host`, and is refused.
//! - In every mode, a request that changes something (anything but GET, HEAD
//!   and OPTIONS) is refused when a browser says it comes from another
//!   origin (`Origin`, `Sec-Fetch-Site`), so that another site cannot make a
//!   signed-in browser retry runs or replay events (CSRF). Requests without
//!   those headers come from tools such as curl and `paywire`, not from a
//!   page, and pass.
//!
//! A session cookie is `ID.EXPIRES.MAC`: a random id, its expiry (Unix
//! seconds) and an HMAC-SHA256 of both keyed with the token. It never holds
//! the token, stops working when the token changes or the session expires,
//! and signing out records its id in the store, so that a copied cookie is
//! refused from then on, on every instance and after restarts.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, header};
use cookie::{Cookie, SameSite};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use super::AdminError;
use crate::app::App;

pub const COOKIE: &str = "paywire_console";
/// How long a console session lasts after signing in.
pub const SESSION_LENGTH: Duration = Duration::from_secs(12 * 60 * 60);
/// Sign-in attempts that may fail in a burst, after which one more is
/// allowed every [`SIGN_IN_REFILL`].
const SIGN_IN_BURST: f64 = 10.0;
const SIGN_IN_REFILL: Duration = Duration::from_secs(3);

/// A handler that takes `Admin` runs only for requests the admin API and
/// the console are open to (see the module's documentation).
pub struct Admin;

impl FromRequestParts<Arc<App>> for Admin {
    type Rejection = AdminError;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<Admin, AdminError> {
        check(app, &parts.method, &parts.headers).await?;
        Ok(Admin)
    }
}

/// The whole check: the origin of a change, then who is asking.
pub async fn check(app: &App, method: &Method, headers: &HeaderMap) -> Result<(), AdminError> {
    same_origin(method, headers)?;
    let settings = app.settings();
    let Some(token) = &settings.admin_token else {
        if !settings.admin_open_without_token {
            return Err(AdminError::Off);
        }
        let host = request_host(headers).unwrap_or_default();
        if !is_loopback_host(host) {
            return Err(AdminError::ForeignHost(host.to_string()));
        }
        return Ok(());
    };
    let token = token.expose();
    if bearer(headers).is_some_and(|given| same_secret(given, token)) {
        return Ok(());
    }
    if let Some(session) = session_of(headers, token) {
        let signed_out = app
            .store()
            .session_signed_out(session.id)
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "could not read the console's sessions");
                AdminError::Internal
            })?;
        if !signed_out {
            return Ok(());
        }
    }
    Err(AdminError::Unauthorized)
}

/// Refuses a change that a browser says comes from another origin.
pub fn same_origin(method: &Method, headers: &HeaderMap) -> Result<(), AdminError> {
    if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return Ok(());
    }
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(site) = text("sec-fetch-site")
        && !matches!(site, "same-origin" | "none")
    {
        return Err(AdminError::CrossOrigin(format!("a {site} page")));
    }
    let Some(origin) = headers.get(header::ORIGIN) else {
        return Ok(());
    };
    let origin = origin.to_str().unwrap_or("");
    // `Origin` is `scheme://host[:port]`, which must name the host the
    // request was sent to (as the browser wrote it in `Host`, or as a proxy
    // in front of paywire passed it on).
    let origin_host = origin.split_once("://").map(|(_, host)| host);
    let own = text("x-forwarded-host").or_else(|| request_host(headers));
    match (origin_host, own) {
        (Some(theirs), Some(ours)) if theirs.eq_ignore_ascii_case(ours) => Ok(()),
        _ => Err(AdminError::CrossOrigin(format!("`{origin}`"))),
    }
}

fn request_host(headers: &HeaderMap) -> Option<&str> {
    headers.get(header::HOST).and_then(|v| v.to_str().ok())
}

/// Whether `host` (a `Host` header: a name or address, maybe a port) is a
/// loopback host.
pub fn is_loopback_host(host: &str) -> bool {
    let name = if let Some(rest) = host.strip_prefix('[') {
        match rest.split_once(']') {
            Some((inside, after)) if after.is_empty() || after.starts_with(':') => inside,
            _ => return false,
        }
    } else {
        host.rsplit_once(':').map_or(host, |(name, _)| name)
    };
    name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Whether the request reached a loopback host over plain HTTP, the one case
/// where the cookie goes without `Secure` (paywire speaks plain HTTP; a
/// `Secure` cookie would be dropped there by some browsers, and loopback
/// traffic never leaves the machine). Behind a TLS proxy,
/// `X-Forwarded-Proto: https` keeps it `Secure`.
pub fn plain_loopback(headers: &HeaderMap) -> bool {
    let forwarded_https = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("https"));
    !forwarded_https && request_host(headers).is_some_and(is_loopback_host)
}

/// The credentials of `Authorization: Bearer …`; the scheme's name is
/// case-insensitive, as HTTP says.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, credentials) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| credentials.trim())
}

/// Compares in constant time, so that the time taken says nothing about how
/// much of a guess was right.
pub fn same_secret(given: &str, expected: &str) -> bool {
    given.as_bytes().ct_eq(expected.as_bytes()).into()
}

/// A console session, as its cookie carries it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    pub id: String,
    /// Unix seconds.
    pub expires_at: i64,
}

fn session_mac(token: &str, id: &str, expires_at: i64) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(token.as_bytes())
        .expect("HMAC takes keys of any length");
    mac.update(format!("paywire console session v2\n{id}\n{expires_at}").as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

impl Session {
    /// A new session that ends [`SESSION_LENGTH`] after `now`.
    pub fn new(now: i64) -> Session {
        Session {
            id: uuid::Uuid::new_v4().simple().to_string(),
            expires_at: now.saturating_add(SESSION_LENGTH.as_secs() as i64),
        }
    }

    /// The cookie's value for this session under `token`.
    pub fn cookie_value(&self, token: &str) -> String {
        format!(
            "{}.{}.{}",
            self.id,
            self.expires_at,
            session_mac(token, &self.id, self.expires_at)
        )
    }

    /// The session a cookie's value carries, if `token` signed it and it
    /// has not expired at `now`.
    pub fn verify(value: &str, token: &str, now: i64) -> Option<Session> {
        let mut parts = value.splitn(3, '.');
        let (id, expires, mac) = (parts.next()?, parts.next()?, parts.next()?);
        let expires_at: i64 = expires.parse().ok()?;
        let genuine = same_secret(mac, &session_mac(token, id, expires_at));
        (genuine && now < expires_at).then(|| Session {
            id: id.to_string(),
            expires_at,
        })
    }
}

/// The session of the request's console cookie, if it has a valid one.
pub fn session_of(headers: &HeaderMap, token: &str) -> Option<Session> {
    let now = chrono::Utc::now().timestamp();
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .filter(|c| c.name() == COOKIE)
        .find_map(|c| Session::verify(c.value(), token, now))
}

/// The `Set-Cookie` value that starts `session` (`None`: that ends it).
pub fn set_cookie(headers: &HeaderMap, session: Option<(&Session, &str)>) -> String {
    let value = session.map_or(String::new(), |(s, token)| s.cookie_value(token));
    let mut cookie = Cookie::build((COOKIE, value))
        .path("/")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(!plain_loopback(headers));
    cookie = match session {
        Some(_) => cookie.max_age(cookie::time::Duration::seconds(
            SESSION_LENGTH.as_secs() as i64
        )),
        None => cookie.max_age(cookie::time::Duration::ZERO),
    };
    cookie.build().to_string()
}

/// The limit on failed sign-ins: a bucket of [`SIGN_IN_BURST`] attempts,
/// refilled by one every [`SIGN_IN_REFILL`]. It counts every client
/// together, so that guessing from many addresses is no faster; while it is
/// empty the bearer token still works.
pub struct SignInLimit {
    bucket: Mutex<(f64, Instant)>,
}

impl Default for SignInLimit {
    fn default() -> SignInLimit {
        SignInLimit {
            bucket: Mutex::new((SIGN_IN_BURST, Instant::now())),
        }
    }
}

impl SignInLimit {
    fn refilled(&self) -> std::sync::MutexGuard<'_, (f64, Instant)> {
        let mut bucket = self.bucket.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let earned = now.duration_since(bucket.1).as_secs_f64() / SIGN_IN_REFILL.as_secs_f64();
        *bucket = ((bucket.0 + earned).min(SIGN_IN_BURST), now);
        bucket
    }

    /// Whether an attempt may be checked now; else how long to wait.
    pub fn admit(&self) -> Result<(), AdminError> {
        let bucket = self.refilled();
        if bucket.0 >= 1.0 {
            return Ok(());
        }
        let wait = (1.0 - bucket.0) * SIGN_IN_REFILL.as_secs_f64();
        Err(AdminError::TooManyAttempts(wait.ceil().max(1.0) as u64))
    }

    /// Counts a failed attempt.
    pub fn failed(&self) {
        let mut bucket = self.refilled();
        bucket.0 = (bucket.0 - 1.0).max(0.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (name, value) in pairs {
            h.append(*name, HeaderValue::from_str(value).unwrap());
        }
        h
    }

    #[test]
    fn a_session_cookie_holds_no_token_and_verifies_until_it_expires() {
        let session = Session::new(1_000);
        let value = session.cookie_value("secret-token");
        assert!(!value.contains("secret-token"));
        assert_eq!(
            Session::verify(&value, "secret-token", 1_001),
            Some(session.clone())
        );
        assert_eq!(Session::verify(&value, "other-token", 1_001), None);
        assert_eq!(
            Session::verify(&value, "secret-token", session.expires_at),
            None
        );
        // A later expiry written into the cookie breaks its MAC.
        let forged = value.replacen(
            &session.expires_at.to_string(),
            &(session.expires_at + 1_000_000).to_string(),
            1,
        );
        assert_eq!(Session::verify(&forged, "secret-token", 1_001), None);
        for junk in ["", "a", "a.b", "a.1", "a.1.", "..", "a.x.y", "é.1.ü"] {
            assert_eq!(Session::verify(junk, "secret-token", 1_001), None, "{junk}");
        }
    }

    #[test]
    fn the_cookie_is_found_among_others() {
        let session = Session::new(chrono::Utc::now().timestamp());
        let value = session.cookie_value("t");
        let h = headers(&[("cookie", &format!("a=1; {COOKIE}={value} ; b=2"))]);
        assert_eq!(session_of(&h, "t"), Some(session));
        assert_eq!(session_of(&headers(&[("cookie", "a=1")]), "t"), None);
    }

    #[test]
    fn secrets_compare_whole() {
        assert!(same_secret("secret", "secret"));
        assert!(!same_secret("secret", "secreT"));
        assert!(!same_secret("secret", "secret2"));
        assert!(!same_secret("", "x"));
    }

    #[test]
    fn the_bearer_scheme_is_case_insensitive() {
        for value in ["Bearer tok", "bearer tok", "BEARER  tok "] {
            assert_eq!(bearer(&headers(&[("authorization", value)])), Some("tok"));
        }
        assert_eq!(bearer(&headers(&[("authorization", "Basic tok")])), None);
        assert_eq!(bearer(&headers(&[("authorization", "Bearertok")])), None);
    }

    #[test]
    fn loopback_hosts() {
        for host in [
            "127.0.0.1:8080",
            "localhost:3000",
            "LOCALHOST",
            "[::1]:3000",
            "127.9.9.9",
        ] {
            assert!(is_loopback_host(host), "{host}");
        }
        for host in [
            "attacker.example",
            "localhost.attacker.example",
            "10.0.0.2:80",
            "[::1]x",
            "",
            "[",
        ] {
            assert!(!is_loopback_host(host), "{host}");
        }
        let h = |host: &str, proto: Option<&str>| {
            let mut pairs = vec![("host", host)];
            if let Some(p) = proto {
                pairs.push(("x-forwarded-proto", p));
            }
            plain_loopback(&headers(&pairs))
        };
        assert!(h("127.0.0.1:8080", None));
        assert!(!h("localhost:3000", Some("https")));
        assert!(!h("pay.example.com", None));
    }

    #[test]
    fn changes_from_other_origins_are_refused() {
        let post = Method::POST;
        let own = [("host", "127.0.0.1:8080")];
        assert!(same_origin(&post, &headers(&own)).is_ok());
        let with = |extra: &[(&'static str, &str)]| {
            let mut pairs = own.to_vec();
            pairs.extend_from_slice(extra);
            same_origin(&post, &headers(&pairs))
        };
        assert!(with(&[("origin", "http://127.0.0.1:8080")]).is_ok());
        assert!(with(&[("sec-fetch-site", "same-origin")]).is_ok());
        assert!(with(&[("origin", "http://attacker.example")]).is_err());
        assert!(with(&[("origin", "null")]).is_err());
        assert!(with(&[("origin", "http://127.0.0.1:9999")]).is_err());
        assert!(with(&[("sec-fetch-site", "cross-site")]).is_err());
        assert!(with(&[("sec-fetch-site", "same-site")]).is_err());
        // Reads are not changes.
        assert!(
            same_origin(
                &Method::GET,
                &headers(&[("origin", "http://attacker.example")])
            )
            .is_ok()
        );
        // Behind a proxy, the host the browser used is the forwarded one.
        let proxied = headers(&[
            ("host", "10.0.0.5:8080"),
            ("x-forwarded-host", "pay.example.com"),
            ("origin", "https://pay.example.com"),
        ]);
        assert!(same_origin(&post, &proxied).is_ok());
    }

    #[test]
    fn failed_sign_ins_are_limited() {
        let limit = SignInLimit::default();
        for _ in 0..SIGN_IN_BURST as usize {
            assert!(limit.admit().is_ok());
            limit.failed();
        }
        match limit.admit() {
            Err(AdminError::TooManyAttempts(wait)) => assert!((1..=3).contains(&wait), "{wait}"),
            other => panic!("{other:?}"),
        }
    }
}
