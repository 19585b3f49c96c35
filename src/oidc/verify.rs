//! The checks of a JWT (ID token or access token) that need no network:
//! what its header and issuer say before any key is looked up, then its
//! signature and claims against a key and the service's clock.

use super::Refused;
use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};

/// The signing algorithms accepted: the public-key ones issuers use. Never
/// `none`, never HMAC (which a public key would turn into a forgery).
pub(crate) const ALLOWED: [Algorithm; 3] = [Algorithm::RS256, Algorithm::PS256, Algorithm::ES256];

/// How far the issuer's clock and the service's may disagree.
pub(crate) const SKEW_SECONDS: i64 = 60;

/// A token's claims.
pub(crate) type Claims = Map<String, Value>;

/// What a token says about itself before its signature is checked: the
/// algorithm (one of [`ALLOWED`]), the key id, and the issuer claim. Used
/// only to refuse early with a clear reason and to pick the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Peek {
    /// The header's `alg`.
    pub(crate) alg: Algorithm,
    /// The header's `kid`, if any.
    pub(crate) kid: Option<String>,
    /// The unverified `iss` claim.
    pub(crate) issuer: Option<String>,
}

/// Reads the header and the unverified issuer of `token`.
pub(crate) fn peek(token: &str) -> Result<Peek, Refused> {
    let parts: Vec<&str> = token.split('.').collect();
    if parts.len() != 3 {
        return Err(Refused("the token is not a signed JWT".into()));
    }
    // The header is read as JSON first: jsonwebtoken refuses an `alg` it
    // does not know (such as `none`) with a less helpful message.
    let header: Value = decode_part(parts[0])?;
    let alg_name = header.get("alg").and_then(Value::as_str).unwrap_or("");
    let alg = ALLOWED
        .into_iter()
        .find(|a| format!("{a:?}") == alg_name)
        .ok_or_else(|| {
            Refused(format!(
                "the token is signed with {alg_name:?}; only RS256, PS256 and ES256 are accepted"
            ))
        })?;
    let claims: Value = decode_part(parts[1])?;
    Ok(Peek {
        alg,
        kid: header
            .get("kid")
            .and_then(Value::as_str)
            .map(str::to_string),
        issuer: claims
            .get("iss")
            .and_then(Value::as_str)
            .map(str::to_string),
    })
}

fn decode_part(part: &str) -> Result<Value, Refused> {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part.trim_end_matches('='))
        .map_err(|_| Refused("the token is not a JWT (a part is not base64url)".into()))?;
    serde_json::from_slice(&bytes)
        .map_err(|_| Refused("the token is not a JWT (a part is not JSON)".into()))
}

/// What a token must be: from `issuer`, for `audience`, alive at `now`
/// (with [`SKEW_SECONDS`] either way), and for an ID token, carrying
/// `nonce`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Expect<'a> {
    /// The configured issuer.
    pub(crate) issuer: &'a str,
    /// The audience the token must name.
    pub(crate) audience: &'a str,
    /// The sign-in's nonce, for an ID token.
    pub(crate) nonce: Option<&'a str>,
    /// The service's clock.
    pub(crate) now: DateTime<Utc>,
}

/// Checks `token`'s signature with `key` (by `alg`, already one of
/// [`ALLOWED`]) and its claims, and returns them.
pub(crate) fn verify(
    token: &str,
    alg: Algorithm,
    key: &DecodingKey,
    expect: Expect<'_>,
) -> Result<Claims, Refused> {
    let mut validation = Validation::new(alg);
    validation.algorithms = vec![alg];
    validation.set_issuer(&[expect.issuer]);
    validation.set_audience(&[expect.audience]);
    // Times are checked below on the service's clock, not the system's.
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.required_spec_claims = ["iss", "aud", "sub"]
        .into_iter()
        .map(String::from)
        .collect();
    let data = jsonwebtoken::decode::<Claims>(token, key, &validation).map_err(|e| {
        use jsonwebtoken::errors::ErrorKind;
        Refused(match e.kind() {
            ErrorKind::InvalidSignature => "the token's signature is not valid".into(),
            ErrorKind::InvalidIssuer => "the token is from another issuer".into(),
            ErrorKind::InvalidAudience => format!(
                "the token is for another audience; it must be for {}",
                expect.audience
            ),
            ErrorKind::MissingRequiredClaim(claim) => {
                format!("the token has no {claim} claim")
            }
            ErrorKind::InvalidAlgorithm => {
                "the token's algorithm does not fit the issuer's key".into()
            }
            _ => format!("the token is not valid: {e}"),
        })
    })?;
    let claims = data.claims;
    let now = expect.now.timestamp();
    let time = |name: &str| claims.get(name).and_then(Value::as_i64);
    match time("exp") {
        None => return Err(Refused("the token has no exp claim".into())),
        Some(exp) if now >= exp + SKEW_SECONDS => {
            return Err(Refused("the token has expired".into()))
        }
        Some(_) => {}
    }
    match time("iat") {
        None => return Err(Refused("the token has no iat claim".into())),
        Some(iat) if iat > now + SKEW_SECONDS => {
            return Err(Refused("the token was issued in the future".into()))
        }
        Some(_) => {}
    }
    if time("nbf").is_some_and(|nbf| nbf > now + SKEW_SECONDS) {
        return Err(Refused("the token is not valid yet".into()));
    }
    if let Some(nonce) = expect.nonce {
        let given = claims.get("nonce").and_then(Value::as_str).unwrap_or("");
        if !crate::text::same_secret(given, nonce) {
            return Err(Refused(
                "the ID token's nonce is not this sign-in's (replayed?)".into(),
            ));
        }
        // With several audiences, the authorized party must be this client.
        let several = claims
            .get("aud")
            .and_then(Value::as_array)
            .is_some_and(|a| a.len() > 1);
        if several && claims.get("azp").and_then(Value::as_str) != Some(expect.audience) {
            return Err(Refused(
                "the ID token was issued to another client (azp)".into(),
            ));
        }
    }
    Ok(claims)
}

