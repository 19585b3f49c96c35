//! Package tests (to come).
