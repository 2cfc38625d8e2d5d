//! Access strategies, each answering with an [`Outcome`]: Istio-style and Ory `jwt`, Oathkeeper's
//! `oauth2_introspection`, v2 `extAuth`. Below them: the environment and outcomes they share
//! ([`env`]) and the sessions they produce ([`session`]); the JWT building blocks are in
//! [`crate::jwt`]. `decide` runs them; `response` words their refusals.

pub mod env;
pub mod extauth;
pub mod introspection;
pub mod istio_jwt;
pub mod ory_jwt;
pub mod session;

pub use env::{AuthEnv, AuthState, IntrospectionCache, Outcome};
pub use session::{Authorized, Identity, Introspected};
