//! The facade's administration: the audit log, API tokens, and the
//! figures operations read (readiness, the outbox, package counts).

use super::App;
use crate::domain::{Reference, Role};
use crate::outbox::DeliveryStats;
use crate::store::{
    Actor, ApiToken, AuditRecord, AuditVerification, ChainHead, ChainVerdict, PackageCounts,
    StoreError,
};
use chrono::{DateTime, Utc};

/// Why a token was not created.
#[derive(Debug, thiserror::Error)]
pub(crate) enum TokenError {
    /// The name is not a valid token name; the text says why.
    #[error("{0}")]
    BadName(String),
    /// Storage refused or failed (a name already taken among others).
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl App {
    /// Records in the audit log that `actor` was shown something that
    /// lists packages (a report, a preview) at `at`, with `detail` saying
    /// what. The caller passes the instant it answered for, so the audit
    /// line and the answer agree.
    pub(crate) async fn record_read(
        &self,
        actor: &Actor,
        action: &str,
        detail: &str,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.audit_read(actor, action, None, Some(detail), at).await
    }

    /// The audit log, oldest first; only the lines about `reference` when
    /// given, in whatever case it is given (the lines name the package as
    /// it is stored).
    pub(crate) async fn audit_log(
        &self,
        reference: Option<&Reference>,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        let stored = match reference {
            Some(reference) => self
                .store
                .package(reference)
                .await?
                .map(|p| p.reference().clone()),
            None => None,
        };
        self.store.audit_log(stored.as_ref().or(reference)).await
    }

    /// Walks the audit chain (against `copy`, a head kept outside the
    /// database, when given) and records the outcome, with the clock's
    /// time, for `/metrics`. A verification that could not read the chain
    /// records nothing.
    pub(crate) async fn verify_audit_chain(
        &self,
        copy: Option<&ChainHead>,
    ) -> Result<ChainVerdict, StoreError> {
        let verdict = self.store.verify_audit_chain(copy).await?;
        self.store
            .record_audit_verification(self.now(), &verdict)
            .await?;
        Ok(verdict)
    }

    /// The audit chain's last line at or before `at`: what a digest quotes
    /// as the head at its period's end.
    pub(crate) async fn audit_chain_head_at(
        &self,
        at: DateTime<Utc>,
    ) -> Result<Option<ChainHead>, StoreError> {
        self.store.audit_chain_head_at(at).await
    }

    /// The last recorded verification of the audit chain.
    pub(crate) async fn last_audit_verification(
        &self,
    ) -> Result<Option<AuditVerification>, StoreError> {
        self.store.last_audit_verification().await
    }

    /// Creates an API token named `name` with `role`, and returns the token
    /// itself: it is shown once, since only its hash is stored.
    pub(crate) async fn create_token(
        &self,
        name: &str,
        role: Role,
        actor: &Actor,
    ) -> Result<String, TokenError> {
        crate::tokens::check_name(name).map_err(TokenError::BadName)?;
        let (token, hash) = crate::tokens::generate();
        let record = ApiToken {
            name: name.to_string(),
            role,
            created_at: self.now(),
            revoked_at: None,
        };
        self.store.create_token(&record, &hash, actor).await?;
        Ok(token)
    }

    /// The active token `token` is, found by its hash (the store never sees
    /// the token itself); `None` when it is unknown or revoked.
    pub(crate) async fn token_for(&self, token: &str) -> Result<Option<ApiToken>, StoreError> {
        self.store.token_by_hash(&crate::tokens::hash(token)).await
    }

    /// The active token whose hash is `hash`; `None` once it is revoked.
    /// The dashboard's sessions keep the hash, never the token, and ask
    /// this on every request, so a revoked token's sessions end at once.
    pub(crate) async fn token_with_hash(&self, hash: &str) -> Result<Option<ApiToken>, StoreError> {
        self.store.token_by_hash(hash).await
    }

    /// Records a sign-in or sign-out of the dashboard (`action`) by `actor`.
    pub(crate) async fn record_session(
        &self,
        actor: &Actor,
        action: &str,
    ) -> Result<(), StoreError> {
        self.audit_read(actor, action, None, None, self.now()).await
    }

    /// Every token, revoked ones included (never the tokens themselves).
    pub(crate) async fn tokens(&self) -> Result<Vec<ApiToken>, StoreError> {
        self.store.tokens().await
    }

    /// Revokes the token `name` now. False when there is no such active
    /// token.
    pub(crate) async fn revoke_token(&self, name: &str, actor: &Actor) -> Result<bool, StoreError> {
        self.store.revoke_token(name, self.now(), actor).await
    }

    /// How many packages are stored, and how many of them are demo data.
    pub(crate) async fn package_counts(&self) -> Result<PackageCounts, StoreError> {
        self.store.count_packages().await
    }

    /// Whether the database answers with every migration applied.
    pub(crate) async fn is_ready(&self) -> Result<bool, StoreError> {
        self.store.is_ready().await
    }

    /// The outbox's figures.
    pub(crate) async fn delivery_stats(&self) -> Result<DeliveryStats, StoreError> {
        self.store.delivery_stats().await
    }

    /// Each configured `[[digest]]`, in the order configured, with when a
    /// scheduled run of it was last queued and last delivered (`None`:
    /// never). A schedule no longer configured is left out.
    pub(crate) async fn digest_figures(&self) -> Result<Vec<DigestFigures>, StoreError> {
        let runs = self.store.digest_runs().await?;
        Ok(self
            .settings
            .digests()
            .iter()
            .map(|schedule| {
                let run = runs.iter().find(|run| run.schedule == schedule.name);
                DigestFigures {
                    name: schedule.name.clone(),
                    last_queued_at: run.map(|run| run.last_queued_at),
                    last_sent_at: run.and_then(|run| run.last_sent_at),
                }
            })
            .collect())
    }
}

/// When a configured digest last went, for `/metrics`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DigestFigures {
    /// The `[[digest]]` schedule's name.
    pub(crate) name: String,
    /// When a scheduled run was last queued; `None` if never.
    pub(crate) last_queued_at: Option<DateTime<Utc>>,
    /// When one of its messages was last delivered; `None` if never.
    pub(crate) last_sent_at: Option<DateTime<Utc>>,
}
