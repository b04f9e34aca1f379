//! Rate limits, the same in every service that answers HTTP: per API key, per participant
//! token, and per client address for requests that carry neither (unsubscribe links, the
//! event feed, the mail intake). Each is a GCRA quota (`600/min`: up to 600 at once, then
//! one every 100 ms). With `REDIS_URL` the state lives in Redis and one atomic script
//! decides, so a limit holds across replicas; without it, in this process. Over the
//! limit: `429` with `Retry-After`; every answer carries the IETF `RateLimit-Policy` and
//! `RateLimit` headers (draft-ietf-httpapi-ratelimit-headers). When Redis cannot be
//! reached, requests are let through (and a warning logged): a limiter must not take the
//! API down with it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use actix_web::Error;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use data_encoding::HEXLOWER;
use sha2::{Digest, Sha256};

use crate::SecretUrl;

/// A malformed rate-limit setting.
#[derive(Debug, thiserror::Error)]
#[error("{name}: {reason}")]
pub struct QuotaError {
    name: &'static str,
    reason: String,
}

/// How many requests per window: `count` at once, then one every `window / count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    /// Requests allowed in a burst (and per window on average).
    pub count: u32,
    /// The window.
    pub window: Duration,
}

impl Quota {
    /// Parses `N/s`, `N/min` or `N/h`; `off` (or `0`) is no limit.
    pub fn parse(name: &'static str, raw: &str) -> Result<Option<Self>, QuotaError> {
        let raw = raw.trim();
        if raw.eq_ignore_ascii_case("off") || raw == "0" {
            return Ok(None);
        }
        let error = || QuotaError {
            name,
            reason: format!("`{raw}` is not N/s, N/min, N/h or off"),
        };
        let (count, unit) = raw.split_once('/').ok_or_else(error)?;
        let count: u32 = count.trim().parse().map_err(|_| error())?;
        let window = match unit.trim() {
            "s" | "sec" | "second" => Duration::from_secs(1),
            "min" | "minute" => Duration::from_secs(60),
            "h" | "hour" => Duration::from_secs(3600),
            _ => return Err(error()),
        };
        if count == 0 {
            return Ok(None);
        }
        Ok(Some(Self { count, window }))
    }

    fn interval_micros(self) -> i64 {
        i64::try_from(self.window.as_micros() / u128::from(self.count))
            .unwrap_or(i64::MAX)
            .max(1)
    }

    fn tolerance_micros(self) -> i64 {
        self.interval_micros()
            .saturating_mul(i64::from(self.count.saturating_sub(1)))
    }

    /// `RateLimit-Policy` for this quota under `name`.
    fn policy(self, name: &str) -> String {
        format!("\"{name}\";q={};w={}", self.count, self.window.as_secs())
    }
}

/// The limits a service applies (`RATE_LIMIT_*`, `REDIS_URL`).
#[derive(Debug, Clone, PartialEq)]
pub struct RateLimitConfig {
    /// Per API key (`RATE_LIMIT_PER_KEY`, default `1000/s`).
    pub per_key: Option<Quota>,
    /// Per participant token (`RATE_LIMIT_PER_TOKEN`, default `20/s`).
    pub per_token: Option<Quota>,
    /// Per client address, for requests with neither (`RATE_LIMIT_PER_ADDRESS`,
    /// default `300/s`).
    pub per_address: Option<Quota>,
    /// Take the client address from `X-Forwarded-For` / `Forwarded`
    /// (`RATE_LIMIT_TRUST_FORWARDED`, default false): set it only behind a proxy that
    /// overwrites them (the gateway does), or anyone can pick their own address.
    pub trust_forwarded: bool,
    /// Redis shared by every replica (`REDIS_URL`); in-process without.
    pub redis_url: Option<SecretUrl>,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        let quota = |count, secs| {
            Some(Quota {
                count,
                window: Duration::from_secs(secs),
            })
        };
        Self {
            per_key: quota(1000, 1),
            per_token: quota(20, 1),
            per_address: quota(300, 1),
            trust_forwarded: false,
            redis_url: None,
        }
    }
}

