//! purgehook: signed webhooks in, exact cache purges out.
//!
//! A webhook (GitHub, Standard Webhooks, WP Webhooks, WooCommerce) is
//! verified by its [`source`], mapped by the [`rules`] to purge [`job`]s,
//! stored durably on the [`queue`], and executed by the [`worker`], which
//! merges each target's jobs and calls its [`provider`]. [`app`] assembles
//! the service from the [`config`]; [`cmd`] holds the command-line verbs.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod app;
pub mod cmd;
pub mod config;
pub mod job;
pub mod provider;
pub mod queue;
pub mod receiver;
pub mod rules;
pub mod shutdown;
pub mod source;
pub mod telemetry;
pub mod worker;
