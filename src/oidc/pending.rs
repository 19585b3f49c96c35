//! A sign-in between leaving for the issuer and coming back: its `state`,
//! `nonce` and PKCE verifier, kept in the browser in a short-lived cookie
//! (HttpOnly, SameSite=Lax, on the sign-in path) signed with HMAC-SHA256.
//! Nothing is kept in the service, so the callback may reach any replica;
//! the signature stops a forged or edited cookie, the state binds the
//! cookie to the answer the issuer sends back (CSRF on the callback), and
//! the time in it ends it after [`PENDING_FOR`].

use super::Refused;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The pending sign-in cookie's name.
pub(crate) const PENDING_COOKIE: &str = "ocset_oidc";

/// How long a person has to sign in at the issuer.
pub(super) const PENDING_FOR: chrono::Duration = chrono::Duration::minutes(10);

/// A pending sign-in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Pending {
    /// Sent to the issuer and checked when it comes back.
    pub(super) state: String,
    /// Sent to the issuer, which puts it in the ID token.
    pub(super) nonce: String,
    /// The PKCE verifier; the issuer is sent its S256 challenge.
    pub(super) verifier: String,
    /// When the sign-in began, in Unix seconds.
    at: i64,
}

/// 32 random bytes from the operating system, in base64url (43 characters).
fn random() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    B64.encode(bytes)
}

fn mac(key: [u8; 32], payload: &str) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).expect("HMAC takes any key length");
    mac.update(payload.as_bytes());
    mac
}

impl Pending {
    /// A new sign-in at `now`.
    pub(super) fn new(now: DateTime<Utc>) -> Self {
        Self {
            state: random(),
            nonce: random(),
            verifier: random(),
            at: now.timestamp(),
        }
    }

    /// The PKCE challenge: base64url(SHA-256(verifier)) (RFC 7636, S256).
    pub(super) fn challenge(&self) -> String {
        B64.encode(Sha256::digest(self.verifier.as_bytes()))
    }

    /// The cookie's value: the JSON in base64url, a dot, its HMAC.
    pub(super) fn seal(&self, key: [u8; 32]) -> String {
        let payload = B64.encode(serde_json::to_vec(self).expect("plain strings serialize"));
        let tag = B64.encode(mac(key, &payload).finalize().into_bytes());
        format!("{payload}.{tag}")
    }

    /// The pending sign-in in `cookie`, if it is signed with `key`, began
    /// less than [`PENDING_FOR`] before `now`, and holds `state`.
    pub(super) fn open(
        cookie: Option<&str>,
        key: [u8; 32],
        state: &str,
        now: DateTime<Utc>,
    ) -> Result<Self, Refused> {
        let again = "Start again from the sign-in page.";
        let cookie = cookie.ok_or_else(|| {
            Refused(format!(
                "This browser has no sign-in in progress (it may have taken more than 10 minutes, or cookies are blocked). {again}"
            ))
        })?;
        let forged = || {
            Refused(format!(
                "The sign-in's cookie is not one this service made. {again}"
            ))
        };
        let (payload, tag) = cookie.split_once('.').ok_or_else(forged)?;
        let tag = B64.decode(tag).map_err(|_| forged())?;
        mac(key, payload).verify_slice(&tag).map_err(|_| forged())?;
        let pending: Pending = B64
            .decode(payload)
            .ok()
            .and_then(|json| serde_json::from_slice(&json).ok())
            .ok_or_else(forged)?;
        let began = DateTime::from_timestamp(pending.at, 0).ok_or_else(forged)?;
        if now >= began + PENDING_FOR || now < began - chrono::Duration::minutes(1) {
            return Err(Refused(format!(
                "The sign-in took more than 10 minutes. {again}"
            )));
        }
        if !crate::text::same_secret(&pending.state, state) {
            return Err(Refused(format!(
                "The answer from the sign-in service is not for this browser's sign-in (state). {again}"
            )));
        }
        Ok(pending)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        "2026-01-05T09:00:00Z".parse().unwrap()
    }

    #[test]
    fn a_sealed_sign_in_opens_with_its_key_state_and_in_time() {
        let key = [7u8; 32];
        let pending = Pending::new(now());
        assert_eq!(pending.verifier.len(), 43);
        assert_ne!(pending.state, pending.nonce);
        let sealed = pending.seal(key);
        let opened = Pending::open(Some(&sealed), key, &pending.state, now()).unwrap();
        assert_eq!(opened, pending);

        let later = now() + PENDING_FOR;
        let err = Pending::open(Some(&sealed), key, &pending.state, later).unwrap_err();
        assert!(err.0.contains("more than 10 minutes"), "{err}");
        let err = Pending::open(Some(&sealed), key, "other", now()).unwrap_err();
        assert!(err.0.contains("(state)"), "{err}");
        let err = Pending::open(Some(&sealed), [8u8; 32], &pending.state, now()).unwrap_err();
        assert!(err.0.contains("not one this service made"), "{err}");
        let edited = sealed.replacen('e', "f", 1);
        assert!(Pending::open(Some(&edited), key, &pending.state, now()).is_err());
        assert!(Pending::open(None, key, &pending.state, now()).is_err());
    }

    #[test]
    fn the_challenge_is_rfc_7636_s256() {
        // RFC 7636, appendix B.
        let pending = Pending {
            state: String::new(),
            nonce: String::new(),
            verifier: "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk".into(),
            at: 0,
        };
        assert_eq!(
            pending.challenge(),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }
}
