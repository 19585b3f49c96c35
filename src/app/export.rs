//! Disclosure: everything the service holds about one package, as one
//! document, for a disclosure or a subject-access request
//! (`ocset-scheduler export --reference R`,
//! `GET /api/v1/packages/{reference}/export`).

use super::{App, PackageView};
use crate::domain::{Acknowledgement, Reference};
use crate::store::{Actor, AuditRecord, EscalationRecord, LedgerEvent, StoreError};
use chrono::{DateTime, Utc};
use serde::Serialize;

/// The audit action an export is recorded under.
const EXPORT_ACTION: &str = "package.exported";

/// Everything the service holds about one package. The events are the
/// whole ledger; `acknowledgements` and `reviews` are the ledger's
/// `acknowledged` and `reviewed` events again, picked out because a
/// disclosure officer looks for them; each escalation carries its
/// deliveries (recipient, when, how it ended). The audit lines end with
/// the export's own.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub(crate) struct PackageExport {
    /// When the export was made (UTC; the service's clock).
    pub(crate) exported_at: DateTime<Utc>,
    /// Who made it, as the audit log records them.
    pub(crate) exported_by: String,
    /// The package as it stands, with its status at `exported_at`.
    pub(crate) package: PackageView,
    /// The acknowledgement of the current deadline's breach, if any.
    pub(crate) acknowledgement: Option<Acknowledgement>,
    /// Every event of its ledger, oldest first.
    pub(crate) events: Vec<LedgerEvent>,
    /// Its escalations, oldest first, each with its deliveries.
    pub(crate) escalations: Vec<EscalationRecord>,
    /// The ledger's `acknowledged` events, oldest first.
    pub(crate) acknowledgements: Vec<LedgerEvent>,
    /// The ledger's `reviewed` events, oldest first.
    pub(crate) reviews: Vec<LedgerEvent>,
    /// Every audit line naming the package, oldest first, this export's
    /// included.
    pub(crate) audit: Vec<AuditRecord>,
}

impl App {
    /// Everything held about the package `reference` names (in any case),
    /// or `None` when there is none. The export is audited
    /// (`package.exported`) before anything is read, so no export leaves
    /// without its line on record, and the document shows that line.
    pub(crate) async fn export(
        &self,
        reference: &Reference,
        actor: &Actor,
    ) -> Result<Option<PackageExport>, StoreError> {
        let Some(package) = self.store.package(reference).await? else {
            return Ok(None);
        };
        let reference = package.reference();
        let now = self.now();
        // Written at once (not batched with reads): a disclosure is rare
        // and its line must be in the document it makes.
        self.store
            .audit(actor, EXPORT_ACTION, Some(reference), None, now)
            .await?;
        let events = self.store.events(reference).await?;
        let escalations = self.store.escalations(reference).await?;
        let audit = self.store.audit_log(Some(reference)).await?;
        let picked = |kind: &str| {
            events
                .iter()
                .filter(|e| e.kind.name() == kind)
                .cloned()
                .collect::<Vec<_>>()
        };
        Ok(Some(PackageExport {
            exported_at: now,
            exported_by: actor.name.clone(),
            package: self.view(&package),
            acknowledgement: package.acknowledgement().cloned(),
            acknowledgements: picked("acknowledged"),
            reviews: picked("reviewed"),
            events,
            escalations,
            audit,
        }))
    }
}
