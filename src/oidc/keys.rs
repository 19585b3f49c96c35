//! The issuer's signing keys (its JWKS), fetched when first needed and
//! again when a token names a key not held: an issuer that rotates its keys
//! is followed without a restart, at most one fetch per
//! [`REFETCH_AFTER`] by the app's clock.

use super::{get_json, IssuerError, Refused, Rejection, REFETCH_AFTER};
use chrono::{DateTime, Utc};
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};

/// One usable public key.
#[derive(Clone)]
struct Key {
    kid: Option<String>,
    /// RSA (RS256, PS256) or EC P-256 (ES256).
    rsa: bool,
    key: DecodingKey,
}

/// The keys held, and when they were fetched.
#[derive(Default)]
struct Held {
    keys: Vec<Key>,
    fetched_at: Option<DateTime<Utc>>,
}

/// The issuer's keys, shared by every request.
#[derive(Default)]
pub(super) struct KeyCache {
    held: tokio::sync::Mutex<Held>,
}

impl std::fmt::Debug for KeyCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyCache")
    }
}

impl Held {
    /// The key named `kid` (or the only key of its kind, when the token
    /// names none) for `alg`.
    fn find(&self, kid: Option<&str>, alg: Algorithm) -> Option<DecodingKey> {
        let rsa = alg != Algorithm::ES256;
        let mut fitting = self.keys.iter().filter(|k| k.rsa == rsa);
        match kid {
            Some(kid) => fitting
                .find(|k| k.kid.as_deref() == Some(kid))
                .map(|k| k.key.clone()),
            None => {
                let first = fitting.next()?;
                fitting.next().is_none().then(|| first.key.clone())
            }
        }
    }
}

/// The signing keys of a JWKS document; keys of other kinds (encryption,
/// symmetric, other curves) and ones that do not parse are left out.
fn signing_keys(document: &serde_json::Value) -> Vec<Key> {
    let Some(keys) = document.get("keys").and_then(|k| k.as_array()) else {
        return Vec::new();
    };
    keys.iter()
        .filter_map(|value| serde_json::from_value::<Jwk>(value.clone()).ok())
        .filter(|jwk| {
            !matches!(
                jwk.common.public_key_use,
                Some(PublicKeyUse::Encryption) | Some(PublicKeyUse::Other(_))
            )
        })
        .filter_map(|jwk| {
            let rsa = match &jwk.algorithm {
                AlgorithmParameters::RSA(_) => true,
                AlgorithmParameters::EllipticCurve(ec) if ec.curve == EllipticCurve::P256 => false,
                _ => return None,
            };
            Some(Key {
                kid: jwk.common.key_id.clone(),
                rsa,
                key: DecodingKey::from_jwk(&jwk).ok()?,
            })
        })
        .collect()
}

impl KeyCache {
    /// The key for a token naming `kid` with `alg`: held, or found by
    /// fetching `jwks_url` when it is not held and the last fetch is older
    /// than [`REFETCH_AFTER`] at `now`.
    pub(super) async fn key(
        &self,
        http: &reqwest::Client,
        jwks_url: &str,
        kid: Option<&str>,
        alg: Algorithm,
        now: DateTime<Utc>,
    ) -> Result<DecodingKey, Rejection> {
        let mut held = self.held.lock().await;
        if let Some(key) = held.find(kid, alg) {
            return Ok(key);
        }
        let unknown = || {
            Rejection::Refused(Refused(format!(
                "the token is signed with a key the issuer does not publish ({})",
                kid.map_or("no key id".to_string(), |k| format!("key id {k}"))
            )))
        };
        if held
            .fetched_at
            .is_some_and(|at| now < at + REFETCH_AFTER && now >= at)
        {
            return Err(unknown());
        }
        let document: serde_json::Value = get_json(http, jwks_url).await?;
        let keys = signing_keys(&document);
        if keys.is_empty() {
            return Err(IssuerError::Unfit(format!("{jwks_url} holds no signing key")).into());
        }
        tracing::info!(keys = keys.len(), "fetched the issuer's signing keys");
        held.keys = keys;
        held.fetched_at = Some(now);
        held.find(kid, alg).ok_or_else(unknown)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    const N: &str = include_str!("test_key.n");

    fn jwks(kid: &str) -> serde_json::Value {
        json!({"keys": [
            {"kty": "RSA", "kid": kid, "use": "sig", "n": N.trim(), "e": "AQAB"},
            {"kty": "oct", "kid": "hmac", "k": "c2VjcmV0"},
            {"kty": "RSA", "kid": "enc", "use": "enc", "n": N.trim(), "e": "AQAB"}
        ]})
    }

    #[test]
    fn only_signing_keys_of_accepted_kinds_are_kept() {
        let keys = signing_keys(&jwks("k1"));
        assert_eq!(keys.len(), 1);
        assert_eq!(keys[0].kid.as_deref(), Some("k1"));
    }

    /// A JWKS endpoint on port 0 that serves `kid` (changed by the test)
    /// and counts its fetches.
    async fn serve_jwks(kid: Arc<std::sync::Mutex<String>>, count: Arc<AtomicUsize>) -> String {
        let app = axum::Router::new().route(
            "/jwks",
            axum::routing::get(move || {
                let kid = kid.lock().unwrap().clone();
                count.fetch_add(1, Ordering::SeqCst);
                async move { axum::Json(jwks(&kid)) }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/jwks", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        url
    }

    #[tokio::test]
    async fn an_unknown_key_refetches_at_most_once_per_interval() {
        let kid = Arc::new(std::sync::Mutex::new("k1".to_string()));
        let count = Arc::new(AtomicUsize::new(0));
        let url = serve_jwks(kid.clone(), count.clone()).await;
        let cache = KeyCache::default();
        let http = super::super::http_client();
        let t0: DateTime<Utc> = "2026-01-05T09:00:00Z".parse().unwrap();
        let get = |kid: &'static str, at| {
            let (cache, http, url) = (&cache, &http, &url);
            async move { cache.key(http, url, Some(kid), Algorithm::RS256, at).await }
        };
        assert!(get("k1", t0).await.is_ok());
        assert!(get("k1", t0).await.is_ok());
        assert_eq!(
            count.load(Ordering::SeqCst),
            1,
            "held keys are not refetched"
        );

        // The issuer rotates to k2.
        *kid.lock().unwrap() = "k2".into();
        let Err(refused) = get("k2", t0 + chrono::Duration::seconds(10)).await else {
            panic!("an unknown key within the interval is refused");
        };
        assert!(refused.to_string().contains("key id k2"), "{refused}");
        assert_eq!(
            count.load(Ordering::SeqCst),
            1,
            "within the interval: no fetch"
        );
        assert!(get("k2", t0 + REFETCH_AFTER).await.is_ok());
        assert_eq!(count.load(Ordering::SeqCst), 2);
        assert!(
            get("k1", t0 + REFETCH_AFTER).await.is_err(),
            "the old key is gone"
        );
        assert!(get("hmac", t0 + REFETCH_AFTER * 3).await.is_err());
    }
}