impl RateLimitConfig {
    /// Reads the settings through `lookup` (an environment), defaults for what is unset.
    pub fn from_lookup(lookup: &dyn Fn(&str) -> Option<String>) -> Result<Self, QuotaError> {
        let defaults = Self::default();
        let quota = |name: &'static str, default: Option<Quota>| match lookup(name) {
            Some(raw) if !raw.trim().is_empty() => Quota::parse(name, &raw),
            _ => Ok(default),
        };
        let trust_forwarded = match lookup("RATE_LIMIT_TRUST_FORWARDED")
            .as_deref()
            .map(str::trim)
        {
            None | Some("" | "false" | "0" | "no") => false,
            Some("true" | "1" | "yes") => true,
            Some(other) => {
                return Err(QuotaError {
                    name: "RATE_LIMIT_TRUST_FORWARDED",
                    reason: format!("`{other}` is not true or false"),
                });
            }
        };
        Ok(Self {
            per_key: quota("RATE_LIMIT_PER_KEY", defaults.per_key)?,
            per_token: quota("RATE_LIMIT_PER_TOKEN", defaults.per_token)?,
            per_address: quota("RATE_LIMIT_PER_ADDRESS", defaults.per_address)?,
            trust_forwarded,
            redis_url: lookup("REDIS_URL")
                .filter(|u| !u.trim().is_empty())
                .map(|u| SecretUrl::new(u.trim().to_owned())),
        })
    }
}

/// What one request is counted against.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Bucket {
    /// `key`, `token` or `address`: the policy's name in the headers.
    policy: &'static str,
    /// The state's key: the policy and a hash of the credential (never the credential).
    id: String,
    quota: Quota,
}

/// The decision about one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Decision {
    allowed: bool,
    /// Requests still allowed at once.
    remaining: u32,
    /// Until the quota is whole again (allowed) or the next request may pass (refused).
    wait: Duration,
}

/// GCRA on a theoretical arrival time (`tat`, µs). Returns the decision and the new `tat`
/// to store (unchanged when refused). Redis runs the same steps in [`GCRA_SCRIPT`].
fn gcra(now: i64, stored_tat: Option<i64>, quota: Quota) -> (Decision, i64) {
    let interval = quota.interval_micros();
    let tolerance = quota.tolerance_micros();
    let tat = stored_tat.unwrap_or(now).max(now);
    if tat - now > tolerance {
        let wait = tat - now - tolerance;
        return (
            Decision {
                allowed: false,
                remaining: 0,
                wait: micros(wait),
            },
            tat,
        );
    }
    let new_tat = tat + interval;
    (decision_after(now, new_tat, quota), new_tat)
}

fn decision_after(now: i64, new_tat: i64, quota: Quota) -> Decision {
    let interval = quota.interval_micros();
    let budget = quota.tolerance_micros() - (new_tat - now - interval);
    Decision {
        allowed: true,
        remaining: u32::try_from((budget / interval).max(0)).unwrap_or(u32::MAX),
        wait: micros(new_tat - now),
    }
}

fn micros(n: i64) -> Duration {
    Duration::from_micros(u64::try_from(n).unwrap_or(0))
}

fn now_micros() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

/// The GCRA step in Redis, atomic: KEYS[1] the bucket, ARGV interval and tolerance (µs).
/// Uses Redis's clock, so replicas with skewed clocks agree. Returns {allowed, a, b}:
/// allowed → {1, new tat - now}; refused → {0, wait}.
const GCRA_SCRIPT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
if tat - now > tolerance then
  return {0, tat - now - tolerance}
end
local new_tat = tat + interval
redis.call('SET', KEYS[1], string.format('%d', new_tat), 'PX', math.ceil((new_tat - now) / 1000) + 1000)
return {1, new_tat - now}
";

/// Where the state lives.
enum Backend {
    Local(Mutex<HashMap<String, i64>>),
    Redis(RedisBackend),
}

