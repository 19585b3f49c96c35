//! `[retention]`: the period after which a stopped package's identifying
//! details are replaced by pseudonyms, and the file holding the
//! pseudonyms' key, read here like the service's other secrets (from a
//! file, never from the configuration's text).

use super::check::Faults;
use super::{Config, RetentionSettings};
use crate::domain::{PseudonymKey, RetentionPeriod};

/// Checks `[retention]`: no period, no purge (and no key needed); a period
/// needs a key file that can be read and holds at least 32 bytes.
pub(super) fn retention(config: &Config, faults: &mut Faults) -> Option<RetentionSettings> {
    let section = &config.retention;
    let period = match section.keep_stopped_for.as_deref() {
        None => {
            return None;
        }
        Some(text) => match text.parse::<RetentionPeriod>() {
            Ok(period) => Some(period),
            Err(why) => {
                faults.add("retention.keep_stopped_for", why);
                None
            }
        },
    };
    let key = match section.pseudonym_key_file.as_deref().map(str::trim) {
        None | Some("") => {
            faults.add(
                "retention.pseudonym_key_file",
                "is required with retention.keep_stopped_for: the file holding the secret key \
                 of the pseudonyms that replace purged references and officers (at least 32 \
                 bytes, such as the output of `openssl rand -hex 32`)"
                    .into(),
            );
            None
        }
        Some(path) => match std::fs::read(path) {
            Ok(bytes) => {
                // A trailing line break from an editor or `echo` is not key.
                let text_end = bytes
                    .iter()
                    .rposition(|b| !b.is_ascii_whitespace())
                    .map_or(0, |at| at + 1);
                match PseudonymKey::new(bytes[..text_end].to_vec()) {
                    Ok(key) => Some(key),
                    Err(why) => {
                        faults.add("retention.pseudonym_key_file", format!("{path}: {why}"));
                        None
                    }
                }
            }
            Err(e) => {
                faults.add(
                    "retention.pseudonym_key_file",
                    format!("cannot read the key file {path}: {e}"),
                );
                None
            }
        },
    };
    Some(RetentionSettings {
        period: period?,
        key: key?,
    })
}

#[cfg(test)]
mod tests {
    use crate::config::load_str;
    use crate::config::TEST_CONFIG;

    fn faults(text: &str) -> Vec<String> {
        match load_str(&format!("{TEST_CONFIG}\n{text}"), "test.toml", Vec::new()) {
            Ok(_) => Vec::new(),
            Err(errors) => errors.iter().map(ToString::to_string).collect(),
        }
    }

    #[test]
    fn no_period_means_no_purge_and_no_key_needed() {
        let settings = load_str(TEST_CONFIG, "test.toml", Vec::new()).unwrap();
        assert!(settings.retention().is_none());
    }

    #[test]
    fn a_period_and_a_key_file_are_checked_naming_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("key");
        std::fs::write(&key, format!("{}\n", "ab".repeat(32))).unwrap();
        let short = dir.path().join("short");
        std::fs::write(&short, "tooshort\n").unwrap();
        let ok = format!(
            "[retention]\nkeep_stopped_for = \"6y\"\npseudonym_key_file = \"{}\"\n",
            key.display()
        );
        let settings = load_str(&format!("{TEST_CONFIG}\n{ok}"), "t.toml", Vec::new()).unwrap();
        assert_eq!(settings.retention().unwrap().period.to_string(), "6y");

        let bad = faults(&format!(
            "[retention]\nkeep_stopped_for = \"six years\"\npseudonym_key_file = \"{}\"\n",
            key.display()
        ));
        assert!(
            bad.len() == 1
                && bad[0].contains("retention.keep_stopped_for")
                && bad[0].contains("not a retention period"),
            "{bad:?}"
        );
        let bad = faults("[retention]\nkeep_stopped_for = \"30d\"\n");
        assert!(
            bad.len() == 1
                && bad[0].contains("retention.pseudonym_key_file")
                && bad[0].contains("is required"),
            "{bad:?}"
        );
        let bad = faults(&format!(
            "[retention]\nkeep_stopped_for = \"30d\"\npseudonym_key_file = \"{}\"\n",
            short.display()
        ));
        assert!(bad.len() == 1 && bad[0].contains("at least 32"), "{bad:?}");
        let bad = faults(
            "[retention]\nkeep_stopped_for = \"0d\"\npseudonym_key_file = \"/nonexistent/key\"\n",
        );
        assert_eq!(bad.len(), 2, "{bad:?}");
        assert!(bad[0].contains("at least 1 day"), "{bad:?}");
        assert!(bad[1].contains("cannot read the key file"), "{bad:?}");
        let bad = faults("[retention]\nkeep_for = \"6y\"\n");
        assert!(!bad.is_empty() && bad[0].contains("keep_for"), "{bad:?}");
    }
}