/// The values of `claim`: a string, or a list of strings.
pub(crate) fn claim_values<'c>(claims: &'c Claims, claim: &str) -> Vec<&'c str> {
    match claims.get(claim) {
        Some(Value::String(one)) => vec![one.as_str()],
        Some(Value::Array(many)) => many.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use jsonwebtoken::{EncodingKey, Header};
    use serde_json::json;

    // A test-only RSA key (2048 bits, PKCS#1 DER), made with openssl for
    // these tests, and its modulus in base64url.
    const PRIVATE_DER: &[u8] = include_bytes!("test_key.der");
    const PUBLIC_N: &str = include_str!("test_key.n");

    fn key() -> DecodingKey {
        DecodingKey::from_rsa_components(PUBLIC_N.trim(), "AQAB").unwrap()
    }

    fn sign(claims: Value, alg: Algorithm) -> String {
        let mut header = Header::new(alg);
        header.kid = Some("k1".into());
        jsonwebtoken::encode(&header, &claims, &EncodingKey::from_rsa_der(PRIVATE_DER)).unwrap()
    }

    fn now() -> DateTime<Utc> {
        "2026-01-05T09:00:00Z".parse().unwrap()
    }

    fn claims() -> Value {
        let t = now().timestamp();
        json!({"iss": "https://idp.example", "aud": "ocset", "sub": "u1", "iat": t, "exp": t + 600, "nonce": "n1"})
    }

    fn expect(nonce: Option<&'static str>) -> Expect<'static> {
        Expect {
            issuer: "https://idp.example",
            audience: "ocset",
            nonce,
            now: now(),
        }
    }

    fn check(
        claims: Value,
        nonce: Option<&'static str>,
        at: DateTime<Utc>,
    ) -> Result<Claims, Refused> {
        let token = sign(claims, Algorithm::RS256);
        let peeked = peek(&token)?;
        verify(
            &token,
            peeked.alg,
            &key(),
            Expect {
                now: at,
                ..expect(nonce)
            },
        )
    }

    #[test]
    fn a_good_token_passes_and_times_use_the_given_clock() {
        let got = check(claims(), Some("n1"), now()).unwrap();
        assert_eq!(got["sub"], "u1");
        // Within the skew after exp, still good; beyond it, expired.
        assert!(check(claims(), None, now() + chrono::Duration::seconds(630)).is_ok());
        let late = check(claims(), None, now() + chrono::Duration::seconds(660)).unwrap_err();
        assert_eq!(late.0, "the token has expired");
        let early = check(claims(), None, now() - chrono::Duration::seconds(120)).unwrap_err();
        assert_eq!(early.0, "the token was issued in the future");
    }

    #[test]
    fn wrong_issuer_audience_nonce_and_signature_are_refused() {
        let mut other = claims();
        other["iss"] = json!("https://other.example");
        assert!(check(other, None, now())
            .unwrap_err()
            .0
            .contains("another issuer"));
        let mut other = claims();
        other["aud"] = json!("api://else");
        assert!(check(other, None, now())
            .unwrap_err()
            .0
            .contains("another audience"));
        assert!(check(claims(), Some("n2"), now())
            .unwrap_err()
            .0
            .contains("nonce"));
        let mut listed = claims();
        listed["aud"] = json!(["ocset", "other"]);
        listed["azp"] = json!("other");
        assert!(check(listed, Some("n1"), now())
            .unwrap_err()
            .0
            .contains("azp"));

        let token = sign(claims(), Algorithm::RS256);
        let (rest, signature) = token.rsplit_once('.').unwrap();
        let mut bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(signature)
            .unwrap();
        bytes[10] ^= 1;
        let broken = format!(
            "{rest}.{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
        );
        let refused = verify(&broken, Algorithm::RS256, &key(), expect(None)).unwrap_err();
        assert_eq!(refused.0, "the token's signature is not valid");
    }

    #[test]
    fn none_and_hmac_are_never_accepted() {
        let b64 = |v: Value| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string().as_bytes())
        };
        for alg in ["none", "HS256"] {
            let token = format!("{}.{}.", b64(json!({"alg": alg})), b64(claims()));
            let refused = peek(&token).unwrap_err();
            assert!(
                refused.0.contains("only RS256, PS256 and ES256"),
                "{refused:?}"
            );
        }
        assert!(peek("not-a-jwt").is_err());
        // A PS256 header on an RS256 signature does not verify.
        let token = sign(claims(), Algorithm::RS256);
        assert!(verify(&token, Algorithm::PS256, &key(), expect(None)).is_err());
        assert!(check(json!({"iss": "https://idp.example", "aud": "ocset", "sub": "u1", "exp": now().timestamp() + 60}), None, now()).unwrap_err().0.contains("iat"));
    }

    #[test]
    fn claim_values_are_a_string_or_a_list() {
        let claims: Claims =
            serde_json::from_value(json!({"groups": ["a", "b", 3], "role": "x"})).unwrap();
        assert_eq!(claim_values(&claims, "groups"), ["a", "b"]);
        assert_eq!(claim_values(&claims, "role"), ["x"]);
        assert!(claim_values(&claims, "none").is_empty());
    }
}