struct RedisBackend {
    client: redis::Client,
    connection: tokio::sync::Mutex<Option<redis::aio::ConnectionManager>>,
    script: redis::Script,
    /// When the last warning was logged (µs), so an outage logs once a minute.
    warned_at: AtomicI64,
    /// Until when Redis is not asked after a failure (µs): a Redis that hangs must not
    /// add its timeout to every request.
    down_until: AtomicI64,
}

/// How long requests pass unlimited after Redis failed, before it is tried again.
const REDIS_RETRY_AFTER: i64 = 5_000_000;

impl RedisBackend {
    async fn connection(&self) -> Result<redis::aio::ConnectionManager, redis::RedisError> {
        let mut slot = self.connection.lock().await;
        if let Some(connection) = slot.as_ref() {
            return Ok(connection.clone());
        }
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Duration::from_millis(500))
            .set_response_timeout(Duration::from_millis(500))
            .set_number_of_retries(1);
        let connection = self
            .client
            .get_connection_manager_with_config(config)
            .await?;
        *slot = Some(connection.clone());
        Ok(connection)
    }

    async fn decide(&self, bucket: &Bucket) -> Result<Decision, redis::RedisError> {
        let result = self.ask(bucket).await;
        if let Err(error) = &result {
            self.down_until
                .store(now_micros() + REDIS_RETRY_AFTER, Ordering::Relaxed);
            self.warn(error);
            // A broken connection is rebuilt on the next attempt.
            *self.connection.lock().await = None;
        }
        result
    }

    fn is_resting(&self) -> bool {
        now_micros() < self.down_until.load(Ordering::Relaxed)
    }

    async fn ask(&self, bucket: &Bucket) -> Result<Decision, redis::RedisError> {
        let mut connection = self.connection().await?;
        let (allowed, value): (i64, i64) = self
            .script
            .key(format!("conversations:ratelimit:{}", bucket.id))
            .arg(bucket.quota.interval_micros())
            .arg(bucket.quota.tolerance_micros())
            .invoke_async(&mut connection)
            .await?;
        Ok(if allowed == 1 {
            decision_after(0, value, bucket.quota)
        } else {
            Decision {
                allowed: false,
                remaining: 0,
                wait: micros(value),
            }
        })
    }

    fn warn(&self, error: &redis::RedisError) {
        let now = now_micros();
        let last = self.warned_at.load(Ordering::Relaxed);
        if now - last > 60_000_000
            && self
                .warned_at
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            tracing::warn!(%error, "rate limits: Redis unreachable, letting requests through");
        }
    }
}

/// The limiter of one service (cheap to clone; replicas share state through Redis).
#[derive(Clone)]
pub struct RateLimiter {
    config: Arc<RateLimitConfig>,
    backend: Arc<Backend>,
}

impl std::fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimiter")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// A `REDIS_URL` that is not a Redis URL.
#[derive(Debug, thiserror::Error)]
#[error("REDIS_URL: {0}")]
pub struct RedisUrlError(String);

impl RateLimiter {
    /// The limiter `config` describes. Redis is connected on first use (and again after
    /// an outage), so a service starts while Redis is down.
    pub fn new(config: RateLimitConfig) -> Result<Self, RedisUrlError> {
        let backend = match &config.redis_url {
            None => Backend::Local(Mutex::new(HashMap::new())),
            Some(url) => Backend::Redis(RedisBackend {
                client: redis::Client::open(url.expose())
                    .map_err(|e| RedisUrlError(e.to_string()))?,
                connection: tokio::sync::Mutex::new(None),
                script: redis::Script::new(GCRA_SCRIPT),
                warned_at: AtomicI64::new(0),
                down_until: AtomicI64::new(0),
            }),
        };
        Ok(Self {
            config: Arc::new(config),
            backend: Arc::new(backend),
        })
    }

