//! purgehook: signed webhooks in, exact cache purges out.
//!
//! A webhook is verified by its [`source`], mapped by the [`rules`] to
//! purge [`job`]s, stored durably on the [`queue`], and executed by the
//! [`worker`], which merges each target's jobs and calls its [`provider`].
//! The shared vocabulary sits in leaf modules: the purge [`action`]s,
//! provider [`capability`]s, humane [`units`], [`secret`] references and
//! the [`template`] language. [`app`] assembles the service from the
//! [`config`]; [`cmd`] holds the command-line verbs. ARCHITECTURE.md draws
//! the picture.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod action;
pub mod app;
pub mod capability;
pub mod cmd;
pub mod config;
pub mod history;
pub mod job;
pub mod provider;
pub mod queue;
pub mod receiver;
pub mod rules;
pub mod secret;
pub mod shutdown;
pub mod source;
pub mod telemetry;
pub mod template;
pub mod units;
pub mod worker;
