//! What `compile` says of each object of a configuration, in Kyma's terms (`Ready`, `Error`
//! with Kyma's failures, or not served here). Below `compile` and `ratelimit`, which both report.

use crate::validate::Failure;

/// The outcome for one object of the configuration, in Kyma's terms.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub name: String,
    pub namespace: String,
    pub api_version: String,
    pub kind: String,
    pub status: Status,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Status {
    Ready,
    Error(Vec<Failure>),
    /// Valid, but bound to another gateway than the one this filter serves.
    Ignored(String),
}
