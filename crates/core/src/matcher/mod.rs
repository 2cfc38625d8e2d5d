//! Request matching: host → APIRule, then path and method → rule.

pub mod canonical;
pub mod host;
pub mod method;
pub mod path;
