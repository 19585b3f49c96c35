//! Demo data (placeholder).

/// Every demo package's reference starts with this, so demo data can never
/// be mistaken for a real package.
pub const DEMO_PREFIX: &str = "DEMO-";
