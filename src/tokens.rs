//! API tokens: made here, shown once, stored only as a hash.

use crate::text::hex;
use sha2::{Digest, Sha256};

/// The prefix of every token, so a leaked one is recognisable in a scan.
pub(crate) const TOKEN_PREFIX: &str = "ocset_";

/// A new random token (256 bits from the operating system's generator) and
/// its hash. Show the token once; store only the hash.
pub fn generate() -> (String, String) {
    let bytes: [u8; 32] = rand::random();
    let token = format!("{TOKEN_PREFIX}{}", hex(&bytes));
    let hash = hash(&token);
    (token, hash)
}

/// The SHA-256 of a token, in hex: what the store keeps and looks up. A
/// token has 256 random bits, so a fast hash cannot be brute-forced back.
pub(crate) fn hash(token: &str) -> String {
    hex(&Sha256::digest(token.as_bytes()))
}

/// Checks a token's name: 1 to 64 letters, digits, `.`, `_` or `-`. The name
/// is recorded as the actor of everything the token does.
pub(crate) fn check_name(name: &str) -> Result<(), String> {
    let ok_chars = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if name.is_empty() || name.len() > 64 || !ok_chars {
        Err(format!(
            "{name:?} is not a token name: use 1 to 64 letters, digits, '.', '_' or '-'"
        ))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_prefixed_and_hash_to_what_is_stored() {
        let (a, hash_a) = generate();
        let (b, _) = generate();
        assert_ne!(a, b);
        assert!(a.starts_with(TOKEN_PREFIX));
        assert_eq!(a.len(), TOKEN_PREFIX.len() + 64);
        assert_eq!(hash(&a), hash_a);
        assert_ne!(hash_a, a, "the hash is not the token");
        assert_eq!(hash_a.len(), 64);
    }

    #[test]
    fn token_names() {
        assert!(check_name("acc-office.dashboard_1").is_ok());
        for bad in ["", "has space", "a/b", &"x".repeat(65)] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }
}