    /// Where the state is kept, for start-up logs.
    pub fn describe(&self) -> &'static str {
        match self.backend.as_ref() {
            Backend::Local(_) => "in-process",
            Backend::Redis(_) => "Redis",
        }
    }

    fn bucket(&self, req: &ServiceRequest) -> Option<Bucket> {
        let path = req.path();
        if matches!(path, "/livez" | "/readyz" | "/metrics") || req.method() == "OPTIONS" {
            return None;
        }
        // The internal routes inbound-mail calls for every mail it takes in (reply targets,
        // posting a reply, key checks): reachable only inside the network with the internal
        // token, and already limited where the mail comes in. Counting them per address
        // would throttle inbound-mail's replicas at the intake's own rate. The event feed
        // and its snapshot stay limited (per address).
        if path.starts_with("/internal/")
            && !path.starts_with("/internal/v1/events")
            && !path.starts_with("/internal/v1/snapshot")
        {
            return None;
        }
        let credential = crate::bearer(req.headers());
        let hashed = |c: &str| HEXLOWER.encode(&Sha256::digest(c.as_bytes())[..16]);
        let (policy, id, quota) = match credential {
            Some(c) if c.starts_with(conversations_domain::participant_token::TOKEN_PREFIX) => {
                ("token", hashed(c), self.config.per_token)
            }
            Some(c) if c.starts_with("cvk_") => ("key", hashed(c), self.config.per_key),
            _ => {
                let info = req.connection_info();
                let address = if self.config.trust_forwarded {
                    info.realip_remote_addr()
                } else {
                    info.peer_addr()
                }
                .unwrap_or("unknown")
                .to_owned();
                ("address", address, self.config.per_address)
            }
        };
        Some(Bucket {
            policy,
            id: format!("{policy}:{id}"),
            quota: quota?,
        })
    }

    async fn decide(&self, bucket: &Bucket) -> Option<Decision> {
        match self.backend.as_ref() {
            Backend::Local(state) => {
                let now = now_micros();
                let mut state = state
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                if state.len() > 100_000 {
                    state.retain(|_, tat| *tat > now);
                }
                let (decision, tat) = gcra(now, state.get(&bucket.id).copied(), bucket.quota);
                state.insert(bucket.id.clone(), tat);
                Some(decision)
            }
            Backend::Redis(redis) if redis.is_resting() => None,
            Backend::Redis(redis) => redis.decide(bucket).await.ok(),
        }
    }

    /// The middleware: `.wrap(actix_web::middleware::from_fn(move |req, next| limiter.clone().handle(req, next)))`.
    pub async fn handle(
        self,
        req: ServiceRequest,
        next: Next<impl MessageBody + 'static>,
    ) -> Result<ServiceResponse<BoxBody>, Error> {
        let Some(bucket) = self.bucket(&req) else {
            return Ok(next.call(req).await?.map_into_boxed_body());
        };
        let Some(decision) = self.decide(&bucket).await else {
            return Ok(next.call(req).await?.map_into_boxed_body());
        };
        let wait_secs = decision.wait.as_secs() + u64::from(decision.wait.subsec_nanos() > 0);
        let headers = [
            (
                HeaderName::from_static("ratelimit-policy"),
                bucket.quota.policy(bucket.policy),
            ),
            (
                HeaderName::from_static("ratelimit"),
                format!(
                    "\"{}\";r={};t={wait_secs}",
                    bucket.policy, decision.remaining
                ),
            ),
        ];
        let mut response = if decision.allowed {
            next.call(req).await?.map_into_boxed_body()
        } else {
            let detail = format!(
                "the {} limit ({}) is reached; retry in {wait_secs} s",
                bucket.policy,
                bucket.quota.policy(bucket.policy).replace('"', "")
            );
            let response = crate::problem(
                actix_web::http::StatusCode::TOO_MANY_REQUESTS,
                "rate-limited",
                "Too many requests",
                detail,
            )
            .retry_after(u32::try_from(wait_secs).ok());
            req.into_response(response.into_response())
        };
        for (name, value) in headers {
            if let Ok(value) = HeaderValue::from_str(&value) {
                response.headers_mut().insert(name, value);
            }
        }
        Ok(response)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quota(count: u32, secs: u64) -> Quota {
        Quota {
            count,
            window: Duration::from_secs(secs),
        }
    }

    #[test]
    fn a_burst_of_the_quota_passes_then_one_per_interval() {
        let q = quota(3, 3);
        let now = 1_000_000_000;
        let mut tat = None;
        let mut remaining = Vec::new();
        for _ in 0..3 {
            let (d, t) = gcra(now, tat, q);
            assert!(d.allowed);
            remaining.push(d.remaining);
            tat = Some(t);
        }
        assert_eq!(remaining, [2, 1, 0]);
        let (refused, t) = gcra(now, tat, q);
        assert!(!refused.allowed);
        assert_eq!(refused.wait, Duration::from_secs(1));
        assert_eq!(Some(t), tat, "a refused request costs nothing");
        // One interval later, one more passes.
        let (later, _) = gcra(now + 1_000_000, tat, q);
        assert!(later.allowed);
        assert_eq!(later.remaining, 0);
        // After the whole window, the burst is back.
        let (rested, _) = gcra(now + 3_000_000, tat, q);
        assert_eq!(rested.remaining, 2);
    }

    #[test]
    fn each_request_is_counted_against_its_credential_or_address() {
        use actix_web::test::TestRequest;
        let limiter = RateLimiter::new(RateLimitConfig::default()).unwrap();
        let policy = |req: TestRequest| limiter.bucket(&req.to_srv_request()).map(|b| b.policy);
        let bearer = |c: &str| ("authorization", format!("Bearer {c}"));
        assert_eq!(
            policy(
                TestRequest::get()
                    .uri("/api/v1/application")
                    .insert_header(bearer("cvk_abc"))
            ),
            Some("key")
        );
        assert_eq!(
            policy(
                TestRequest::get()
                    .uri("/api/v1/contacts/me")
                    .insert_header(bearer("cvt_abc"))
            ),
            Some("token")
        );
        assert_eq!(
            policy(TestRequest::post().uri("/api/v1/unsubscribe/x")),
            Some("address")
        );
        assert_eq!(
            policy(
                TestRequest::get()
                    .uri("/internal/v1/events?after=0")
                    .insert_header(bearer("feed"))
            ),
            Some("address")
        );
        assert_eq!(
            policy(TestRequest::post().uri("/internal/v1/conversations/x/email-replies")),
            None
        );
        assert_eq!(policy(TestRequest::get().uri("/readyz")), None);
        assert_eq!(
            policy(
                TestRequest::default()
                    .method(actix_web::http::Method::OPTIONS)
                    .uri("/api/v1/application")
            ),
            None
        );
    }

    #[test]
    fn quotas_are_read_as_operators_write_them() {
        assert_eq!(Quota::parse("X", "600/min").unwrap(), Some(quota(600, 60)));
        assert_eq!(Quota::parse("X", " 5 / s ").unwrap(), Some(quota(5, 1)));
        assert_eq!(Quota::parse("X", "off").unwrap(), None);
        assert_eq!(Quota::parse("X", "0").unwrap(), None);
        for bad in ["600", "600/day", "-1/s", "x/s", ""] {
            assert!(Quota::parse("X", bad).is_err(), "{bad}");
        }
        let env = |k: &str| match k {
            "RATE_LIMIT_PER_KEY" => Some("10/min".to_owned()),
            "RATE_LIMIT_PER_ADDRESS" => Some("off".to_owned()),
            "RATE_LIMIT_TRUST_FORWARDED" => Some("true".to_owned()),
            _ => None,
        };
        let config = RateLimitConfig::from_lookup(&env).unwrap();
        assert_eq!(config.per_key, Some(quota(10, 60)));
        assert_eq!(config.per_token, RateLimitConfig::default().per_token);
        assert_eq!(config.per_address, None);
        assert!(config.trust_forwarded);
        assert!(config.redis_url.is_none());
    }
}
